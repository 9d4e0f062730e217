"""CLI: scalefit optimize (table, --json keys, --out readable by predict with the same number, --plot, errors)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit import schedules
from scalefit.cli import app

from test_fitting import MPL_TRUTH, TISSUE_TRUTH, sim_runs

runner = CliRunner()
ARGS = ("--steps", "2000", "--peak", "1e-3", "--warmup", "100", "--floor", "1e-4")


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from scalefit.fitting import fit

    folder = tmp_path_factory.mktemp("fits")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for law, truth in (("mpl", MPL_TRUTH), ("tissue", TISSUE_TRUTH)):
            out[law] = fit(sim_runs(law, truth)[:2], law, n_starts=8).to_json(folder / f"{law}.json")
    return out


def test_json_has_the_documented_keys(fits) -> None:
    res = invoke("optimize", fits["mpl"], *ARGS, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert isinstance(data["seconds"], float)
    assert set(data["optimized"]) >= {"final_loss", "lower", "upper"}
    assert data["optimized"]["lower"] < data["optimized"]["final_loss"] < data["optimized"]["upper"]
    rec = data["recommended"]  # a family member other than the law's best (a tie broken) is a row of its own too
    tie = rec["kind"] == "family" and rec["name"] != rec["law_best"]
    assert {b["schedule"] for b in data["baselines"]} == {"optimized", "best family", "cosine to 0.0001",
                                                          "linear to 0", "constant", *(["recommended"] if tie else [])}
    assert all("final_loss" in b for b in data["baselines"])
    assert data["best_family"]["spec"].startswith(("wsd:", "cosine:", "multistep:", "constant:"))
    best = min(b["final_loss"] for b in data["baselines"] if b["schedule"] != "optimized")
    assert data["optimized"]["final_loss"] <= best + 1e-6
    rec = data["recommended"]
    assert set(rec) >= {"name", "kind", "spec", "reason", "final_loss", "lower", "upper", "schedule", "advantage",
                        "margin", "objective"}
    assert rec["kind"] in ("family", "per-step") and rec["lower"] < rec["final_loss"] < rec["upper"]
    if rec["kind"] == "family":  # the best family member under the objective (or the 1-sqrt WSD in a tie)
        assert rec["spec"] == data["family"][rec["name"]]["spec"] and "less than" in rec["reason"]
        assert rec["law_best_spec"] == data["best_family"]["spec"] == data["family"][rec["law_best"]]["spec"]
        assert tie == ("tie goes to the 1-sqrt" in rec["reason"])
    else:
        assert rec["spec"] is None and rec["final_loss"] == data["optimized"]["final_loss"]
    assert rec["margin"] > 0  # the sim fit measured its law error
    # the fit's runs are not files here: no shape ensemble, and optimize says so
    assert data["ensemble"]["weights"] == [1.0] and "no ensemble" in res.stderr


def test_table_out_and_plot_and_predict_reproduces_the_number(fits, tmp_path: Path) -> None:
    csv, opt_csv, png = tmp_path / "lr.csv", tmp_path / "opt.csv", tmp_path / "lr.png"
    res = invoke("optimize", fits["mpl"], *ARGS, "--out", csv, "--out-optimum", opt_csv, "--plot", png)
    assert res.exit_code == 0, res.output
    assert "Schedule optimisation under law mpl" in res.stdout and "best family" in res.stdout
    assert "recommended:" in res.stdout and "because" in res.stdout
    assert "wrote" in res.stdout and png.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(invoke("optimize", fits["mpl"], *ARGS, "--json").stdout)
    for path, key in ((csv, "recommended"), (opt_csv, "optimized")):  # --out: the recommendation
        lr = schedules.from_file(path)
        assert lr.size == 2000 and lr[99] == 1e-3 and np.all(np.diff(lr[99:]) <= 0) and lr[100:].min() >= 1e-4
        pred = invoke("predict", fits["mpl"], "--schedule-file", path, "--json")
        assert pred.exit_code == 0, pred.output
        assert json.loads(pred.stdout)["predictions"][0]["final_loss"] == pytest.approx(data[key]["final_loss"],
                                                                                        abs=1e-12)
    if data["recommended"]["kind"] == "family":
        np.testing.assert_array_equal(schedules.from_file(csv), schedules.from_spec(data["recommended"]["spec"]))


def test_non_monotone_warns_and_a_negative_predicted_loss_is_a_one_line_error(fits) -> None:
    res = invoke("optimize", fits["mpl"], *ARGS, "--non-monotone", "--objective", "last:5", "--json")
    assert "without the monotone constraint" in res.stderr
    # on this fit the oscillating optimum drives the predicted loss below zero: refused, not printed as a result
    assert res.exit_code == 2 and "predicts a loss of -" in res.stderr and "Traceback" not in res.output
    assert res.stdout == ""


def test_last_k_objective(fits) -> None:
    res = invoke("optimize", fits["mpl"], *ARGS, "--objective", "last:5", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["constraints"]["monotone"] is True


def test_tissue_warns_degenerate_on_stderr(fits) -> None:
    res = invoke("optimize", fits["tissue"], *ARGS)
    assert res.exit_code == 0, res.output
    assert "warning:" in res.stderr and "degenerate" in res.stderr


def test_more_iterations_never_end_higher_and_the_caps_are_reported(fits) -> None:
    short = json.loads(invoke("optimize", fits["mpl"], *ARGS, "--iterations", "5", "--polish", "0", "--json").stdout)
    long = json.loads(invoke("optimize", fits["mpl"], *ARGS, "--iterations", "500", "--polish", "100",
                             "--json").stdout)
    message = short["optimized"]["message"]
    assert "ITERATION LIMIT 5, the last" in message and "polish" not in message
    # a stage at its cap says so only when its last iterations still gained something that matters (>= 1e-5)
    for gained in re.findall(r"ITERATION LIMIT \d+, the last 10 iterations gained ([0-9.e+-]+)", message
                             + long["optimized"]["message"]):
        assert float(gained) >= 1e-5
    assert long["optimized"]["final_loss"] <= short["optimized"]["final_loss"] + 1e-12


@pytest.mark.parametrize("args, text", [
    (("--objective", "best"), "objective"),
    (("--floor", "1"), "floor LR"),
    (("--iterations", "0"), "--iterations must be >= 1"),
])
def test_user_errors_exit_2_with_one_line(fits, args, text) -> None:
    res = invoke("optimize", fits["mpl"], "--steps", "2000", "--peak", "1e-3", "--warmup", "100", *args)
    assert res.exit_code == 2
    assert text in res.stderr and "Traceback" not in res.output
    assert len([ln for ln in res.stderr.splitlines() if ln.startswith("error")]) == 1


def test_missing_fit_file_exits_2(tmp_path: Path) -> None:
    res = invoke("optimize", tmp_path / "nope.json", *ARGS)
    assert res.exit_code == 2 and "nope.json" in res.stderr
