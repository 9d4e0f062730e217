"""Logs as they come (issue 13, items 1-10, and 14.7 / 14.9): one small file per shape real logs have, and what the
reader must do with it. Every left-out row is counted in ``Run.left_out`` and said in a note, and ``inspect``
shows the same counts."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.errors import AssumptionWarning, RunFileError
from scalefit.readers import read_run, read_runs

runner = CliRunner()


def read(path: Path, **kw):
    """read_runs(path), returning (runs, warning texts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_runs([path], **kw)
    return runs, [str(w.message) for w in caught if issubclass(w.category, AssumptionWarning)]


def inspect_json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["inspect", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def hf_state(tmp_path: Path, history: list[dict], **state) -> Path:
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"log_history": history, **state}))
    return p


def hf_rows(n: int = 20, every: int = 10, warmup: int = 50, peak: float = 1e-3, total: int = 200) -> list[dict]:
    """Training rows as the HF Trainer logs them: linear warmup from 0 then linear decay, loss rounded."""
    rows = []
    for k in range(1, n + 1):
        s = k * every
        lr = peak * s / warmup if s < warmup else peak * (total - s) / (total - warmup)
        rows.append({"epoch": s / total, "grad_norm": 1.0, "learning_rate": lr, "loss": round(3.0 - 0.004 * s, 4),
                     "step": s})
    return rows


# ---- 1. rows after the last training row ---------------------------------------------------------------------
def test_final_eval_and_test_rows_after_the_last_lr_are_left_out_and_counted(tmp_path: Path) -> None:
    history = [*hf_rows(), {"eval_loss": 2.3, "step": 200}, {"eval_loss": 2.2, "step": 260, "epoch": 1.3},
               {"test_loss": 2.25, "step": 270}, {"train_runtime": 1.0, "train_loss": 2.6, "step": 200}]
    run, said = read(hf_state(tmp_path, history))
    run = run[0]
    assert run.left_out == {"summary entries": 1, "after the last logged LR": 2}
    assert run.steps[-1] == 200 and run.n_left_out == 3
    assert any("left out 2 rows after the last logged LR (step 200)" in n and "none with a target value" in n
               for n in run.notes), run.notes
    # the same rows hold the target when it is val_loss: still left out (their LR is unknown), and warned
    val, said = read(hf_state(tmp_path, history), target="val_loss")
    assert val[0].left_out["after the last logged LR"] == 2
    assert any("1 of them with a target value" in m for m in said), said
    facts = inspect_json(str(tmp_path / "trainer_state.json"))[0]
    assert facts["left_out"] == run.left_out


def test_lightning_test_rows_at_the_end_are_left_out(tmp_path: Path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,lr-AdamW,train_loss,val_loss,test_loss\n"
                 + "".join(f"0,{s},{1e-3 * (1 - s / 100)},{3 - s / 100},,\n" for s in range(0, 60, 5))
                 + "0,55,,,2.4,\n0,120,,,,2.5\n")
    run, _ = read(p)
    assert run[0].left_out == {"after the last logged LR": 1}
    np.testing.assert_array_equal(run[0].extra["val_loss"][-1], 2.4)


def test_only_the_target_without_usable_rows_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("step,lr,loss,val_loss\n0,1e-3,,3\n10,1e-3,,2.9\n")
    with pytest.raises(RunFileError, match=r"column 'loss' is empty on every row \(2 rows\).*--target val_loss"):
        read_run(p)


# ---- 2. entries without a step --------------------------------------------------------------------------------
def test_entries_without_a_step_are_left_out(tmp_path: Path) -> None:
    history = [*hf_rows(), {"predict_loss": 2.4, "predict_runtime": 1.0}, {"test_loss": 2.5}]
    run, said = read(hf_state(tmp_path, history))
    assert run[0].left_out == {"without a step": 2}
    assert any("left out 2 entries without a step (log_history[20], log_history[21])" in n for n in run[0].notes)


