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


def _run(script: Path, env: dict[str, str], timeout: float = 300,
         args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "160"}
    return subprocess.run(["bash", str(script), *(args or [])], env=full, capture_output=True, text=True,
                          timeout=timeout, check=False)


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


def _grid_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.csv"))


@pytest.mark.torch
def test_plan_workflow_sh(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # every grid run of cli/make_data.sh must be bundled and complete, or the sweeps would train (minutes):
    # 48 (grid) + 24 + 60 + 13 (grid_more)
    bundled = _grid_files(GRID)
    if len(bundled) < 145 or any(GRID.rglob("*.ckpt")):
        pytest.skip(f"bundled grid incomplete ({len(bundled)} of 145 runs)")
    before = {p: p.read_bytes() for p in GRID.glob("*/sweep.json")}

    out = tmp_path / "out"
    proc = _run(ROOT / "cli" / "plan_workflow.sh", {"OUT": str(out), "SCALEFIT": _scalefit()})
    _ok(proc)
    # the grid's 22 sweeps, every run skipped: nothing trained
    heads = [line for line in (out / "sweep.txt").read_text().splitlines() if line.startswith("sweep: ")]
    assert len(heads) == 22, heads
    assert all(", 0 to resume, 0 new" in h for h in heads), heads
    assert _grid_files(out / "runs" / "grid") == bundled
    # the bundled data is untouched (the sweep worked on a copy)
    assert {p: p.read_bytes() for p in GRID.glob("*/sweep.json")} == before
    _nonempty(out, ["sweep.txt", "hparams.txt", "hp.json", "hp.png", "approaches.txt", "iso.json", "isoflop.png",
                    "scaling.txt", "sc.json", "fit_n.json", "plan.txt", "plan.json"])
    plan = json.loads((out / "plan.json").read_text())
    assert plan["peak_lr"] > 0 and plan["allocation"]["source"].startswith("isoFLOP profiles")
    assert plan["lower"] < plan["final_loss"] < plan["upper"] and plan["curve"]["law"] == "tissue-n"


def _shim_run(tmp_path: Path, script: str, extra_env: dict[str, str] | None = None,
              args: list[str] | None = None) -> list[str]:
    """Run cli/<script> from a scratch copy of cli/ with the --help shim; return the shim's log lines."""
    scratch = tmp_path / "repo"
    shutil.copytree(ROOT / "cli", scratch / "cli")
    (scratch / "data" / "runs").mkdir(parents=True)
    log = tmp_path / "shim.log"
    env = {"SCALEFIT": str(SHIM), "SCALEFIT_REAL": _scalefit(), "SHIM_LOG": str(log), "OUT": str(tmp_path / "out"),
           **(extra_env or {})}
    proc = _run(scratch / "cli" / script, env, args=args)
    _ok(proc)
    lines = log.read_text().splitlines() if log.exists() else []
    failed = [line for line in lines if not line.startswith("ok: ")]
    assert not failed, "\n".join(failed)
    return [line[len("ok: "):] for line in lines]


def test_make_data_sh_options(tmp_path: Path) -> None:
    calls = _shim_run(tmp_path, "make_data.sh")
    assert all(c.startswith("sweep ") for c in calls), calls
    # curves: 2 sweeps; grid: 6 + 16 (one per batch size and token budget); scaling: 2; isoflop: 4 budgets x 5
    counts = {d: sum(f"--out-dir data/runs/{d}/" in c for c in calls) for d in ("grid", "scaling", "isoflop")}
    assert counts == {"grid": 22, "scaling": 2, "isoflop": 20} and len(calls) == 46, (counts, calls)
    # an isoFLOP run's steps are its budget's tokens C / 6N over 1,024 tokens per step
    iso = next(c for c in calls if "--out-dir data/runs/isoflop/c1e12" in c and "--models tiny " in c)
    assert "--steps 1650 " in iso and "--warmup 165 " in iso  # 1e12 / (6 x 98,624 x 1,024) = 1650.4


def test_make_data_sh_runs_one_section_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    calls = _shim_run(tmp_path, "make_data.sh", args=["isoflop", "3e11"])
    assert len(calls) == 5 and all("--out-dir data/runs/isoflop/c3e11" in c for c in calls), calls
    scratch = tmp_path / "again"
    shutil.copytree(ROOT / "cli", scratch / "cli")
    proc = subprocess.run(["bash", str(scratch / "cli" / "make_data.sh"), "grids"], capture_output=True, text=True,
                          env={**os.environ, "SCALEFIT": str(SHIM)}, check=False)
    assert proc.returncode == 2 and "unknown section 'grids'" in proc.stderr


def test_closed_loop_sh_options(tmp_path: Path) -> None:
    if not (ROOT / "cli" / "closed_loop.sh").exists():
        pytest.skip("cli/closed_loop.sh not present")
    calls = _shim_run(tmp_path, "closed_loop.sh", {"CLOSED_LOOP_DRY": "1"})
    commands = [c.split()[0] for c in calls]
    for command in ("fit", "predict", "optimize", "schedule", "train"):
        assert command in commands, (command, calls)
