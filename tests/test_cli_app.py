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


# ---- user text is printed as written: no rich markup, no emoji codes, no terminal control ---------------------
def test_escape_removes_terminal_control_and_markup() -> None:
    from scalefit.commands._common import escape

    assert escape("a\x1b[31mred\x1b[0m [red]x:x:\r\x07\tz") == "ared \\[red]x:x:??\tz"


def test_file_names_print_literally(tmp_path, monkeypatch) -> None:
    from test_cli_fit import write_run
    from test_fitting import TISSUE_TRUTH, sim_run, three_schedules

    names = ["run:x:1", "[red]b", "\x1b[31mevil"]
    files = [write_run(tmp_path / f"{name}.csv", sim_run("tissue", TISSUE_TRUTH, lr, seed=i, name=name))
             for i, (name, lr) in enumerate(zip(names, three_schedules().values()))]
    res = runner.invoke(app, ["fit", *map(str, files), "--law", "tissue", "--starts", "4", "--no-law-error"])
    assert res.exit_code == 0, res.output
    assert "run:x:1" in res.stdout and "\u274c" not in res.stdout  # not the :x: emoji
    assert "[red]b" in res.stdout
    assert "\x1b" not in res.output and "evil" in res.stdout  # the colour sequence is gone, the name is shown
    monkeypatch.chdir(tmp_path)  # a short path: the schedule table truncates long cells
    res = runner.invoke(app, ["schedule", "constant:peak=1e-3,total=10", "--out", "[bold]lr:x:.csv"])
    assert res.exit_code == 0 and "[bold]lr:x:.csv" in res.stdout and (tmp_path / "[bold]lr:x:.csv").exists()


def test_warnings_and_errors_print_user_text_literally(tmp_path) -> None:
    bad = tmp_path / "[red]:x:missing.csv"
    res = runner.invoke(app, ["fit", str(bad)])
    assert res.exit_code == 2 and "[red]:x:missing.csv" in res.output and "\u274c" not in res.output
