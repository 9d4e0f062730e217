"""A per-step text log from the command line: inspect shows where the loss settles and the loss by step range (to
choose --min-step), and fit / evaluate take --schedule for a log that prints no LR."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.commands.inspect import loss_by_steps, settles, step_ranges

runner = CliRunner()


def per_step_log(tmp_path: Path, n: int = 400, name: str = "run.log", seed: int = 0) -> Path:
    """llm.c-style per-step losses with no LR: a fast fall from 11 (no warmup logged), then a slow one."""
    s = np.arange(n)
    loss = 3.0 + 8.0 * (1 + s) ** -0.8 + 0.02 * np.random.default_rng(seed).standard_normal(n)
    p = tmp_path / name
    p.write_text("".join(f"s:{k} trl:{v:.6f}\n" for k, v in zip(s, loss)))
    return p


def invoke(args: list[str]):
    return runner.invoke(app, args, env={"COLUMNS": "200"})


def test_step_ranges_cover_the_run_without_gaps() -> None:
    for first, last in ((0, 9536), (1, 128), (0, 30), (7, 7), (10, 34_000)):
        ranges = step_ranges(first, last)
        assert ranges[0][0] == first and ranges[-1][1] == last
        assert all(b + 1 == c for (_, b), (c, _) in zip(ranges[:-1], ranges[1:]))
        assert all(a <= b for a, b in ranges)
    assert step_ranges(0, 9536)[:5] == [(0, 9), (10, 29), (30, 99), (100, 299), (300, 999)]
    assert step_ranges(0, 9536)[5:] == [(1000, 2383), (2384, 4767), (4768, 7151), (7152, 9536)]


def test_inspect_json_shows_where_the_loss_settles_and_the_loss_by_steps(tmp_path: Path) -> None:
    p = per_step_log(tmp_path)
    res = invoke(["inspect", str(p), "--schedule", "constant:peak=1e-3", "--json"])
    assert res.exit_code == 0, res.output
    f = json.loads(res.stdout)[0]
    loss = np.array([float(ln.split("trl:")[1]) for ln in p.read_text().splitlines()])
    final = float(np.median(loss[-20:]))
    st = f["settles"]
    assert st["final"] == pytest.approx(final)
    # the default window (no warmup, a first loss far above the final level) starts where the loss is within 2x
    assert f["window"][0] == st["2x"] and f["warmup"] == 0
    assert st["2x"] <= st["25%"] <= st["10%"]
    k = st["25%"]
    assert np.sum(loss[k:k + 5] < 1.25 * final) >= 3 and not any(
        np.sum(loss[j:j + 5] < 1.25 * final) >= 3 for j in range(k - 4))
    rows = f["loss_by_steps"]
    assert sum(r["rows"] for r in rows) == 400
    assert [(r["from"], r["to"]) for r in rows] == [(0, 9), (10, 29), (30, 99), (100, 199), (200, 299), (300, 399)]
    assert rows[2]["median"] == pytest.approx(np.median(loss[30:100]))
    assert rows[2]["p90"] == pytest.approx(np.quantile(loss[30:100], 0.9))
    assert rows[0]["fitted"] == 10 - st["2x"] and rows[-1]["fitted"] == 100 and rows[-1]["lr"] == pytest.approx(1e-3)


def test_inspect_table_prints_the_settling_steps_and_the_ranges(tmp_path: Path) -> None:
    res = invoke(["inspect", str(per_step_log(tmp_path)), "--schedule", "constant:peak=1e-3"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    for text in ("loss settles", "within 2x from step", "within 25% from step", "loss by steps", "median loss",
                 "30 .. 99", "read as a text log of llm.c"):
        assert text in out, text


def test_settles_and_loss_by_steps_on_short_or_empty_curves() -> None:
    assert settles(np.arange(5), np.ones(5)) is None
    st = settles(np.arange(40), np.r_[np.full(10, 9.0), np.full(30, 3.0)])
    assert st == {"final": 3.0, "2x": 10, "25%": 10, "10%": 10}

    class NoObs:
        observed = np.zeros(3, dtype=bool)

    assert loss_by_steps(NoObs()) == []


def test_a_no_lr_log_is_one_line_and_fits_with_schedule_and_min_step(tmp_path: Path) -> None:
    p = per_step_log(tmp_path)
    for cmd in ("inspect", "fit"):
        res = invoke([cmd, str(p)])
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output
        assert "prints no learning rate" in " ".join(res.stderr.split()) and "--schedule SPEC" in res.stderr
    res = invoke(["fit", str(p), "--schedule", "constant:peak=1e-3", "--min-step", "100", "--law", "tissue",
                  "--no-law-error", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    (m,) = summary["metrics"].values()
    assert m["n"] == 300 and math.isfinite(m["r2"]) and m["r2"] > 0.5
    bad = invoke(["fit", str(p), "--schedule", "constant:total=5"])
    assert bad.exit_code == 2 and "gives no peak LR" in bad.stderr


def test_evaluate_takes_schedule_for_train_and_test_runs(tmp_path: Path) -> None:
    a = per_step_log(tmp_path, name="a.log", seed=0)
    b = per_step_log(tmp_path, name="b.log", seed=1)
    res = invoke(["evaluate", "--train", str(a), "--test", str(b), "--schedule", "constant:peak=1e-3",
                  "--min-step", "100", "--law", "tissue", "--no-law-error", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert math.isfinite(out["mean"]["r2"]) and out["mean"]["pred_e"] < 0.02