# ---- 3. eval-only rows at step 0 before any LR ------------------------------------------------------------------
def test_an_eval_at_step_0_before_any_lr_is_not_a_missing_lr(tmp_path: Path) -> None:
    history = [{"eval_loss": 10.4, "step": 0, "epoch": 0}, *hf_rows()]
    run, said = read(hf_state(tmp_path, history))
    r = run[0]  # fitting 'loss': the eval row holds neither the LR nor the target, so it is left out, counted
    assert r.step0 == 0 and r.left_out == {"neither LR nor target": 1} and r.steps[0] == 10
    assert r.lr[0] == 0.0  # the LR of step 0 is the warmup ramp's start, not a missing value
    assert not any("LR missing" in n for n in r.notes) and not said == []
    val, said = read(hf_state(tmp_path, history), target="val_loss")
    v = val[0]  # fitting 'val_loss': the eval row is a target row at step 0, inside the LR's history
    assert v.steps[0] == 0 and v.loss[0] == 10.4 and v.lr[0] == 0.0 and v.step0 == 0
    assert not any("LR missing" in m for m in said)


# ---- 4. logs that start at step 1 or later ----------------------------------------------------------------------
def test_a_dense_log_from_step_1_reads_and_fits(tmp_path: Path) -> None:
    p = tmp_path / "one.csv"
    s = np.arange(1, 301)
    loss = 2.0 + 1.5 * (s * 1e-3) ** -0.3 / 10
    rows = zip(s.tolist(), loss.tolist())
    p.write_text("step,lr,loss\n" + "".join(f"{a},{1e-3 * (1 - a / 400)!r},{b!r}\n" for a, b in rows))
    run = read_run(p)
    assert run.step0 == 0 and run.dense and run.n_steps == 301
    result = runner.invoke(app, ["fit", str(p), "--law", "tissue", "--no-law-error", "--starts", "8", "--json"])
    assert result.exit_code == 0, result.output


def test_a_log_that_starts_late_is_refused_by_the_fitter_with_advice_that_works(tmp_path: Path) -> None:
    p = tmp_path / "late.csv"
    s = np.arange(2000, 6001, 100)
    p.write_text("step,lr,loss\n" + "".join(f"{a},{3e-4 * (1 - a / 8000)!r},{2.5 + a ** -0.5!r}\n" for a in s.tolist()))
    run = read(p)[0][0]
    assert run.step0 == 2000 and run.warmup_from == "unknown"
    result = runner.invoke(app, ["fit", str(p), "--law", "tissue", "--no-law-error", "--starts", "4"])
    assert result.exit_code == 2 and "--warmup 2000" in result.stderr
    result = runner.invoke(app, ["fit", str(p), "--law", "tissue", "--no-law-error", "--starts", "4",
                                 "--warmup", "2000", "--json"])
    assert result.exit_code == 0, result.output


# ---- 5. warmup from a rising logged LR, from metadata; --warmup 0; contradictions -------------------------------
def test_a_sparse_rising_lr_implies_a_linear_warmup_from_0(tmp_path: Path) -> None:
    p = tmp_path / "warm.csv"
    s = np.arange(25, 2001, 25)
    lr = np.where(s < 500, 1e-3 * s / 500, 1e-3 * (2000 - s) / 1500 + 1e-5)
    rows = zip(s.tolist(), lr.tolist())
    p.write_text("step,lr,loss\n" + "".join(f"{a},{b!r},{3 - a / 2000:.5f}\n" for a, b in rows))
    run, said = read(p)
    r = run[0]
    assert r.step0 == 0 and r.warmup == 501 and r.warmup_from == "lr"
    np.testing.assert_allclose(r.lr[:26], 1e-3 * np.arange(26) / 500)  # the ramp from 0 meets the logged rows
    assert any("the logged LR rises from 5e-05 at step 25 (a warmup)" in m for m in said), said
    assert any("warmup 501 steps inferred from the LR" in n for n in r.notes)
    # --warmup 0: no warmup, not an error; it contradicts the LR, so a note names both values
    none, said = read(p, warmup=0)
    assert none[0].warmup == 0 and none[0].warmup_from == "option"
    assert any("--warmup 0 but the logged LR reaches its peak after 501 steps" in n for n in none[0].notes)


