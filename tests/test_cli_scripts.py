"""The end-to-end scripts in cli/ run as written.

``workflow.sh`` and ``plan_workflow.sh`` run for real on the bundled runs (their outputs go to a tmp folder; the
sweep in ``plan_workflow.sh`` works on a copy of the bundled grid, where every run is complete, so it trains
nothing). ``make_data.sh`` and ``closed_loop.sh`` train for minutes to an hour, so they run with ``SCALEFIT``
pointing at ``tests/shims/scalefit_help``, which checks every command line with ``--help`` (an unknown or
renamed option still fails) and logs each call. They run from a scratch copy of ``cli/`` so that their clean-up
steps (``find data/runs -name '*.ckpt' -delete``) never touch the repository's data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "tests" / "shims" / "scalefit_help"
GRID = ROOT / "data" / "runs" / "grid"


def _scalefit() -> str:
    """The scalefit executable of the Python running the tests (the venv's), else the one on PATH."""
    exe = Path(sys.executable).parent / "scalefit"
    if exe.exists():
        return str(exe)
    found = shutil.which("scalefit")
    if found is None:
        pytest.skip("no scalefit executable next to the test Python or on PATH")
    return found


def _run(script: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "160"}
    return subprocess.run(["bash", str(script)], env=full, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    both = proc.stdout + proc.stderr
    assert proc.returncode == 0, (f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
                                  f"--- stderr\n{proc.stderr[-3000:]}")
    assert "Traceback" not in both, both[-3000:]


def _nonempty(folder: Path, names: list[str]) -> None:
    missing = [n for n in names if not (folder / n).is_file() or (folder / n).stat().st_size == 0]
    assert not missing, f"missing or empty outputs: {missing}; found {sorted(p.name for p in folder.iterdir())}"


def test_workflow_sh(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run(ROOT / "cli" / "workflow.sh", {"OUT": str(out), "SCALEFIT": _scalefit()})
    _ok(proc)
    _nonempty(out, ["inspect.txt", "fit.txt", "fit_mpl.json", "fit_tissue.json", "fit_mpl.png", "fit_tissue.png",
                    "evaluate.txt", "predict.txt", "predict.csv", "predict.png", "optimize.txt", "schedule.csv",
                    "optimize.png", "predict_optimized.txt", "hparams.txt", "hp.json", "hp.png", "scaling.txt",
                    "sc.json", "sc.png", "plan.txt", "plan.json"])
    assert json.loads((out / "fit_mpl.json").read_text())["schema"].startswith("scalefit.fit/")
    assert "held-out" in (out / "evaluate.txt").read_text()
    # the five schedules, ranked, and the optimised schedule predicted from its file
    predict = (out / "predict.txt").read_text()
    assert all(s in predict for s in ("cosine", "linear", "constant", "wsd:decay=0.2,shape=1-sqrt"))
    assert "optimized" in (out / "optimize.txt").read_text()
    plan = json.loads((out / "plan.json").read_text())
    assert plan["flops"] == pytest.approx(1e12) and plan["params"] > 0 and plan["steps"] > 0


@pytest.mark.torch
def test_plan_workflow_sh(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # every grid run of cli/make_data.sh must be bundled and complete, or the sweep would train (minutes)
    expected = [f"d{bs * steps * 64}/{m}_cosine_lr{lr}_bs{bs}.csv"
                for bs, steps in ((8, 2000), (16, 1000), (32, 500), (8, 1000), (16, 500), (32, 250))
                for m in ("xs", "tiny") for lr in ("0.003", "0.01", "0.03", "0.1")]
    absent = [p for p in expected if not (GRID / p).is_file()]
    if absent:
        pytest.skip(f"bundled grid incomplete ({len(absent)} of {len(expected)} runs missing, e.g. {absent[0]})")
    before = {p: p.read_bytes() for p in GRID.glob("*/sweep.json")}

    out = tmp_path / "out"
    proc = _run(ROOT / "cli" / "plan_workflow.sh", {"OUT": str(out), "SCALEFIT": _scalefit()})
    _ok(proc)
    # six sweeps, each of 8 runs, all skipped: nothing trained
    heads = [line for line in (out / "sweep.txt").read_text().splitlines() if line.startswith("sweep: ")]
    assert len(heads) == 6, heads
    assert all("8 runs in" in h and "8 complete (skipped), 0 to resume, 0 new" in h for h in heads), heads
    assert sorted(p.relative_to(out / "grid").as_posix() for p in (out / "grid").glob("*/*.csv")) == sorted(expected)
    # the bundled data is untouched (the sweep worked on a copy)
    assert {p: p.read_bytes() for p in GRID.glob("*/sweep.json")} == before
    _nonempty(out, ["sweep.txt", "hparams.txt", "hp.json", "hp.png", "scaling.txt", "sc.json", "sc.png",
                    "fit_mpl.json", "plan.txt", "plan.json"])
    assert json.loads((out / "plan.json").read_text())["peak_lr"] > 0


def _shim_run(tmp_path: Path, script: str, extra_env: dict[str, str] | None = None) -> list[str]:
    """Run cli/<script> from a scratch copy of cli/ with the --help shim; return the shim's log lines."""
    scratch = tmp_path / "repo"
    shutil.copytree(ROOT / "cli", scratch / "cli")
    (scratch / "data" / "runs").mkdir(parents=True)
    log = tmp_path / "shim.log"
    env = {"SCALEFIT": str(SHIM), "SCALEFIT_REAL": _scalefit(), "SHIM_LOG": str(log), "OUT": str(tmp_path / "out"),
           **(extra_env or {})}
    proc = _run(scratch / "cli" / script, env)
    _ok(proc)
    lines = log.read_text().splitlines() if log.exists() else []
    failed = [line for line in lines if not line.startswith("ok: ")]
    assert not failed, "\n".join(failed)
    return [line[len("ok: "):] for line in lines]


def test_make_data_sh_options(tmp_path: Path) -> None:
    calls = _shim_run(tmp_path, "make_data.sh")
    # curves: 2 sweeps; grid: 6 sweeps (3 batch sizes x 2 token budgets); scaling: 2 sweeps
    assert len(calls) == 10 and all(c.startswith("sweep ") for c in calls), calls
    assert sum("--out-dir data/runs/grid/" in c for c in calls) == 6


def test_closed_loop_sh_options(tmp_path: Path) -> None:
    if not (ROOT / "cli" / "closed_loop.sh").exists():
        pytest.skip("cli/closed_loop.sh not present")
    calls = _shim_run(tmp_path, "closed_loop.sh", {"CLOSED_LOOP_DRY": "1"})
    commands = [c.split()[0] for c in calls]
    for command in ("fit", "predict", "optimize", "schedule", "train"):
        assert command in commands, (command, calls)
