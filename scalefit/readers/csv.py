"""scalefit's native run file: CSV with ``step,lr,loss`` (+ any columns) and optional ``# key: value`` metadata.

The CSV text itself is parsed by :mod:`scalefit.readers.text` (shared by the W&B and Lightning readers); this
module reads the native file and W&B history exports (the same shape, with ``_step`` and aliased columns). A
column ``run`` (or ``run_name``, ``run_id``, ``name``) with several values makes one run per value
(:mod:`scalefit.readers.multirun`).

Format
------
::

    # params: 98624          <- optional metadata, before the header; values read as int/float when numeric
    # warmup_steps: 100
    step,lr,loss,val_loss
    0,1e-05,4.85,4.86
    1,2e-05,4.84,            <- an empty cell is "not measured on this step"

Blank lines and lines starting with ``#`` after the header are comments. Tab- and ``;``-separated files are
read when the header uses that delimiter and holds no comma (a note says so). Quoted cells follow RFC 4180.
"""

from __future__ import annotations

from scalefit.readers.contract import ReadOptions
from scalefit.readers.multirun import build_runs
from scalefit.readers.source import Source
from scalefit.readers.text import parse_csv
from scalefit.runs import Run


def read(src: Source, opts: ReadOptions, fmt: str = "csv") -> list[Run]:
    """Read a native run-file CSV (also W&B history exports, which are the same shape) into runs."""
    return build_runs(parse_csv(src, fmt=fmt), opts)