def test_warmup_from_metadata_and_a_contradicting_option_are_named(tmp_path: Path) -> None:
    p = tmp_path / "meta.csv"
    p.write_text("# warmup_steps: 100\nstep,lr,loss\n" + "".join(
        f"{s},{min(1.0, (s + 1) / 100) * 1e-3!r},{3 - s / 1000:.4f}\n" for s in range(0, 400, 10)))
    run, _ = read(p)
    assert run[0].warmup == 100 and run[0].warmup_from == "metadata"
    assert "warmup 100 steps from metadata warmup_steps" in run[0].notes
    other, _ = read(p, warmup=300)
    assert other[0].warmup == 300
    assert "--warmup 300 but the metadata says warmup_steps 100; --warmup wins" in other[0].notes


def test_hf_warmup_ratio_in_metadata_is_a_fraction_of_max_steps(tmp_path: Path) -> None:
    p = tmp_path / "ratio.csv"
    p.write_text("# warmup_ratio: 0.1\n# max_steps: 1000\nstep,lr,loss\n0,0,3\n100,1e-3,2.5\n500,5e-4,2.2\n")
    run, _ = read(p)
    assert run[0].warmup == 100 and run[0].warmup_from == "metadata"


# ---- 6. the fit window ------------------------------------------------------------------------------------------
def course_log(tmp_path: Path) -> Path:
    """A per-step log with no warmup: the loss starts at 10.4 and falls to 2.6 (a 100M GPT's first steps)."""
    s = np.arange(3000)
    loss = 2.5 + 7.9 * (1 + s / 3.0) ** -0.6 + np.random.default_rng(0).normal(0, 0.02, s.size)
    p = tmp_path / "course.csv"
    p.write_text("step,lr,loss\n" + "".join(f"{a},3e-4,{b:.5f}\n" for a, b in zip(s, loss)))
    return p


def test_a_default_window_leaves_out_an_obvious_initial_transient_and_says_so(tmp_path: Path) -> None:
    p = course_log(tmp_path)
    run, _ = read(p)
    r = run[0]
    lo, hi = r.window
    assert hi is None and 5 < lo < 50
    assert np.all(r.loss[r.steps < lo] > 5.0) and r.fit_mask.sum() == np.sum(r.steps >= lo)
    assert any(n.startswith(f"fit window starts at step {lo} by default") for n in r.notes)
    np.testing.assert_array_equal(r.lr, 3e-4)  # the LR history is whole
    full = read_run(p, min_step=0)
    assert full.window == (0, None) and full.fit_mask.all()
    facts = inspect_json(str(p))[0]
    assert facts["window"] == [lo, None] and facts["fitted_rows"] == int(r.fit_mask.sum())


def test_an_explicit_window_selects_rows_never_the_lr(tmp_path: Path) -> None:
    p = course_log(tmp_path)
    r = read_run(p, min_step=100, max_step=2000)
    assert r.window == (100, 2000) and r.n_steps == 3000
    assert r.in_window.sum() == 1901 and r.fit_mask.sum() == 1901
    assert "fit window: steps 100..2000 (1901 of 3000 observed rows)" in r.notes
    with pytest.raises(RunFileError, match=r"the fit window steps 5000\.\. holds no observed values"):
        read_run(p, min_step=5000)
    with pytest.raises(RunFileError, match="--min-step 10 is after --max-step 5"):
        read_run(p, min_step=10, max_step=5)
    result = runner.invoke(app, ["inspect", str(p), "--min-step", "-1"])
    assert result.exit_code == 2 and "--min-step is -1" in result.stderr


