"""The training loop: a valid run file, determinism, kill -9 safety, resume = uninterrupted, user errors.

Tiny preset, short sequences, ~20 steps: each test takes a few seconds on a laptop CPU.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from scalefit.cli import app  # noqa: E402
from scalefit.readers import read_run  # noqa: E402
from scalefit.train.trainer import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.torch
runner = CliRunner()
SMALL = dict(model="tiny", batch_size=8, seq_len=32, eval_every=5, eval_batches=2, progress="none",
             data="synthetic:vocab=32,order=2,zipf=2", lr=1e-2, warmup=3,
             threads=1)  # one thread: a shared CPU makes torch's spinning thread pool very slow


def _cfg(tmp_path: Path, name: str = "run.csv", **kw) -> TrainConfig:
    return TrainConfig(out=str(tmp_path / name), **{**SMALL, "steps": 20, **kw})


def test_twenty_steps_write_a_valid_run_file_and_the_loss_drops(tmp_path):
    r = train(_cfg(tmp_path, schedule="cosine"))
    run = read_run(r.out)
    assert run.steps.tolist() == list(range(20))
    assert run.meta["params"] == 98624 and run.meta["batch_size"] == 8 and run.meta["seq_len"] == 32
    assert run.meta["tokens_per_step"] == 256 and run.meta["peak_lr"] == pytest.approx(1e-2)
    assert run.meta["warmup_steps"] == 3 and run.meta["model"] == "tiny"
    assert run.meta["schedule"] == "cosine:peak=0.01,total=20,warmup=3"
    assert run.lr[2] == pytest.approx(1e-2) and run.lr[-1] == 0.0
    val = run.extra["val_loss"]
    assert np.flatnonzero(np.isfinite(val)).tolist() == [0, 5, 10, 15, 19]
    assert run.extra["tokens"][-1] == 20 * 256
    assert run.loss[-5:].mean() < run.loss[:3].mean() - 0.1
    assert run.meta["irreducible_loss"] < run.loss.min()


def test_same_seed_gives_a_byte_identical_file(tmp_path):
    a = Path(train(_cfg(tmp_path, "a.csv")).out).read_bytes()
    b = Path(train(_cfg(tmp_path, "b.csv")).out).read_bytes()
    c = Path(train(_cfg(tmp_path, "c.csv", seed=1)).out).read_bytes()
    assert a == b
    assert a != c


def test_resume_equals_an_uninterrupted_run(tmp_path):
    full = Path(train(_cfg(tmp_path, "full.csv")).out).read_bytes()
    cfg = _cfg(tmp_path, "part.csv", ckpt_every=4)
    first = train(cfg, stop_after=9)
    assert first.last_step == 9
    with open(cfg.out, "ab") as fh:  # a partial row, as a kill mid-write would leave
        fh.write(b"10,0.01,3.9")
    r = train(replace(cfg, resume=True))
    assert r.resumed_from == 9 and r.steps_done == 10
    assert Path(cfg.out).read_bytes() == full
    again = train(replace(cfg, resume=True))
    assert again.skipped


def test_resume_rolls_back_rows_after_the_checkpoint(tmp_path):
    full = Path(train(_cfg(tmp_path, "full.csv")).out).read_bytes()
    cfg = _cfg(tmp_path, "part.csv", ckpt_every=4)
    train(cfg, stop_after=9)  # checkpoint at step 9 (stop), rows 0..9
    ck = torch.load(cfg.checkpoint_path, weights_only=True)
    assert ck["step"] == 9
    # rewind: pretend the checkpoint is from step 7 while the file has rows up to 9
    train(replace(cfg, out=str(tmp_path / "p7.csv"), checkpoint=str(tmp_path / "p7.ckpt")), stop_after=7)
    os.replace(tmp_path / "p7.ckpt", cfg.checkpoint_path)
    train(replace(cfg, resume=True))
    assert Path(cfg.out).read_bytes() == full


def test_resume_with_other_options_is_refused(tmp_path):
    from scalefit.errors import ScalefitError

    cfg = _cfg(tmp_path)
    train(cfg, stop_after=4)
    with pytest.raises(ScalefitError, match="batch_size=8, this run has batch_size=4"):
        train(replace(cfg, resume=True, batch_size=4))
    with pytest.raises(ScalefitError, match="learning rates of the steps already done differ"):
        train(replace(cfg, resume=True, lr=3e-3))


def test_gradient_accumulation_runs_and_logs_the_full_batch(tmp_path):
    """Micro-batches are drawn separately (seeded by (seed, step, micro)), so only the bookkeeping is checked."""
    run = read_run(train(_cfg(tmp_path, grad_accum=2, steps=5)).out)
    assert run.meta["batch_size"] == 8 and run.meta["grad_accum"] == 2 and run.steps.size == 5


def test_sigkill_leaves_a_readable_file_and_resume_completes_it(tmp_path):
    out = tmp_path / "killed.csv"
    args = ["--model", "tiny", "--steps", "120", "--batch-size", "16", "--seq-len", "64", "--lr", "1e-2",
            "--warmup", "3", "--schedule", "cosine", "--data", "synthetic:vocab=32,order=2,zipf=2",
            "--eval-every", "5", "--ckpt-every", "4", "--progress", "none", "--device", "cpu", "--threads", "1",
            "--out"]
    code = "from scalefit.cli import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "train", *args, str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_text().count("\n") > 25 + 8:  # metadata + header + 8 rows
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_rows = read_run(out).steps  # every complete row, nothing half-written
    assert killed_rows.tolist() == list(range(killed_rows.size)) and killed_rows.size >= 8
    if "inspect" in _commands():
        r = runner.invoke(app, ["inspect", str(out)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", *args, str(out), "--resume"])
    assert r.exit_code == 0, r.output
    run = read_run(out)
    assert run.steps.tolist() == list(range(120))  # no gap, no duplicate
    # the rows written before the kill are unchanged by the resume (rows after the checkpoint are rewritten
    # with identical values: the resumed run is deterministic)
    assert np.array_equal(run.loss[: killed_rows.size], read_run(out).loss[: killed_rows.size])


def _commands() -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "huge"], "--model 'huge' is not a preset. Choose one of: "),
        (["--schedule", "bogus"], "unknown schedule 'bogus'"),
        (["--batch-size", "6", "--grad-accum", "4"], "not divisible by --grad-accum"),
        (["--data", "no_such_file.txt"], "no_such_file.txt"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, args, message):
    from scalefit.train.model import PRESETS

    r = runner.invoke(app, ["train", "--steps", "3", "--threads", "1", "--out", str(tmp_path / "x.csv"), *args])
    assert r.exit_code == 2
    assert message in r.stderr
    if args[0] == "--model":
        assert ", ".join(PRESETS) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_cli_train_and_sweep_skip_complete_runs(tmp_path):
    common = ["--steps", "6", "--seq-len", "16", "--threads", "1", "--data", "synthetic:vocab=16,order=2",
              "--eval-every", "3", "--eval-batches", "3"]
    r = runner.invoke(app, ["sweep", "--models", "tiny", "--lrs", "1e-3,1e-2", "--batch-sizes", "4",
                            "--schedules", "cosine;wsd:decay=0.5", *common, "--out-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert files == ["tiny_cosine_lr0.001_bs4_steps6.csv", "tiny_cosine_lr0.01_bs4_steps6.csv",
                     "tiny_wsd-decay0.5_lr0.001_bs4_steps6.csv", "tiny_wsd-decay0.5_lr0.01_bs4_steps6.csv"]
    assert read_run(tmp_path / files[0]).meta["peak_lr"] == pytest.approx(1e-3)
    assert read_run(tmp_path / files[0]).meta["eval_batches"] == 3
    again = runner.invoke(app, ["sweep", "--models", "tiny", "--lrs", "1e-3,1e-2", "--batch-sizes", "4",
                                "--schedules", "cosine;wsd:decay=0.5", *common, "--out-dir", str(tmp_path)])
    assert again.exit_code == 0
    assert "4 complete (skipped)" in again.output and "skip tiny_cosine_lr0.001_bs4_steps6.csv" in again.output
    bad = runner.invoke(app, ["sweep", "--models", "tiny,huge", *common, "--out-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "'huge' is not a preset" in bad.stderr
    # the seed is in the file name, so another seed is another file; a context length is not: same name
    other = runner.invoke(app, ["sweep", "--models", "tiny", "--lrs", "1e-3", "--batch-sizes", "4",
                                "--schedules", "cosine", *common, "--seq-len", "8", "--out-dir", str(tmp_path)])
    assert other.exit_code == 2 and "Traceback" not in other.output
    assert ("tiny_cosine_lr0.001_bs4_steps6.csv: the file holds another run, made with seq_len=16 (this run: 8)"
            in other.stderr)


def test_cli_train_reports_complete_file_on_resume(tmp_path):
    args = ["train", "--steps", "4", "--seq-len", "16", "--threads", "1", "--data", "synthetic:vocab=16,order=2",
            "--out", str(tmp_path / "a.csv")]
    assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, [*args, "--resume"])
    assert r.exit_code == 0 and "nothing" in r.output


def test_sweep_process_pool_matches_in_process_runs(tmp_path):
    """--jobs 2 (spawned workers) writes the same files as running the grid in this process."""
    from scalefit.train.sweep import grid, run_sweep

    common = dict(steps=4, seq_len=16, data="synthetic:vocab=16,order=2", eval_every=2, threads=1)
    pooled = run_sweep(grid(["tiny"], [1e-3, 1e-2], [4], ["cosine"], tmp_path / "pool", **common), jobs=2)
    serial = run_sweep(grid(["tiny"], [1e-3, 1e-2], [4], ["cosine"], tmp_path / "one", **common), jobs=1)
    assert [r.status for r in pooled] == ["done", "done"] == [r.status for r in serial]
    for a, b in zip(pooled, serial):
        assert Path(a.out).read_bytes() == Path(b.out).read_bytes()


def test_resume_without_the_run_file_restarts_with_a_warning(tmp_path):
    from scalefit.errors import AssumptionWarning

    cfg = _cfg(tmp_path, steps=6)
    train(cfg, stop_after=2)
    Path(cfg.out).unlink()
    with pytest.warns(AssumptionWarning, match="does not exist; ignoring the checkpoint"):
        r = train(replace(cfg, resume=True))
    assert r.resumed_from is None and read_run(cfg.out).steps.tolist() == list(range(6))


def test_sweep_bad_spec_and_missing_submitit_are_one_line_errors(tmp_path, monkeypatch):
    base = ["sweep", "--steps", "2", "--seq-len", "16", "--threads", "1", "--out-dir", str(tmp_path)]
    r = runner.invoke(app, [*base, "--schedules", "cosine;wsd:decay=2"])
    assert r.exit_code == 2 and "decay" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "submitit", None)  # hidden even if installed
    r = runner.invoke(app, [*base, "--executor", "slurm"])
    assert r.exit_code == 2
    assert "pip install 'scalefit-lm[slurm]'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_plain_progress_lines_go_to_stderr(tmp_path, capsys):
    train(_cfg(tmp_path, progress="plain", steps=20))
    err = capsys.readouterr().err
    assert "run step 20/20  loss " in err and " lr " in err and "tok/s" in err and "val " in err


@pytest.mark.torch
def test_a_schedule_longer_than_the_run_is_announced(tmp_path) -> None:
    """Training only the start of a longer schedule file is allowed, but never silently."""
    from typer.testing import CliRunner

    from scalefit import schedules
    from scalefit.cli import app

    lr_file = tmp_path / "lr.csv"
    schedules.to_csv(lr_file, schedules.cosine(1e-3, 100, warmup=10))
    out = CliRunner().invoke(app, ["train", "--model", "tiny", "--schedule-file", str(lr_file), "--steps", "5",
                                   "--seq-len", "16", "--batch-size", "2", "--eval-every", "0", "--data",
                                   "synthetic", "--progress", "none", "--out", str(tmp_path / "r.csv")])
    assert out.exit_code == 0, out.output
    assert "has 100 steps; training only its first 5" in out.stderr


def test_sweep_summary_keeps_earlier_sweeps_into_the_same_folder(tmp_path) -> None:
    import json

    from scalefit.train.sweep import SweepRun, write_summary

    def run(name: str, status: str, seconds: float | None) -> SweepRun:
        return SweepRun(name=name, out=str(tmp_path / f"{name}.csv"), model="tiny", lr=1e-3, batch_size=4,
                        schedule="cosine", status=status, final_loss=4.0 if seconds else None, seconds=seconds)

    path = tmp_path / "sweep.json"
    write_summary(path, [run("a", "done", 12.0), run("b", "done", 7.0)])
    write_summary(path, [run("c", "done", 3.0)])  # a second sweep into the folder
    write_summary(path, [run("a", "skipped", None), run("b", "resumed", 2.0)])  # a re-run
    got = {r["name"]: r for r in json.loads(path.read_text())["runs"]}
    assert sorted(got) == ["a", "b", "c"]
    assert got["a"]["status"] == "done" and got["a"]["seconds"] == 12.0  # "skipped" keeps the earlier record
    assert got["b"]["status"] == "resumed" and got["b"]["seconds"] == 2.0
    assert got["c"]["seconds"] == 3.0


def test_bf16_autocast_path_runs_on_the_cpu(tmp_path) -> None:
    """The autocast branch CUDA uses (here on the CPU's bf16 autocast): a valid file, the dtype recorded, and the
    loss within bf16 rounding of the float32 run's."""
    bf = read_run(train(_cfg(tmp_path, "bf16.csv", dtype="bfloat16", device="cpu")).out)
    fp = read_run(train(_cfg(tmp_path, "fp32.csv", device="cpu")).out)
    assert bf.meta["dtype"] == "bfloat16" and fp.meta["dtype"] == "float32"
    assert np.all(np.isfinite(bf.loss)) and bf.loss[-5:].mean() < bf.loss[:3].mean() - 0.1
    np.testing.assert_allclose(bf.loss, fp.loss, rtol=0.05)


def _without_compile_line(path: str) -> str:
    lines = Path(path).read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("# compile:"))


