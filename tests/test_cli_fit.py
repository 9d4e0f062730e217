"""CLI: scalefit fit / evaluate / predict on run files in a tmp dir (exit codes and text)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit import schedules
from scalefit.cli import app

from test_fitting import TISSUE_TRUTH, sim_run, three_schedules

runner = CliRunner()


def write_run(path: Path, run) -> Path:
    """A dense run file: every step from 0 with its LR; loss on the observed rows, empty elsewhere."""
    loss = np.full(run.lr.size, np.nan)
    loss[run.index] = run.loss
    lines = ["step,lr,loss"] + [f"{i},{lr!r},{'' if np.isnan(v) else repr(float(v))}"
                                for i, (lr, v) in enumerate(zip(run.lr.tolist(), loss.tolist()))]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    return {name: write_run(folder / f"{name}.csv", sim_run("tissue", TISSUE_TRUTH, lr, seed=i, name=name))
            for i, (name, lr) in enumerate(three_schedules().items())}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_prints_the_report_and_writes_json_and_png(run_files, tmp_path: Path) -> None:
    out, png = tmp_path / "fit.json", tmp_path / "fit.png"
    res = invoke("fit", run_files["constant"], run_files["cosine"], "--law", "tissue", "--out", out, "--plot", png)
    assert res.exit_code == 0, res.output
    assert "Fit of law tissue to 2 runs" in res.stdout and "CONVERGED" in res.stdout
    assert "alpha" in res.stdout and "in-sample run" in res.stdout
    assert json.loads(out.read_text())["schema"] == "scalefit.fit/1"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_fit_json_is_pure_json(run_files) -> None:
    res = invoke("fit", run_files["constant"], run_files["cosine"], "--law", "tissue", "--json", "--starts", "8")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["law"] == "tissue" and abs(data["params"]["alpha"]["value"] - 0.5) < 0.05


def test_fit_all_laws_prints_a_comparison(run_files) -> None:
    res = invoke("fit", *run_files.values(), "--law", "all", "--starts", "8")
    assert res.exit_code == 0, res.output
    assert "Fit of law mpl" in res.stdout and "Fit of law tissue" in res.stdout
    assert "law        status" in res.stdout
    header = next(line for line in res.stdout.splitlines() if line.startswith("law        status"))
    assert header.endswith("law error")
    rows = [line for line in res.stdout.splitlines() if line.startswith(("mpl ", "tissue "))]
    assert len(rows) == 2 and all(row.endswith("%") for row in rows)  # each law's cross-validated error


def test_fit_bounds_and_fix(run_files) -> None:
    res = invoke("fit", run_files["constant"], run_files["cosine"], "--law", "tissue", "--bounds", "alpha=0.7:0.9",
                 "--fix", "lam=0.999")
    assert res.exit_code == 0, res.output
    assert "AT LOWER BOUND" in res.stdout
    assert "warning:" in res.stderr and "alpha at its lower bound 0.7" in res.stderr


@pytest.mark.parametrize("args, message", [
    (["--bounds", "alpha"], "--bounds 'alpha' is not name=lo:hi"),
    (["--bounds", "zeta=0:1"], "unknown parameter 'zeta' in bounds"),
    (["--law", "nope"], "unknown law 'nope'"),
    (["--fix", "lam"], "--fix 'lam' is not name=value"),
])
def test_fit_user_errors_are_one_line_exit_2(run_files, args: list[str], message: str) -> None:
    res = invoke("fit", run_files["constant"], *args)
    assert res.exit_code == 2
    assert message in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_fit_missing_file_is_exit_2(tmp_path: Path) -> None:
    res = invoke("fit", tmp_path / "nope.csv", "--law", "tissue")
    assert res.exit_code == 2 and "nope.csv" in res.stderr and "Traceback" not in res.output


def test_sparse_run_needs_warmup_or_schedule(tmp_path: Path) -> None:
    run = sim_run("tissue", TISSUE_TRUTH, three_schedules()["cosine"], name="sparse")
    rows = ["step,lr,loss"] + [f"{s},{float(run.lr[s])!r},{v!r}" for s, v in zip(run.steps.tolist(), run.loss.tolist())]
    path = tmp_path / "100M_cosine.csv"
    path.write_text("\n".join(rows) + "\n")
    res = invoke("fit", path, "--law", "tissue")
    assert res.exit_code == 2 and "--warmup" in res.stderr
    # the exact schedule from a folder, matched by file-name suffix
    sched_dir = tmp_path / "schedules"
    sched_dir.mkdir()
    schedules.to_csv(sched_dir / "cosine.csv", three_schedules()["cosine"])
    ok = invoke("fit", path, "--law", "tissue", "--schedule-dir", sched_dir, "--starts", "8")
    assert ok.exit_code == 0, ok.output
    missing = invoke("fit", path, "--law", "tissue", "--schedule-dir", tmp_path / "runs")
    assert missing.exit_code == 2 and "schedule folder not found" in missing.stderr


def test_evaluate_json_has_exactly_the_documented_keys(run_files) -> None:
    res = invoke("evaluate", "--train", run_files["constant"], "--train", run_files["cosine"],
                 "--test", run_files["wsd"], "--law", "tissue", "--json", "--starts", "8")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert list(data) == ["law", "fit_seconds", "mean", "runs", "params", "status", "coverage"]
    assert set(data["mean"]) == {"r2", "mae", "rmse", "pred_e", "worst_e"}
    assert list(data["runs"][0]) == ["path", "r2", "mae", "rmse", "pred_e", "worst_e", "final_true", "final_pred",
                                     "lower", "upper", "interval", "method", "inside", "impossible"]
    run = data["runs"][0]
    assert run["lower"] < run["final_pred"] < run["upper"] and run["method"] == "covariance+cv"
    assert run["inside"] == (run["lower"] <= run["final_true"] <= run["upper"]) and run["impossible"] is None
    assert data["coverage"] == {"inside": int(run["inside"]), "runs": 1, "interval": 0.9, "method": "covariance+cv"}
    assert data["status"] == "CONVERGED"
    assert data["runs"][0]["path"].endswith("wsd.csv") and data["mean"]["r2"] > 0.99
    assert set(data["params"]) == {"L0", "A", "alpha", "C", "lam"}


def test_evaluate_prints_held_out_table(run_files) -> None:
    res = invoke("evaluate", "--train", run_files["constant"], "--train", run_files["cosine"],
                 "--test", run_files["wsd"], "--law", "tissue", "--starts", "8")
    assert res.exit_code == 0, res.output
    assert "held-out run" in res.stdout and "wsd" in res.stdout


def test_predict_ranks_schedules_and_marks_extrapolation(run_files, tmp_path: Path) -> None:
    fit_json = tmp_path / "fit.json"
    assert invoke("fit", *run_files.values(), "--law", "tissue", "--out", fit_json).exit_code == 0
    res = invoke("predict", fit_json, "--schedule", "constant", "--schedule", "cosine:final=1e-4",
                 "--schedule", "wsd:decay=0.2", "--schedule", "cosine:total=20000")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()[:2].strip().isdigit()]
    assert len(lines) == 4 and "EXTRAPOLATED" in res.stdout and "best:" in res.stdout
    assert "extrapolates" in res.stderr
    js = invoke("predict", fit_json, "--schedule", "constant", "--schedule", "wsd:decay=0.2", "--json",
                "--interval", "0.95")
    data = json.loads(js.stdout)
    first = data["predictions"][0]
    assert first["schedule"] == "wsd:decay=0.2"  # lower final loss ranks first
    assert {"schedule", "final_loss", "lower", "upper", "extrapolated"} <= set(first)
    assert first["lower"] <= first["final_loss"] <= first["upper"]


def test_predict_writes_curves_and_plot(run_files, tmp_path: Path) -> None:
    fit_json = tmp_path / "fit.json"
    assert invoke("fit", *run_files.values(), "--law", "tissue", "--out", fit_json).exit_code == 0
    lr_file = tmp_path / "lr.csv"
    schedules.to_csv(lr_file, schedules.cosine(1e-3, 1500, warmup=100))
    out, png = tmp_path / "curve.csv", tmp_path / "p.png"
    res = invoke("predict", fit_json, "--schedule-file", lr_file, "--schedule", "constant", "--steps", "1500",
                 "--out", out, "--plot", png)
    assert res.exit_code == 0, res.output
    text = out.read_text().splitlines()
    assert text[0] == "schedule,step,loss,lower,upper" and len(text) == 1 + 2 * 1500
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_predict_errors(tmp_path: Path) -> None:
    res = invoke("predict", tmp_path / "missing.json", "--schedule", "constant")
    assert res.exit_code == 2 and "missing.json: file not found" in res.stderr
    other = tmp_path / "other.json"
    other.write_text('{"schema": "scalefit.hparams/1"}')
    res = invoke("predict", other, "--schedule", "constant")
    assert res.exit_code == 2 and "expected scalefit.fit" in res.stderr


def test_fit_and_evaluate_take_a_prior(run_files) -> None:
    res = invoke("fit", run_files["constant"], run_files["cosine"], "--law", "tissue", "--starts", "4", "--json",
                 "--prior", "alpha=0.3:0.001")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert "gaussian prior on log alpha (centre 0.3, sd 0.001)" in data["objective"]
    assert abs(data["params"]["alpha"]["value"] - 0.3) < 0.01
    res = invoke("evaluate", "--train", run_files["constant"], "--train", run_files["cosine"], "--test",
                 run_files["wsd"], "--law", "tissue", "--starts", "4", "--prior", "alpha=1", "--prior", "none")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("item, words", [("alpha", "is not name=sd"), ("L0=1", "'L0' is an amplitude")])
def test_bad_prior_exits_2_with_one_line(run_files, item, words) -> None:
    res = invoke("fit", run_files["constant"], "--law", "tissue", "--starts", "4", "--prior", item)
    assert res.exit_code == 2 and words in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_law_all_gives_each_law_the_options_of_its_own_parameters(run_files) -> None:
    res = invoke("fit", *run_files.values(), "--law", "all", "--starts", "8", "--prior", "beta=0.1",
                 "--fix", "lam=0.99", "--json")
    assert res.exit_code == 0, res.output
    fits = {f["law"]: f for f in json.loads(res.stdout)["fits"]}
    assert "prior on log beta (centre 0.5, sd 0.1)" in fits["mpl"]["objective"]
    assert "prior" not in fits["tissue"]["objective"] and fits["tissue"]["params"]["lam"]["value"] == 0.99
    # a parameter no selected law has is refused before anything is fitted
    bad = invoke("fit", *run_files.values(), "--law", "all", "--prior", "zzz=1")
    assert bad.exit_code == 2 and "no selected law has that parameter" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