# ---- 7. several runs in one file --------------------------------------------------------------------------------
def test_a_run_column_makes_one_run_per_value_and_run_picks_some(tmp_path: Path) -> None:
    p = tmp_path / "sweep.csv"
    p.write_text("run,step,lr,loss\n" + "".join(f"{name},{s},1e-3,{3 + k - s / 100}\n"
                                                for k, name in enumerate(("small", "large")) for s in range(0, 50, 5)))
    runs, _ = read(p)
    assert [r.name for r in runs] == ["small", "large"]
    np.testing.assert_allclose(runs[1].loss[0], 4.0)
    assert "run" not in runs[0].extra and runs[0].meta["run_name"] == "small"
    picked, _ = read(p, runs=["large"])
    assert [r.name for r in picked] == ["large"]
    with pytest.raises(RunFileError, match=r"--run tiny: no run of that name .*\(their runs: large, small\)"):
        read(p, runs="tiny")
    assert [f["name"] for f in inspect_json(str(p), "--run", "small")] == ["small"]


def test_a_wandb_chart_export_picks_runs_by_name(tmp_path: Path) -> None:
    p = tmp_path / "chart.csv"
    p.write_text('"Step","a - loss","a - lr","b - loss","b - lr"\n0,3,1e-3,3.1,1e-3\n1,2.9,1e-3,3.0,1e-3\n')
    assert [r.name for r in read_runs([p], runs=["b"])] == ["b"]


# ---- 8. restarts from scratch appended to one file ----------------------------------------------------------------
def test_a_restart_from_scratch_is_read_as_a_second_run_not_a_resume(tmp_path: Path) -> None:
    s = np.arange(1, 301)
    curve = 2.5 + 5 * s ** -0.5
    p = tmp_path / "appended.csv"
    p.write_text("step,lr,loss\n" + "".join(f"{a},1e-3,{b:.5f}\n" for a, b in zip(s[:120], curve[:120]))
                 + "".join(f"{a},1e-3,{b + 0.01:.5f}\n" for a, b in zip(s, curve)))
    runs, _ = read(p)
    assert [r.name for r in runs] == ["appended#1", "appended#2"]
    assert runs[0].steps.size == 120 and runs[1].steps.size == 300
    assert any("the steps go back to the start at line 122 and the loss jumps back up" in n for n in runs[1].notes)


def test_a_resume_that_goes_back_a_little_is_still_the_resumed_error(tmp_path: Path) -> None:
    s = np.arange(0, 300)
    curve = 2.5 + 5 * (s + 1) ** -0.5
    p = tmp_path / "resumed.csv"
    p.write_text("step,lr,loss\n" + "".join(f"{a},1e-3,{b:.5f}\n" for a, b in zip(s[:200], curve[:200]))
                 + "".join(f"{a},1e-3,{b:.5f}\n" for a, b in zip(s[150:], curve[150:])))
    with pytest.raises(RunFileError, match=r"'step' goes 199 -> 150.*pass --resumed"):
        read_run(p)
    assert read(p, resumed=True)[0][0].steps.size == 300


# ---- 9. several epochs, HF's averaged and rounded loss ------------------------------------------------------------
def test_a_multi_epoch_fine_tune_with_drops_at_the_boundaries_is_warned(tmp_path: Path) -> None:
    rows = []
    for s in range(10, 310, 10):
        epoch = s / 100
        loss = 2.0 - 0.001 * s - 0.3 * int(epoch - 1e-9)  # drops by 0.3 as each epoch starts
        rows.append({"epoch": epoch, "learning_rate": 1e-4 * (1 - s / 400), "loss": round(loss, 4), "step": s})
    run, said = read(hf_state(tmp_path, rows))
    hit = [m for m in said if "spans 3 epochs" in m]
    assert hit and "the loss drops at epoch boundaries (0.3" in hit[0] and "--max-step 109" in hit[0]


def test_hf_loss_is_averaged_over_the_logging_interval_and_rounded(tmp_path: Path) -> None:
    run, said = read(hf_state(tmp_path, hf_rows()))
    assert any("mean training loss over each logging interval (10 steps), rounded to 4 decimals" in m for m in said)