@pytest.mark.parametrize("where", ["at compile time", "at the first call"])
def test_a_failing_torch_compile_falls_back_to_eager_mode_and_says_so(tmp_path, monkeypatch, where) -> None:
    """--compile must never cost the run: torch.compile failing (no C++ compiler, an unsupported op) either when
    called or lazily at the model's first call gives a warning and the eager run's file, byte for byte."""
    from scalefit.errors import AssumptionWarning

    class LazyFailure:
        def __init__(self, model):
            self.model = model

        def __getattr__(self, name):  # .train(), .eval() reach the module, as torch's OptimizedModule does
            return getattr(self.model, name)

        def __call__(self, *args, **kwargs):
            raise RuntimeError("inductor: no working C++ compiler")

    def failing_compile(model, *args, **kwargs):
        if where == "at compile time":
            raise RuntimeError("dynamo is not supported on this Python")
        return LazyFailure(model)

    eager = train(_cfg(tmp_path, "eager.csv", device="cpu")).out
    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.warns(AssumptionWarning, match="torch.compile failed .*training without it"):
        compiled = train(_cfg(tmp_path, "compiled.csv", device="cpu", compile=True)).out
    assert read_run(compiled).meta["compile"] == 1  # the request is recorded; the warning says what ran
    assert _without_compile_line(compiled) == Path(eager).read_text()


