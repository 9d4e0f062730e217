"""The bundled isoFLOP sweep (data/runs/isoflop, 4 budgets x 5 sizes) gives the README's compute-optimal figures.

``scalefit scaling --method all`` on it: the three approaches' exponents with bootstrap intervals, each near the
value the README's "Compute-optimal allocation" table reports (the point estimates do not depend on the bootstrap;
the tolerances allow for other CPUs' kernels, not for another data set or another estimator), and ``plan
--isoflop`` on the frontier it writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalefit.cli import app

ROOT = Path(__file__).resolve().parents[1]
ISO = ROOT / "data" / "runs" / "isoflop"
#: N* ~ C^a per approach, measured with `scalefit scaling data/runs/isoflop/*/*.csv --method all` (README table)
MEASURED_A = {1: 0.341, 2: 0.609, 3: 0.627}

runner = CliRunner()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    runs = sorted(ISO.glob("*/*.csv"))
    assert len(runs) == 20, [p.relative_to(ISO).as_posix() for p in runs]
    out = tmp_path_factory.mktemp("iso")
    r = runner.invoke(app, ["scaling", *map(str, runs), "--method", "all", "--bootstrap", "50", "--json",
                            "--out", str(out / "iso.json"), "--plot", str(out / "isoflop.png")])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), out


def test_the_three_approaches_give_exponents_with_intervals(result) -> None:
    d, out = result
    assert d["method"] == "all" and d["interval"] == pytest.approx(0.9)
    approaches = {a["approach"]: a for a in d["approaches"]}
    assert sorted(approaches) == [1, 2, 3]
    for k, a in approaches.items():
        assert a["error"] is None, a
        assert a["a"] == pytest.approx(MEASURED_A[k], abs=0.02), (k, a)
        assert a["a"] + a["b"] == pytest.approx(1.0, abs=1e-9)  # C = 6ND fixes b = 1 - a
        assert a["a_lower"] < a["a"] < a["a_upper"], a
        assert 0.02 < a["a_upper"] - a["a_lower"] < 0.4, a  # an interval, neither a point nor everything
        assert a["b_lower"] == pytest.approx(1 - a["a_upper"]) and a["b_upper"] == pytest.approx(1 - a["a_lower"])
    assert approaches[2]["detail"].startswith("4 budgets")  # every budget's minimum is bracketed by its sizes
    # approaches 2 and 3 agree (each inside the other's interval); the envelope (approach 1) lies below both
    assert approaches[3]["a_lower"] < approaches[2]["a"] < approaches[3]["a_upper"]
    assert approaches[2]["a_lower"] < approaches[3]["a"] < approaches[2]["a_upper"]
    assert approaches[1]["a_upper"] < approaches[2]["a"]
    assert (out / "isoflop.png").stat().st_size > 10_000


def test_plan_takes_n_and_d_from_the_bundled_frontier(result) -> None:
    _, out = result
    r = runner.invoke(app, ["plan", "--flops", "1e13", "--isoflop", str(out / "iso.json"), "--json"])
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)
    al = p["allocation"]
    assert al["source"] == "isoFLOP profiles (approach 2), 4 budgets"
    assert al["params_lower"] < p["params"] < al["params_upper"]
    assert 6 * p["params"] * p["tokens"] == pytest.approx(1e13, rel=1e-6)
    # the frontier N* = 0.005442 C^0.6091 at 1e13 FLOPs (README): 4.5e5 parameters
    assert p["params"] == pytest.approx(4.507e5, rel=0.05)
    assert "isoflop.flops" in p["extrapolated"]  # 3.33x beyond the largest budget, and said so