def test_rounded_values_get_a_note(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("step,lr,loss\n" + "".join(f"{s},1e-3,{3 - s / 1234:.4f}\n" for s in range(0, 300, 10)))
    assert any("at most 4 decimals" in n for n in read(p)[0][0].notes)


# ---- 10. units and labels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("column, unit, label", [("loss", "unknown", "loss"), ("val/ppl", "perplexity", "val/ppl"),
                                                 ("bpb", "bits", "bpb (bits)"), ("dev_wer", "WER", "dev_wer")])
def test_the_target_unit_is_recorded_for_labels(tmp_path: Path, column: str, unit: str, label: str) -> None:
    p = tmp_path / "u.csv"
    p.write_text(f"step,lr,{column}\n0,1e-3,30\n10,1e-3,20\n")
    runs, said = read(p, target=column)
    assert runs[0].target_unit == unit and runs[0].target_label == label
    assert any("reads as a perplexity" in m for m in said) == (unit == "perplexity")


def test_a_stated_unit_and_scalefit_trainer_files_are_nats(tmp_path: Path) -> None:
    p = tmp_path / "n.csv"
    p.write_text("# loss_unit: nats\nstep,lr,loss\n0,1e-3,3\n1,1e-3,2.9\n")
    assert read_run(p).target_label == "loss (nats)"
    q = tmp_path / "t.csv"
    q.write_text("# scalefit_version: 0.1.0\nstep,lr,loss,val_loss\n0,1e-3,3,3.1\n1,1e-3,2.9,\n")
    assert read_run(q, target="val_loss").target_unit == "nats"
    assert inspect_json(str(q))[0]["target_unit"] == "nats"


# ---- 14.7: wrong numbers, silently --------------------------------------------------------------------------------
def test_an_exact_column_name_wins_over_a_case_folded_one(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("step,lr,LOSS,loss\n0,1e-3,9,3\n1,1e-3,8,2.9\n")
    run = read_run(p)
    np.testing.assert_array_equal(run.loss, [3, 2.9])
    np.testing.assert_array_equal(run.extra["LOSS"], [9, 8])


def test_a_last_line_cut_mid_number_is_left_out_and_a_complete_one_kept(tmp_path: Path) -> None:
    p = tmp_path / "cut.csv"
    p.write_bytes(b"step,lr,loss\n0,0.001,3.0512\n1,0.001,3.0411\n2,0.001,3.0")  # killed while writing 3.0317
    run, said = read(p)
    np.testing.assert_array_equal(run[0].steps, [0, 1])
    assert run[0].left_out == {"last line cut mid-write": 1}
    assert any("left out line 4, the last line: it has no newline at its end and its 'loss' cell '3.0' is shorter "
               "than the row above's '3.0411'" in m for m in said), said
    q = tmp_path / "whole.csv"
    q.write_bytes(b"step,lr,loss\n0,0.001,3.0512\n1,0.001,3.0411\n2,0.001,3.0317")
    assert read_run(q).steps.tolist() == [0, 1, 2]


# ---- 14.9: pipes ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_inspect_reads_a_fifo_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    text = "step,lr,loss\n0,1e-3,3\n1,1e-3,2.9\n2,1e-3,2.8\n"

    def feed() -> None:
        with open(fifo, "w") as fh:
            fh.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        facts = inspect_json(str(fifo))
    finally:
        writer.join(timeout=10)
    assert facts[0]["rows"] == 3 and facts[0]["loss_last"] == 2.8


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_of_endless_zeros_is_one_line_at_once() -> None:
    result = runner.invoke(app, ["inspect", "/dev/zero"])
    assert result.exit_code == 2 and "/dev/zero:1: binary data (a NUL byte at byte 0)" in result.stderr


def test_control_characters_in_names_are_shown_as_escapes(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("step,lr,loss,\x1b[31mred\n0,0.001,3,x\n1,0.001,2.9,y\n")
    result = runner.invoke(app, ["inspect", str(p)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\\x1b[31mred" in result.stdout
