"""Progress of a run: a rich bar on a terminal, plain lines in logs (both on stderr), or nothing."""

from __future__ import annotations

import sys


class Progress:
    """Shows step, loss, LR, tokens/s and the last val_loss; ``mode`` is auto, rich, plain or none."""

    def __init__(self, mode: str, total: int, start: int, label: str) -> None:
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "plain"
        self.mode = mode
        self.total = total
        self.every = max(1, total // 20)
        self.label = label
        self._bar = None
        if mode == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
            from rich.progress import TimeRemainingColumn

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False,
                console=Console(stderr=True),  # stdout stays for the command's result line
            )
            self._bar.start()
            from rich.markup import escape

            self._task = self._bar.add_task(escape(label), total=total, completed=start, info="")

    def update(self, step: int, loss: float, lr: float, tok_s: float | None, val: float | None) -> None:
        info = f"loss {loss:.4f}  lr {lr:.2e}" + (f"  {tok_s:,.0f} tok/s" if tok_s else "")
        if val is not None:
            info += f"  val {val:.4f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step + 1, info=info)
        elif self.mode == "plain" and ((step + 1) % self.every == 0 or step + 1 == self.total or val is not None):
            print(f"{self.label} step {step + 1}/{self.total}  {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
