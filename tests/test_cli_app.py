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


def test_multi_value_options_take_a_shell_glob() -> None:
    """`--train a b --test c` (a shell glob after one flag) means the same as repeating the flag."""
    import typer

    from scalefit.commands._common import multi_value_command

    demo = typer.Typer()

    @demo.command(cls=multi_value_command("--train", "--test"))
    def run(train: list[str] = typer.Option(...), test: list[str] = typer.Option(...), law: str = "mpl") -> None:
        typer.echo(f"{train}|{test}|{law}")

    @demo.command()
    def other() -> None:  # a second command keeps typer from collapsing the app into one command
        pass

    out = runner.invoke(demo, ["run", "--train", "a", "b", "--law", "tissue", "--test", "c", "d"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "['a', 'b']|['c', 'd']|tissue"
    out = runner.invoke(demo, ["run", "--train", "a", "--train", "b", "--test", "c"])
    assert out.output.strip() == "['a', 'b']|['c']|mpl"
    out = runner.invoke(demo, ["run", "--train", "a", "--test"])
    assert out.exit_code == 2
