"""A progress bar for long library work (bootstrap refits, start grids), on stderr and only on a terminal."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Optional[Callable[[int, int], None]]]:
    """Yield a ``(done, total)`` callback that drives a rich bar, or None when stderr is not a terminal (logs,
    tests, pipes), so that ``--json`` output and captured logs stay clean."""
    from scalefit.commands._common import err_console

    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=err_console, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
