"""CLI: scalefit scaling --method isoflop / envelope / all, --predict, --law, --target (and its hidden alias
--loss-column), their JSON and their one-line errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app

sys.path.insert(0, str(Path(__file__).parent / "scaling"))
from sweeps import grid, isoflop  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scaling")
    N, D, L, C = isoflop(noise=0.002)
    (d / "iso.csv").write_text("params,tokens,final_loss\n" + "".join(f"{n:.8g},{t:.8g},{x:.6f}\n"
                                                                      for n, t, x in zip(N, D, L)))
    N, D, L = grid(noise=0.002)
    (d / "grid.csv").write_text("params,tokens,loss\n" + "".join(f"{n:.8g},{t:.8g},{x:.6f}\n"
                                                                for n, t, x in zip(N, D, L)))
    (d / "new.csv").write_text("params,tokens\n1e8,2e9\n1e10,2e11\n")
    return {"dir": d, "iso": d / "iso.csv", "grid": d / "grid.csv", "new": d / "new.csv"}


def test_isoflop_json_is_the_documented_object(files) -> None:
    png = files["dir"] / "iso.png"
    r = runner.invoke(app, ["scaling", str(files["iso"]), "--target", "final_loss", "--method", "isoflop",
                            "--bootstrap", "50", "--json", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["method"] == "isoflop"
    assert set(d["n_opt"]) == set(d["d_opt"]) == {"coef", "exponent", "lower", "upper"}
    assert d["n_opt"]["exponent"] == pytest.approx(0.45, abs=0.02)
    assert d["n_opt"]["lower"] <= d["n_opt"]["exponent"] <= d["n_opt"]["upper"]
    assert len(d["budgets"]) == 6
    for b in d["budgets"]:
        assert {"flops", "n_opt", "d_opt", "loss_opt", "lower", "upper", "runs"} <= set(b) and b["runs"] == 9
    assert png.stat().st_size > 10_000


def test_loss_column_is_a_hidden_alias_of_target(files) -> None:
    args = ["scaling", str(files["iso"]), "--method", "isoflop", "--bootstrap", "0", "--json"]
    a = runner.invoke(app, args + ["--loss-column", "final_loss"])
    b = runner.invoke(app, args + ["--target", "final_loss"])
    assert a.exit_code == b.exit_code == 0, a.output
    assert json.loads(a.stdout) == json.loads(b.stdout)
    assert "--loss-column" not in runner.invoke(app, ["scaling", "--help"]).output
    r = runner.invoke(app, args + ["--target", "final_loss", "--loss-column", "loss"])
    assert r.exit_code == 2 and "--target final_loss and --loss-column loss disagree" in r.stderr


def test_all_prints_the_three_approaches(files) -> None:
    r = runner.invoke(app, ["scaling", str(files["iso"]), "--target", "final_loss", "--method", "all",
                            "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    for name in ("lower envelope (approach 1)", "isoFLOP profiles (approach 2)", "parametric law (approach 3)"):
        assert name in r.stdout
    r = runner.invoke(app, ["scaling", str(files["iso"]), "--target", "final_loss", "--method", "all",
                            "--bootstrap", "0", "--json"])
    assert [a["approach"] for a in json.loads(r.stdout)["approaches"]] == [1, 2, 3]


def test_predict_json_and_text(files) -> None:
    r = runner.invoke(app, ["scaling", str(files["grid"]), "--law", "chinchilla", "--bootstrap", "20",
                            "--predict", str(files["new"]), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    inside, far = d["predictions"]
    for p in d["predictions"]:
        assert {"params", "tokens", "loss", "lower", "upper"} <= set(p) and p["lower"] < p["loss"] < p["upper"]
    assert inside["extrapolated"] == [] and far["extrapolation"]["params"] == pytest.approx(10.0)
    assert "bootstrap over runs" in d["interval_method"] and d["law"] == "chinchilla"
    assert "lie outside the fitted range" in r.stderr
    r = runner.invoke(app, ["scaling", str(files["grid"]), "--bootstrap", "10", "--predict", str(files["new"])])
    assert r.exit_code == 0, r.output
    assert "predicted loss (overtrain law" in r.stdout and "params 10x" in r.stdout


def test_law_all_compares_the_laws(files) -> None:
    r = runner.invoke(app, ["scaling", str(files["grid"]), "--law", "all", "--bootstrap", "5"])
    assert r.exit_code == 0, r.output
    assert re.search(r"chinchilla\s+5 ", r.stdout) and re.search(r"overtrain\s+4 ", r.stdout)
    assert "fold error" in r.stdout


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--method", "kaplan"], r"unknown method 'kaplan'"),
        (["--law", "kaplan"], r"unknown loss law 'kaplan'"),
        (["--method", "isoflop", "--budgets", "1e18,x"], r"--budgets '1e18,x' is not a comma-separated list"),
        (["--method", "isoflop"], r"only 0 compute budget\(s\) with a bracketed minimum"),
        (["--predict", "{bad}"], r"bad\.csv:1: missing column 'params'"),
    ],
)
def test_user_errors_exit_2_one_line(files, tmp_path, args, pattern) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("n,tokens\n1e8,1e9\n")
    args = [a.format(bad=bad) for a in args]
    r = runner.invoke(app, ["scaling", str(files["grid"]), "--bootstrap", "0", *args])
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.output
    assert re.search(pattern, errors[0]), errors[0]


def test_isoflop_budget_options(files) -> None:
    base = ["scaling", str(files["iso"]), "--target", "final_loss", "--method", "isoflop", "--bootstrap", "0",
            "--json"]
    nominal = json.loads(runner.invoke(app, base + ["--budgets", "1e17,3e17,1e18,3e18,1e19,3e19"]).stdout)
    assert [b["flops"] for b in nominal["budgets"]] == pytest.approx([1e17, 3e17, 1e18, 3e18, 1e19, 3e19])
    r = runner.invoke(app, base + ["--flops-tolerance", "0.001"])
    assert r.exit_code == 0 and json.loads(r.stdout)["tolerance"] == 0.001
    np.testing.assert_allclose(json.loads(r.stdout)["n_opt"]["exponent"], nominal["n_opt"]["exponent"])


def test_progress_bar_draws_on_a_terminal_only(monkeypatch) -> None:
    """Long work (the grid method's 4,500 starts, bootstrap refits) shows a rich bar on stderr when it is a
    terminal, and nothing otherwise (so --json and logs stay clean)."""
    import io

    from rich.console import Console

    from scalefit.commands import _common
    from scalefit.commands._progress import progress_bar

    with progress_bar("scaling grid") as bar:
        assert bar is None  # CliRunner / pytest: not a terminal
    buf = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=buf, force_terminal=True, width=100))
    with progress_bar("scaling grid") as bar:
        assert bar is not None
        for i in range(1, 4):
            bar(i, 3)
    assert "scaling grid" in buf.getvalue()


def test_envelope_reads_the_curves_of_run_files() -> None:
    """Approach 1 on the bundled cosine runs of three sizes (run files: their logged curves, not final points)."""
    root = Path(__file__).resolve().parents[1] / "data" / "runs"
    runs = sorted(str(p) for p in (root / "scaling").glob("*/*.csv"))
    runs += sorted(str(p) for p in (root / "curves").glob("*_cosine_*.csv"))
    r = runner.invoke(app, ["scaling", *runs, "--method", "envelope", "--bootstrap", "20", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["method"] == "envelope" and d["source"] == "curves" and d["n_runs"] == 9
    assert len(d["frontier_sizes"]) >= 2 and d["n_opt"]["lower"] <= d["n_opt"]["exponent"] <= d["n_opt"]["upper"]
