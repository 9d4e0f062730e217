"""Text training logs (scalefit/readers/textlog.py): every line pattern on its example, small constructed logs of
each trainer, what is left out and said, and the --schedule read option for logs that print no LR."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from scalefit import schedules
from scalefit.errors import AssumptionWarning, RunFileError, ScheduleSpecError
from scalefit.readers import detect_format, read_run, read_runs, textlog
from scalefit.readers.source import Source

#: What each pattern's example line holds, read by hand from the line (keyed by the pattern's shape).
EXAMPLE_FIELDS = {
    "step N: train loss X, val loss Y": {"step": 200, "eval_train_loss": 6.6253, "val_loss": 6.6336},
    "iter N: loss X": {"step": 200, "loss": 6.6391},
    "s:N tel:X": {"step": 250, "val_loss": 6.1710},
    "s:N trl:X": {"step": 0, "loss": 11.0091, "lr": 1e-6, "grad_norm": 15.37},
    "step N/M | train loss X": {"step": 1, "loss": 11.009143, "lr": 1e-6, "grad_norm": 15.3716},
    "step:N/M": {"step": 125, "val_loss": 4.3930},
    "validate step: N loss: X": {"step": 5728, "val_loss": 3.3253},
    "step: N loss: X": {"step": 6922, "loss": 3.3222, "grad_norm": 0.9790},
    "validation loss at iteration N": {"step": 1000, "val_loss": 5.123456},
    "iteration N/M |": {"step": 4873, "loss": 3.296875, "lr": 1.5e-4, "grad_norm": 0.430},
    "epoch E: i / n loss=X, ... num_updates=N": {"step": 100, "loss": 9.563, "lr": 1.25e-5, "grad_norm": 2.1},
    "valid on S subset | loss X | ... num_updates N": {"step": 1234, "val_loss": 8.123},
}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def quiet_read(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssumptionWarning)
        return read_runs([path], **kw)


def curve(n: int, start: float = 10.0, final: float = 3.0, seed: int = 0) -> np.ndarray:
    """A falling loss with a fast start and a little noise, shape (n,)."""
    s = np.arange(n)
    rng = np.random.default_rng(seed)
    return final + (start - final) * (1 + s) ** -0.6 + 0.01 * rng.standard_normal(n)


# ---- the pattern table -----------------------------------------------------------------------------------------
def test_every_pattern_has_its_example_tested() -> None:
    shapes = [p.shape for p in textlog.PATTERNS if not p.stepless]
    assert sorted(shapes) == sorted(EXAMPLE_FIELDS)
    assert len(set(shapes)) == len(shapes)


@pytest.mark.parametrize("pattern", [p for p in textlog.PATTERNS if not p.stepless], ids=lambda p: p.shape)
def test_each_pattern_reads_its_example_line(tmp_path: Path, pattern: textlog.LinePattern) -> None:
    p = write(tmp_path, "one.log", "some banner line\n" + pattern.example + "\n")
    assert detect_format(p) == "text"
    table, used = textlog.parse(Source(p))
    assert used == (pattern,)
    assert table.line.tolist() == [2] and table.left_out == {"lines in no known format": 1}
    got = {c.name: float(c.values[0]) for c in table.columns}
    assert got == pytest.approx(EXAMPLE_FIELDS[pattern.shape], rel=1e-12)


@pytest.mark.parametrize("pattern", [p for p in textlog.PATTERNS if not p.stepless], ids=lambda p: p.shape)
def test_each_pattern_reads_its_line_behind_a_logger_prefix_and_colours(tmp_path: Path,
                                                                        pattern: textlog.LinePattern) -> None:
    line = "[titan] 2025-01-02 10:06:39,645 - root - INFO - \x1b[31m" + pattern.example.replace("  ", " \x1b[32m ")
    table, _ = textlog.parse(Source(write(tmp_path, "p.log", line + "\n")))
    got = {c.name: float(c.values[0]) for c in table.columns}
    assert got == pytest.approx(EXAMPLE_FIELDS[pattern.shape], rel=1e-12)


def test_the_byte_search_before_each_regex_never_skips_a_line_of_its_pattern() -> None:
    from scalefit.readers.textlog_patterns import literals

    for p in textlog.PATTERNS:
        lits = literals(p.regex)
        assert lits and all(lit in p.example.encode() for lit in lits), p.shape
    assert literals(r"x(?:y|z)w") == [b"x", b"w"] and literals("a|b") == [] and literals(r"ab?c") == [b"a", b"c"]
    assert literals(r"[a-z]+q\.r{2}s") == [b"q.", b"s"] and literals(r"s:(?P<step>\d+) tel:") == [b"s:", b" tel:"]


def test_optional_fields_are_read_in_any_order_and_only_where_printed(tmp_path: Path) -> None:
    p = write(tmp_path, "o.log", "s:0 trl:3.0 norm:1.5 lr:0.001\ns:1 trl:2.9 lr:0.002\ns:2 trl:2.8 xlr:0.5 lr:0.003\n")
    table, _ = textlog.parse(Source(p))
    cols = {c.name: c for c in table.columns}
    assert cols["lr"].values.tolist() == [0.001, 0.002, 0.003]
    assert cols["grad_norm"].empty.tolist() == [False, True, True] and cols["grad_norm"].values[0] == 1.5


def test_a_word_that_continues_into_a_pattern_is_not_read(tmp_path: Path) -> None:
    p = write(tmp_path, "x.log", "subiter 5: loss 3.2\nxs:0 trl:3.1\niter 5: loss 3.2\n")
    table, _ = textlog.parse(Source(p))
    assert table.line.tolist() == [3] and table.left_out["lines in no known format"] == 2


# ---- each trainer, as a small log ----------------------------------------------------------------------------
def nanogpt_log(n: int = 60, eval_every: int = 20, traceback: bool = True) -> str:
    loss = curve(n)
    out = []
    for s in range(n):
        if s % eval_every == 0:
            out.append(f"step {s}: train loss {loss[s] + 0.01:.4f}, val loss {loss[s] + 0.02:.4f}")
            if s:
                out.append("saving checkpoint to out")
        out.append(f"iter {s}: loss {loss[s]:.4f}, time 310.23ms, mfu 108.42%")
    if traceback:
        out += ["Traceback (most recent call last):", '  File "train.py", line 302, in <module>',
                "    scaler.scale(loss).backward()", "KeyboardInterrupt",
                "[rank0]: Traceback (most recent call last):", '[rank0]:   File "train.py", line 302, in <module>',
                "[rank0]: KeyboardInterrupt"]
    return "\n".join(out) + "\n"


def test_nanogpt_log_merges_eval_lines_counts_what_it_leaves_out_and_names_the_traceback(tmp_path: Path) -> None:
    p = write(tmp_path, "output.log", nanogpt_log())
    assert detect_format(p) == "text"
    with pytest.warns(AssumptionWarning, match=r"ends with a Python traceback \(KeyboardInterrupt"):
        run = read_run(p, schedule="cosine:peak=6e-4,warmup=10,total=600000,final=6e-5")
    loss = curve(60)
    np.testing.assert_array_equal(run.steps, np.arange(60))
    np.testing.assert_allclose(run.loss, np.round(loss, 4))
    val = run.extra["val_loss"]
    assert np.flatnonzero(np.isfinite(val)).tolist() == [0, 20, 40]
    np.testing.assert_allclose(val[[0, 20, 40]], np.round(loss[[0, 20, 40]] + 0.02, 4))
    assert run.left_out == {"traceback": 7, "lines in no known format": 2}
    assert run.fmt == "text" and run.warmup == 10 and run.step0 == 0
    np.testing.assert_allclose(run.lr, schedules.from_spec("cosine:peak=6e-4,warmup=10,total=600000,final=6e-5")[:60])
    notes = " ".join(run.notes)
    assert "read as a text log of nanoGPT: 3 'step N: train loss X, val loss Y', 60 'iter N: loss X' lines" in notes
    assert "left out 2 lines in no known format (lines 23, 45; line 23: 'saving checkpoint to out')" in notes
    assert "lines 66..72; 7 lines left out" in notes
    assert quiet_read(p, target="val_loss", schedule="constant:peak=6e-4")[0].observed.sum() == 3


def test_a_log_without_lr_is_one_line_asking_for_the_schedule(tmp_path: Path) -> None:
    p = write(tmp_path, "output.log", nanogpt_log(traceback=False))
    with pytest.raises(RunFileError, match=r"this nanoGPT log prints no learning rate.*--schedule cosine:peak=6e-4,"
                                           r"warmup=2000,total=600000,final=6e-5, the defaults of nanoGPT.*"
                                           r"--schedule-file") as info:
        read_runs([p])
    assert info.value.line == 1 and info.value.path == str(p)
    sched = write(tmp_path, "lr.csv", "step,lr\n" + "".join(f"{s},0.001\n" for s in range(60)))
    assert quiet_read(p, schedule_file=sched)[0].lr.tolist() == [0.001] * 60


def test_llmc_log_with_lr_is_dense_and_its_warmup_comes_from_the_lr(tmp_path: Path) -> None:
    n, w = 80, 7
    lr = np.round(np.minimum(np.arange(1, n + 1) / w, 1.0) * 6e-4, 6)
    loss = curve(n)
    lines = []
    for s in range(n):
        if s % 25 == 0:
            lines.append(f"s:{s} tel:{loss[s] + 0.02:.4f}")
        lines.append(f"s:{s} trl:{loss[s]:.4f} lr:{lr[s]:.6f} norm:1.23")
    lines.append(f"s:{n} tel:{loss[-1]:.4f}")  # llm.c's last validation, after the last step
    p = write(tmp_path, "main.log", "\n".join(lines) + "\n")
    run = quiet_read(p)[0]
    assert run.dense and run.step0 == 0 and run.warmup == w and run.warmup_from == "lr"
    np.testing.assert_allclose(run.lr, lr)
    np.testing.assert_allclose(run.extra["grad_norm"], 1.23)
    assert run.left_out == {"after the last logged LR": 1}
    assert any("LR is printed with 6 decimals, in steps of 1e-06 (0.17% of its peak 0.0006)" in n for n in run.notes)
    val = quiet_read(p, target="val_loss")[0]
    assert val.observed.sum() == 5 and val.steps[-1] == n  # the last validation kept, its LR extrapolated


def test_modded_nanogpt_timing_lines_are_counted_not_read(tmp_path: Path) -> None:
    body = ["step:0/40 val_loss:10.8258 train_time:0ms step_avg:nanms"]
    body += [f"step:{s}/40 train_loss:{5 - s * 0.05:.4f} train_time:{s * 120}ms step_avg:120.0ms" for s in range(1, 21)]
    body += [f"step:{s}/40 train_time:{s * 120}ms step_avg:120.0ms" for s in range(21, 41)]
    code = ['print0(f"step:{step}/{args.num_iterations} val_loss:{val_loss:.4f}")', "=" * 20]
    p = write(tmp_path, "run.txt", "\n".join(code + body) + "\n")
    table, _ = textlog.parse(Source(p))
    assert table.left_out == {"lines in no known format": 2, "lines without a value": 20}
    assert any("left out 20 lines of the trainer's format that log no loss or LR (lines 24, 25, 26, 27, 28, ...;"
               in n for n in table.notes)
    run = quiet_read(p, schedule="constant:peak=0.0036")[0]
    assert run.steps.tolist() == list(range(21)) and np.isnan(run.loss[0]) and run.extra["val_loss"][0] == 10.8258


def test_torchtitan_megatron_and_fairseq_logs(tmp_path: Path) -> None:
    titan = "".join(f"[titan] 2025-01-01 - root - INFO - \x1b[31mstep: {s:2}  \x1b[32mloss: {5 - s / 10:7.4f}  "
                    f"lr: {1e-4 * (s + 1):.3e}  grad_norm:  0.97\x1b[39m\n" for s in range(1, 11))
    run = quiet_read(write(tmp_path, "titan.log", titan))[0]
    assert run.steps.tolist() == list(range(1, 11)) and run.lr[-1] == pytest.approx(1.1e-3)
    assert run.loss[0] == pytest.approx(4.9)

    mega = "".join(f" iteration {s:8d}/    1000 | consumed samples: {s * 64:12d} | learning rate: {3e-4:.3E} | "
                   f"global batch size:    64 | lm loss: {6 - s / 100:.6E} | grad norm: 0.5 |\n" for s in range(1, 31))
    mega += " validation loss at iteration 30 | lm loss value: 5.800000E+00 | lm loss PPL: 330.3 |\n"
    run = quiet_read(write(tmp_path, "megatron.log", mega))[0]
    assert run.steps[-1] == 30 and run.extra["val_loss"][-1] == 5.8 and np.all(run.lr == 3e-4)

    fair = "".join(f"2021-01-01 | INFO | train_inner | epoch 001:    {s} / 99 loss={9 - s / 10:.3f}, nll_loss=9, "
                   f"ppl=500, wps=1000, num_updates={s}, lr={5e-4:g}, gnorm=1.2, train_wall=3\n" for s in range(1, 21))
    run = quiet_read(write(tmp_path, "fairseq.log", fair))[0]
    assert run.target_unit == "bits" and any("bits" in n for n in run.notes)
    assert run.steps.tolist() == list(range(1, 21))


def test_hf_printed_dicts_are_refused_with_the_file_that_has_the_steps(tmp_path: Path) -> None:
    text = "".join(f"{{'loss': {2.5 - k / 10}, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': {k / 10}}}\n"
                   for k in range(5))
    p = write(tmp_path, "console.txt", text)
    assert detect_format(p) == "text"
    with pytest.raises(RunFileError, match=r"carry no step.*checkpoint-N/trainer_state\.json") as info:
        read_runs([p])
    assert info.value.line == 1


def test_unmatched_lines_that_look_like_a_loss_warn(tmp_path: Path) -> None:
    text = "".join(f"iter {s}: loss {3 - s / 100:.4f}, lr {1e-3}\n" for s in range(20)) + "epoch 3 | train loss 2.75\n"
    p = write(tmp_path, "x.log", text)
    with pytest.warns(AssumptionWarning, match=r"1 of them look like a logged loss \(line 21: 'epoch 3 \| train loss"):
        run = read_run(p)
    assert run.left_out == {"lines in no known format": 1} and run.lr[0] == 1e-3


def test_line_ends_and_text_problems(tmp_path: Path) -> None:
    crlf = "".join(f"iter {s}: loss {3 - s / 100:.4f}, lr 0.001\r\n" for s in range(5)).encode()
    assert quiet_read(write(tmp_path, "crlf.log", crlf))[0].steps.tolist() == list(range(5))
    bars = b"  5%|5   | 1/20\r 10%|#   | 2/20\riter 0: loss 3.0, lr 0.001\niter 1: loss 2.9, lr 0.001\n"
    run = quiet_read(write(tmp_path, "bars.log", bars))[0]
    assert run.left_out == {"lines in no known format": 2} and run.line.tolist() == [3, 4]
    bad = write(tmp_path, "nan.log", "iter 0: loss 3.0, lr 0.001\niter 1: loss nan, lr 0.001\n")
    with pytest.raises(RunFileError, match=r"nan\.log:2: field 'loss' is nan; losses must be finite"):
        read_runs([bad])
    back = write(tmp_path, "back.log", "iter 0: loss 3.0, lr 0.001\niter 5: loss 2.9, lr 0.001\n"
                                       "iter 3: loss 2.95, lr 0.001\n")
    with pytest.raises(RunFileError, match=r"back\.log:3: 'step' goes 5 -> 3.*--resumed"):
        read_runs([back])


def test_restarted_runs_appended_to_one_text_log_are_told_apart(tmp_path: Path) -> None:
    one = "".join(f"iter {s}: loss {c:.4f}, lr 0.001\n" for s, c in enumerate(curve(30)))
    two = "".join(f"iter {s}: loss {c:.4f}, lr 0.001\n" for s, c in enumerate(curve(30, seed=1)))
    runs = quiet_read(write(tmp_path, "two.log", one + two))
    assert [r.name for r in runs] == ["two#1", "two#2"] and [r.line[0] for r in runs] == [1, 31]


def test_other_text_is_not_taken_for_a_text_log(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, "a.csv", "step,lr,loss\n0,0.001,3\n")) == "csv"
    assert detect_format(write(tmp_path, "b.txt", "hello world\nnothing here\n")) == "csv"
    p = write(tmp_path, "c.log", "hello world\nnothing here\n")
    with pytest.raises(RunFileError, match=r"no line of this text log is in a format scalefit reads \(nanoGPT, "
                                           r"llm\.c, .*Convert it"):
        read_runs([p], fmt="text")


# ---- --schedule --------------------------------------------------------------------------------------------------
def no_lr_log(tmp_path: Path, n: int = 50) -> Path:
    return write(tmp_path, "run.log", "".join(f"s:{s} trl:{c:.4f}\n" for s, c in enumerate(curve(n))))


def test_schedule_spec_gives_every_steps_lr_with_total_the_last_step_plus_one(tmp_path: Path) -> None:
    p = no_lr_log(tmp_path)
    run = quiet_read(p, schedule="cosine:peak=1e-3,warmup=10")[0]
    np.testing.assert_array_equal(run.lr, schedules.from_spec("cosine:peak=1e-3,warmup=10,total=50"))
    assert run.warmup == 10 and run.step0 == 0 and run.dense
    assert any("from --schedule cosine:peak=1e-3,warmup=10 (steps 0..49); the run file logs no LR" in n
               for n in run.notes)
    longer = quiet_read(p, schedule="cosine:peak=1e-3,total=1000")[0]
    np.testing.assert_array_equal(longer.lr, schedules.from_spec("cosine:peak=1e-3,total=1000")[:50])


def test_schedule_spec_errors(tmp_path: Path) -> None:
    p = no_lr_log(tmp_path)
    with pytest.raises(RunFileError, match=r"step 20 is past the end of --schedule constant:peak=1e-3,total=20"):
        read_runs([p], schedule="constant:peak=1e-3,total=20")
    with pytest.raises(ScheduleSpecError, match=r"--schedule cosine:warmup=5 gives no peak LR.*cosine:peak=6e-4,"
                                                r"warmup=5"):
        read_runs([p], schedule="cosine:warmup=5")
    with pytest.raises(ScheduleSpecError, match=r"--schedule: unknown schedule 'cosin'"):
        read_runs([p], schedule="cosin:peak=1")
    with pytest.raises(ScheduleSpecError, match="either --schedule or --schedule-file"):
        read_runs([p], schedule="constant:peak=1e-3", schedule_file=p)
    logged = write(tmp_path, "lr.log", "".join(f"iter {s}: loss 3.0, lr 0.001\n" for s in range(5)))
    with pytest.raises(RunFileError, match=r"field 'lr' is 0.001 but --schedule constant:peak=0.002 gives 0.002"):
        read_runs([logged], schedule="constant:peak=0.002")
    assert quiet_read(logged, schedule="constant:peak=0.001")[0].lr.tolist() == [0.001] * 5


def test_schedule_spec_applies_to_csv_logs_without_lr_too(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "step,loss\n" + "".join(f"{s},{3 - s / 100}\n" for s in range(10)))
    with pytest.raises(RunFileError, match=r"missing column 'lr'.*--schedule SPEC"):
        read_runs([p])
    assert quiet_read(p, schedule="linear:peak=1e-3")[0].lr[-1] == 0.0
