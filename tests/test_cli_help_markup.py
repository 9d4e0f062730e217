"""Every ``--help`` shows its square brackets: the app renders help with rich markup, which eats ``[word]``
(``pip install 'scalefit-lm[slurm]'`` printed as ``pip install 'scalefit-lm'``) unless it is escaped, and crops a
word longer than the help column (at 80 columns, the common terminal) with an ellipsis."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from scalefit.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands.items())


def _plain(text: str) -> str:
    """Help text as shown: markup escapes removed, whitespace and the panels' box characters dropped."""
    return re.sub(r"[\s│╭╮╰╯─]+", "", text.replace("\\[", "["))


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_square_brackets_in_help_survive_rich_markup(name, command) -> None:
    output = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "80"}).output
    assert "…" not in output, f"scalefit {name} --help crops a word: {[x for x in output.splitlines() if '…' in x]}"
    shown = _plain(output)
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    brackets = [m.group(0) for t in texts for m in re.finditer(r"\[[^\]\n]*\]", t.replace("\\[", "["))]
    missing = [b for b in brackets if _plain(b) not in shown]
    assert not missing, f"scalefit {name} --help lost {missing}"


def test_sweep_help_names_the_slurm_extra() -> None:
    out = CliRunner().invoke(app, ["sweep", "--help"], env={"COLUMNS": "80"}).output
    assert "pip install 'scalefit-lm[slurm]'" in out
