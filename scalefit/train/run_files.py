"""The files of one run (the run file, its checkpoint, its lock), checked before any work.

``scalefit train --out run.ckpt`` once wrote rows and checkpoints into one file (the checkpoint path is ``OUT``
with suffix ``.ckpt``), destroying the run and reporting success. :func:`run_paths` refuses every such
collision, and an output that is an input (``--out`` = the schedule file or the text corpus), with one line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from scalefit.errors import ScalefitError
from scalefit.jsonio import check_out_path
from scalefit.train.config import TrainConfig
from scalefit.train.runlock import lock_path


@dataclass(frozen=True)
class RunPaths:
    """Where one run writes: ``out`` is the file the rows reach (a symbolic link's target)."""

    out: Path
    checkpoint: Path
    lock: Path

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files a killed writer of this run left (call it holding the run's lock)."""
        removed = []
        for target in (self.out, self.checkpoint):
            pattern = re.compile(r"\." + re.escape(target.name) + r"\.[A-Za-z0-9_]{8}\.tmp")  # mkstemp's names
            try:
                names = os.listdir(target.parent)
            except OSError:
                continue
            for name in names:
                if pattern.fullmatch(name):
                    try:
                        os.unlink(target.parent / name)
                        removed.append(target.parent / name)
                    except OSError:
                        pass
        return removed


def run_paths(cfg: TrainConfig) -> RunPaths:
    """Check the run's output paths before any work and return them.

    Raises :class:`~scalefit.jsonio.OutputFileError` for an ``--out`` that is a folder, a device, a FIFO or in a
    folder that cannot be written, and :class:`ScalefitError` when two of the run's files are one file.
    """
    out = check_out_path(cfg.out, special=False, flag="--out")
    checkpoint = check_out_path(cfg.checkpoint_path, special=False, flag="the checkpoint path")
    paths = RunPaths(out=out, checkpoint=checkpoint, lock=lock_path(out))
    files = [("the run file (--out)", out), ("its checkpoint", checkpoint), ("its lock file", paths.lock)]
    inputs = [("the schedule file (--schedule-file)", cfg.schedule_file), ("the text corpus (--data)", cfg.data)]
    files += [(name, Path(p)) for name, p in inputs if p and Path(p).is_file()]
    seen: dict[str, str] = {}
    for name, path in files:
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise ScalefitError(
                f"{seen[key]} and {name} are the same file ({path}): one would overwrite the other. "
                f"{_advice(cfg)}", path=str(cfg.out))
        seen[key] = name
    return paths


def _advice(cfg: TrainConfig) -> str:
    out = Path(cfg.out)
    if out.suffix in (".ckpt", ".lock"):
        return f"Name the run file {out.with_suffix('.csv').name} (its checkpoint is then {out.stem}.ckpt)."
    return "Give --out (or the checkpoint path) another name."
