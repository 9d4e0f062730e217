"""Matplotlib figures used by the CLI and notebooks.

Every function takes an optional ``ax`` (or ``axes``) and returns it, so figures compose. matplotlib is
imported inside the functions: importing this module stays cheap. ``save(fig, path)`` writes a PNG atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save ``fig`` as PNG to ``path`` atomically and close it."""
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _pyplot().close(fig)
    return target


# ---- figures (add new ones below, one function each, each taking ax=None and returning the Axes) ----
