"""The app shell: --help, --version, and startup that loads no heavy module."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from scalefit import __version__
from scalefit.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Predict language-model training loss" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"scalefit {__version__}"


def test_help_imports_no_heavy_module() -> None:
    """`scalefit --help` must stay fast: no torch, matplotlib, scipy, pandas or lmfit at startup."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from scalefit.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy', 'pandas', 'lmfit') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported: {out.stdout.strip()}"


def test_every_command_help_works() -> None:
    """Each registered command renders its --help (catches broken option declarations)."""
    import typer.main

    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, f"{name} --help failed:\n{result.output}"
        assert "Example" in result.output or "example" in result.output, f"{name} --help shows no example"
