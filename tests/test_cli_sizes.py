"""CLI: runs of several model sizes in fit / evaluate / predict (issue 16), on the bundled runs of three sizes (xs
2.47e4, tiny 9.86e4, s1 4.43e5 parameters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalefit.cli import app

CURVES = Path(__file__).resolve().parents[1] / "data" / "runs" / "curves"
XS = [CURVES / f"xs_{k}_lr0.003_bs16.csv" for k in ("constant", "cosine")]
TINY = [CURVES / f"tiny_{k}_lr0.003_bs16.csv" for k in ("constant", "cosine")]
S1 = [CURVES / f"s1_{k}_lr0.003_bs16.csv" for k in ("constant", "cosine", "wsd-decay0.2")]
FAST = ["--target", "val_loss", "--starts", "8"]

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def two_size_fit(tmp_path_factory) -> Path:
    """mpl-n on xs and tiny (the law chosen by the sizes), with the law error and so its size error."""
    out = tmp_path_factory.mktemp("fit") / "fit.json"
    res = invoke("fit", *XS, *TINY, *FAST, "--out", out)
    assert res.exit_code == 0, res.output
    assert "Fit of law mpl-n to 4 runs" in res.stdout and "law mpl-n chosen: the runs have 2 model sizes" in res.stdout
    assert "size error not measured (2 model sizes" in res.stdout and "reference rule" in res.stdout
    return out


def test_a_size_blind_law_on_two_sizes_needs_allow_mixed_sizes(tmp_path) -> None:
    res = invoke("fit", *XS, *TINY, *FAST, "--law", "mpl", "--no-law-error")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "law 'mpl' ignores model size" in res.stderr and "--mixed-sizes" in res.stderr
    ok = invoke("fit", *XS, *TINY, *FAST, "--law", "mpl", "--no-law-error", "--mixed-sizes", "--json")
    assert ok.exit_code in (0, 1), ok.output  # fitted as asked (here mpl FAILS to describe two sizes as one model)
    fit = json.loads(ok.stdout)
    assert fit["law"] == "mpl" and fit["options"]["allow_mixed_sizes"] is True
    assert any(n["kind"] == "mixed_sizes" for n in fit["notes"])


def test_law_all_on_two_sizes_compares_the_size_aware_laws(tmp_path) -> None:
    out = tmp_path / "fit.json"
    res = invoke("fit", *XS, *TINY, *FAST, "--law", "all", "--no-law-error", "--out", out)
    assert res.exit_code == 0, res.output
    table = res.stdout[res.stdout.index("law        status"):]
    assert "mpl-n" in table and "tissue-n" in table and "\nmpl " not in table
    assert "comparing the size-aware laws (tissue-n, mpl-n)" in res.stdout
    assert (tmp_path / "fit_mpl-n.json").exists() and (tmp_path / "fit_tissue-n.json").exists()


def test_predict_beyond_the_fitted_sizes_is_flagged_with_its_factor_and_its_size_error(two_size_fit) -> None:
    res = invoke("predict", two_size_fit, "--schedule", "cosine", "--params", "4.43e5", "--json")
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)["predictions"][0]
    assert row["extrapolated"] and "model size 4.43e+05 is 4.5x the largest fitted (9.86e+04)" in row["reason"]
    assert row["n_params"] == 4.43e5 and "reference rule" in row["size_interval"]
    text = invoke("predict", two_size_fit, "--schedule", "cosine", "--params", "4.43e5")
    assert "at model size 4.43e+05: size error not measured" in text.stdout
    assert "EXTRAPOLATED: model size 4.43e+05 is 4.5x the largest fitted" in text.stdout
    inside = json.loads(invoke("predict", two_size_fit, "--schedule", "cosine", "--params", "5e4", "--json").stdout)
    assert inside["predictions"][0]["size_interval"] is None and not inside["predictions"][0]["extrapolated"]


def test_evaluate_on_a_bigger_size_reports_the_flag_and_the_size_interval(tmp_path) -> None:
    res = invoke("evaluate", "--train", *XS, *TINY, "--test", *S1[:1], *FAST, "--json")
    assert res.exit_code == 0, res.output
    ev = json.loads(res.stdout)
    run = ev["runs"][0]
    assert ev["law"] == "mpl-n" and "is 4.5x the largest fitted" in run["extrapolated"]
    assert "reference rule" in run["size_interval"] and {"lower", "upper", "inside", "method"} <= set(run)


def test_one_size_refuses_another(tmp_path) -> None:
    out = tmp_path / "tiny.json"
    assert invoke("fit", *TINY, *FAST, "--no-law-error", "--out", out).exit_code == 0
    res = invoke("predict", out, "--schedule", "cosine", "--params", "4.43e5")
    assert res.exit_code == 2 and "the fit saw one model size (9.86e+04 parameters)" in res.stderr
    ev = invoke("evaluate", "--train", *TINY, "--test", S1[0], *FAST, "--no-law-error")
    assert ev.exit_code == 2 and "this held-out run cannot be predicted" in ev.stderr
    one = invoke("fit", *TINY, *FAST, "--no-law-error", "--law", "mpl-n")
    assert one.exit_code == 2 and "one size cannot separate" in one.stderr


def test_optimize_a_size_aware_fit_needs_the_size_and_passes_it_to_the_law(two_size_fit, tmp_path) -> None:
    args = ["--steps", "3000", "--peak", "3e-3", "--warmup", "300", "--under", "fit", "--iterations", "40",
            "--polish", "0"]
    res = invoke("optimize", two_size_fit, *args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "fitted at model sizes 2.47e+04, 9.86e+04: pass the model size to optimise for" in res.stderr
    small = json.loads(invoke("optimize", two_size_fit, *args, "--params", "9.86e4", "--json").stdout)
    big = invoke("optimize", two_size_fit, *args, "--params", "4.43e5", "--json")
    assert big.exit_code == 0, big.output
    big = json.loads(big.stdout)
    assert small["n_params"] == 9.86e4 and small["extrapolated_size"] is None
    assert "model size 4.43e+05 is 4.5x the largest fitted (9.86e+04)" in big["extrapolated_size"]
    cos = {r["schedule"]: r for r in small["baselines"]}["cosine to 0"]
    cos_big = {r["schedule"]: r for r in big["baselines"]}["cosine to 0"]
    assert cos_big["final_loss"] < cos["final_loss"] - 0.05  # the bigger model is predicted lower (the size terms)
    # beyond the fitted sizes the interval carries the size error: wider than at a fitted size
    assert cos_big["upper"] - cos_big["lower"] > 2 * (cos["upper"] - cos["lower"])
    text = invoke("optimize", two_size_fit, *args, "--params", "4.43e5")
    assert "model size: 4.43e+05 parameters (extrapolated: model size 4.43e+05 is 4.5x" in text.stdout
    out = tmp_path / "tiny.json"
    assert invoke("fit", *TINY, *FAST, "--no-law-error", "--out", out).exit_code == 0
    other = invoke("optimize", out, *args, "--params", "4.43e5")
    assert other.exit_code == 2 and "the fit saw one model size (9.86e+04 parameters)" in other.stderr