def test_a_compiled_model_failing_after_its_first_calls_is_an_error_not_a_silent_fallback(tmp_path, monkeypatch):
    """Only a mode's first call may fall back (that is where compilation happens); a failure later, such as running
    out of memory at step 10, is the run's error."""
    class FailsLater:
        def __init__(self, model):
            self.model, self.calls = model, 0

        def __getattr__(self, name):
            return getattr(self.model, name)

        def __call__(self, *args, **kwargs):
            self.calls += 1
            if self.calls > 12:
                raise RuntimeError("CUDA out of memory (simulated)")
            return self.model(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda model, *a, **k: FailsLater(model))
    with pytest.raises(RuntimeError, match="out of memory"):
        train(_cfg(tmp_path, "late.csv", device="cpu", compile=True))


def test_a_complete_file_of_another_run_is_not_skipped_as_done(tmp_path) -> None:
    """--resume (and so every resumed sweep) skips complete files; without a checkpoint to compare, the file's
    metadata and logged LRs must still be this run's, or it is an error, never a silent skip."""
    from scalefit.errors import ScalefitError

    cfg = _cfg(tmp_path, "r.csv", device="cpu")
    train(cfg)
    cfg.checkpoint_path.unlink()  # as cli/make_data.sh leaves the bundled runs
    assert train(replace(cfg, resume=True)).skipped
    with pytest.raises(ScalefitError, match=r"cannot skip: the file is complete but was made with seed=0 "
                                            r"\(this run: 1\)"):
        train(_cfg(tmp_path, "r.csv", device="cpu", resume=True, seed=1))
    with pytest.raises(ScalefitError, match=r"made with lr .* at step \d+ \(this run: "):
        train(_cfg(tmp_path, "r.csv", device="cpu", resume=True, schedule="wsd:decay=0.5"))
    # the same schedule written another way is the same run
    assert train(_cfg(tmp_path, "r.csv", device="cpu", resume=True, schedule="cosine:final=0")).skipped
    # a file without metadata (logged by another tool) is compared by its learning rates alone
    bare = tmp_path / "bare.csv"
    bare.write_text("step,lr,loss\n" + "".join(f"{s},0.5,3.0\n" for s in range(20)))
    with pytest.raises(ScalefitError, match=r"made with lr 0\.5 at step 0"):
        train(_cfg(tmp_path, "bare.csv", device="cpu", resume=True))
