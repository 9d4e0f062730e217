"""`scalefit inspect`: tables, --json, options, and the acceptance checks on the reference curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalefit.cli import app

runner = CliRunner()


def dense(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.csv"
    p.write_text("# params: 98624\n# seq_len: 64\nstep,lr,loss,val_loss\n"
                 + "".join(f"{s},{min(s + 1, 4) * 2.5e-4},{4 - s * 0.1:.2f},{'' if s % 5 else 4.1 - s * 0.1}\n"
                           for s in range(20)))
    return p


def test_inspect_table(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(dense(tmp_path))], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for fact in ("rows", "20", "0 .. 19", "dense", "warmup", "4 steps", "peak 0.001", "constant", "params=98624",
                 "20 of 20 rows observed", "val_loss"):
        assert fact in out, fact
    assert result.stderr == ""


def test_inspect_json_is_pure(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(dense(tmp_path)), "--json", "--target", "val_loss"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert len(facts) == 1
    f = facts[0]
    assert f["rows"] == 20 and f["dense"] is True and f["target"] == "val_loss" and f["observed"] == 4
    assert f["warmup"] == 4 and f["peak_lr"] == pytest.approx(1e-3) and f["meta"] == {"params": 98624, "seq_len": 64}
    assert f["format"] == "csv" and f["shape"] == "constant"


def test_inspect_sparse_warns_on_stderr_and_keeps_json_pure(tmp_path: Path) -> None:
    p = tmp_path / "sparse.csv"
    p.write_text("step,lr,loss\n100,1e-3,3\n200,1e-3,2.9\n300,5e-4,2.8\n")
    result = runner.invoke(app, ["inspect", str(p), "--json"])
    assert result.exit_code == 0
    f = json.loads(result.stdout)[0]
    # the log starts at its logging interval: the LR before step 100 is taken as the first logged one, said
    assert f["dense"] is False and f["largest_gap"] == 100 and f["step0"] == 0
    assert "warning:" in result.stderr and "its first logging interval" in result.stderr

    late = tmp_path / "late.csv"
    late.write_text("step,lr,loss\n300,1e-3,3\n400,1e-3,2.9\n500,5e-4,2.8\n")
    result = runner.invoke(app, ["inspect", str(late), "--json"])
    f = json.loads(result.stdout)[0]
    assert f["step0"] == 300 and "--warmup 300 or --schedule-file F" in result.stderr

    result = runner.invoke(app, ["inspect", str(p), "--json", "--warmup", "50"])
    f = json.loads(result.stdout)[0]
    assert f["step0"] == 0 and f["warmup"] == 50 and f["lr_steps"] == 301


def test_inspect_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv: file not found" in result.stderr and "Traceback" not in result.output


# ---- acceptance checks on the published curves ---------------------------------------------------------------
@pytest.mark.reference
def test_mpl_sparse_file_asks_for_warmup(reference_dir: Path) -> None:
    path = reference_dir / "curves/mpl/100M_cosine_24000.csv"
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    f = json.loads(result.stdout)[0]
    assert f["dense"] is False and f["largest_gap"] == 128
    assert f["first_step"] == 2160 and f["step0"] == 2160 and f["rows"] == 171
    assert any("--warmup 2160 or --schedule-file F" in n for n in f["notes"])
    assert "LR interpolated between rows; largest gap 128 steps" in result.stderr

    table = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "200"})
    assert "sparse: largest gap 128 steps" in table.stdout and "--warmup" in table.stdout


@pytest.mark.reference
def test_mpl_with_schedule_file_reads_fully(reference_dir: Path) -> None:
    path = reference_dir / "curves/mpl/100M_cosine_24000.csv"
    sched = reference_dir / "curves/mpl/schedules/cosine_24000.csv"
    result = runner.invoke(app, ["inspect", str(path), "--schedule-file", str(sched), "--json"])
    assert result.exit_code == 0, result.output
    f = json.loads(result.stdout)[0]
    assert f["step0"] == 0 and f["warmup"] == 2160 and f["lr_steps"] == 23921
    assert f["shape"] == "cosine" and f["peak_lr"] == pytest.approx(3e-4)
    assert result.stderr == ""  # nothing assumed


@pytest.mark.reference
def test_schaipp_train_csv(reference_dir: Path) -> None:
    import numpy as np

    from scalefit.errors import AssumptionWarning
    from scalefit.readers import read_run

    # Some Schaipp train files repeat or reorder steps (resumed runs); the reader rejects those with the line.
    # This one is clean: rows every 50 steps from 50 to 7500, warmup 300, its LR logged rising from step 50: a
    # warmup from 0 is inferred (the steps before 50 ramp from 0), so the run's LR is known from step 0.
    path = next((reference_dir / "curves/schaipp/main/train").glob(
        "sl53_*_nlayers8_nhead8_lr0.002_sched_cos_warmup300_iter7500_*.csv"))
    raw = np.loadtxt(path, delimiter=",", skiprows=1)
    with pytest.warns(AssumptionWarning):
        run = read_run(path)
    np.testing.assert_array_equal(run.steps, raw[:, 0].astype(int))
    np.testing.assert_array_equal(run.loss, raw[:, 2])
    np.testing.assert_array_equal(run.lr[run.index], raw[:, 1])
    assert run.step0 == 0 and not run.dense and run.warmup == 301 and run.warmup_from == "lr"
    np.testing.assert_allclose(run.lr[:51], raw[0, 1] * np.arange(51) / 50)
    with pytest.warns(AssumptionWarning):
        full = read_run(path, warmup=300)
    assert full.step0 == 0 and full.warmup == 300
    np.testing.assert_array_equal(full.lr[run.steps], raw[:, 1])  # logged LRs kept exactly
    np.testing.assert_allclose(full.lr[:50], raw[0, 1] * np.arange(1, 51) / 51)  # ramp reaching the first row

    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0
    f = json.loads(result.stdout)[0]
    assert f["largest_gap"] == 50 and f["rows"] == raw.shape[0] and f["first_step"] == 50


@pytest.mark.reference
def test_schaipp_reordered_file_is_rejected_with_the_line(reference_dir: Path) -> None:
    path = next((reference_dir / "curves/schaipp/main/train").glob(
        "sl53_*_nlayers16_nhead12_lr0.001_sched_cos_warmup300_iter25000_*.csv"))
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2
    assert f"{path.name}:342: 'step' goes 25000 -> 50" in result.stderr and "sort the file by step" in result.stderr
