"""What every command shares: user errors become one red line and exit code 2, warnings are printed, JSON
goes to stdout alone.

Imports here must stay light (typer, rich): this module is loaded for ``scalefit --help``.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from scalefit.errors import ScalefitError, ScalefitWarning

F = TypeVar("F", bound=Callable[..., Any])

#: Human-facing messages go to stderr so that ``--json`` keeps stdout pure JSON.
#: No emoji codes: user text such as ``run:x:1.csv`` prints as written.
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def console() -> Console:
    """A console on the current stdout (looked up per call so CliRunner's captured stdout is used)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, emoji=False)


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    """Print one error line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


#: An ANSI escape sequence (CSI ..., or ESC and one character), and any other control character but newline and tab.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """User text (file names, column names, messages) made safe to print: ANSI escape sequences removed, other
    control characters shown as ``?``, rich markup escaped (``[red]`` in a file name prints literally)."""
    from rich.markup import escape as _escape

    return _escape(_CONTROL.sub("?", _ANSI.sub("", str(text))))


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (numpy types converted; NaN/inf become null)."""
    from scalefit.jsonio import dumps

    typer.echo(dumps(obj))


def user_command(fn: F) -> F:
    """Wrap a command: ScalefitError -> one line + exit 2; ScalefitWarning -> printed ``warning:`` lines."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScalefitWarning)
            try:
                return fn(*args, **kwargs)
            except ScalefitError as exc:
                _flush(caught)
                fail(str(exc))
            finally:
                _flush(caught)

    return wrapper  # type: ignore[return-value]


def _flush(caught: list[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            warn(escape(text))
    caught.clear()


def multi_value_command(*options: str) -> type:
    """A typer command class whose listed options take several values after one flag.

    ``--train a.csv b.csv --test c.csv`` (what a shell glob produces) is rewritten to
    ``--train a.csv --train b.csv --test c.csv`` before click parses it; repeating the flag still works.
    """
    from typer.core import TyperCommand

    names = frozenset(options)

    class MultiValueCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            out: list[str] = []
            current: str | None = None
            for arg in args:
                if arg in names:
                    current = arg
                elif arg.startswith("-") and arg != "-":
                    current = None
                    out.append(arg)
                elif current is not None:
                    out += [current, arg]
                else:
                    out.append(arg)
            if current is not None and (not out or out[-1] == current or out[-2:-1] != [current]):
                out.append(current)  # a trailing flag with no value: let click report it
            return super().parse_args(ctx, out)

    return MultiValueCommand
