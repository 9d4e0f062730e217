"""``scalefit schedule``: summary, CSV, plot, --json, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit import schedules
from scalefit.cli import app

runner = CliRunner()
SPEC = "wsd:peak=3e-4,total=2400,warmup=216,decay=0.2,shape=1-sqrt"


def test_summary_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "lr.csv"
    result = runner.invoke(app, ["schedule", SPEC, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for needle in ("wsd", "2400 steps", "216 steps", "0.0003", "1-sqrt", "shape", str(out)):
        assert needle in result.stdout, needle
    np.testing.assert_array_equal(schedules.from_file(out), schedules.wsd(3e-4, 2400, 216, 0.2, "1-sqrt"))


def test_json_is_pure_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "lr.csv"
    result = runner.invoke(app, ["schedule", "cosine:peak=1e-3,total=100,warmup=10,final=1e-4", "--json",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"spec": "cosine:peak=1e-3,total=100,warmup=10,final=1e-4", "total": 100, "warmup": 10,
                    "peak": 1e-3, "final": 1e-4, "out": str(out)}
    assert out.exists()


def test_defaults_from_options_and_no_out() -> None:
    result = runner.invoke(app, ["schedule", "linear", "--peak", "2e-3", "--steps", "50", "--warmup", "5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["warmup"], data["peak"], data["final"], data["out"]) == (50, 5, 2e-3, 0.0, None)
    text = runner.invoke(app, ["schedule", "constant:peak=1e-3,total=10"]).stdout
    assert "not written (pass --out lr.csv)" in text and "constant" in text


def test_spec_wins_over_options() -> None:
    result = runner.invoke(app, ["schedule", "constant:peak=1e-3,total=10", "--peak", "5", "--json"])
    assert json.loads(result.stdout)["peak"] == 1e-3


def test_plot_written(tmp_path: Path) -> None:
    png = tmp_path / "figs" / "lr.png"
    result = runner.invoke(app, ["schedule", "cyclic:peak=1e-3,total=300,warmup=10,cycles=3", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in result.stdout


def test_file_spec_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    schedules.to_csv(src, schedules.multistep(1e-3, 100, warmup=10))
    result = runner.invoke(app, ["schedule", f"file:path={src}", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["warmup"], data["peak"]) == (100, 10, 1e-3)


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("nope:peak=1", ["unknown schedule 'nope'", "constant, cosine, linear, wsd"]),
        ("__import__('os')", ["unknown schedule"]),
        ("wsd:peak=1e-3,total=100,decay=1.5", ["decay=1.5 must be in (0, 1]"]),
        ("wsd:peak=1e-3,total=100,colour=red", ["unknown key 'colour'", "decay (", "shape ("]),
        ("cosine:total=100", ["missing peak", "--peak"]),
        ("", ["empty schedule spec"]),
    ],
)
def test_bad_spec_exit_2_one_line(spec: str, needles: list[str]) -> None:
    result = runner.invoke(app, ["schedule", spec])
    assert result.exit_code == 2
    assert result.stdout == ""
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


def test_bad_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("step,lr\n0,1e-3\n1,oops\n")
    result = runner.invoke(app, ["schedule", f"file:path={bad}", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.stderr and "column 'lr'" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_help_has_example() -> None:
    result = runner.invoke(app, ["schedule", "--help"])
    assert result.exit_code == 0
    assert "Example: scalefit schedule" in result.stdout


def test_total_is_a_hidden_alias_of_steps() -> None:
    """One name per thing across commands: --steps is the total step count (predict, optimize, schedule)."""
    old = runner.invoke(app, ["schedule", "linear", "--peak", "2e-3", "--total", "50", "--json"])
    new = runner.invoke(app, ["schedule", "linear", "--peak", "2e-3", "--steps", "50", "--json"])
    assert old.exit_code == new.exit_code == 0 and json.loads(old.stdout) == json.loads(new.stdout)
    assert json.loads(new.stdout)["total"] == 50
    help_text = runner.invoke(app, ["schedule", "--help"]).stdout
    assert "--steps" in help_text and "--total" not in help_text
    clash = runner.invoke(app, ["schedule", "linear", "--peak", "2e-3", "--steps", "50", "--total", "60"])
    assert clash.exit_code == 2 and "--steps 50 and --total 60" in clash.output
    missing = runner.invoke(app, ["schedule", "linear", "--peak", "2e-3"])
    assert missing.exit_code == 2 and "the CLI also takes --steps" in missing.output
