"""Run files (the per-step CSV of ``scalefit train``, read by :func:`scalefit.readers.read_runs`) as table rows."""

from __future__ import annotations

import math
import warnings
from typing import Iterable

import numpy as np

from scalefit.errors import AssumptionWarning, TableError
from scalefit.runs import stated_floor
from scalefit.tables.table import Table


def final_loss(run: object, k: int = 1) -> tuple[float, str]:
    """Final loss of a run and the rule used: the mean of the last ``k`` observed ``val_loss`` values when the
    run has that column, else of its target (``run.loss``).

    The default ``k=1`` takes the last observation: averaging over a decaying schedule's tail biases upward.
    """
    extra = getattr(run, "extra", {}) or {}
    if "val_loss" in extra and np.isfinite(extra["val_loss"]).any():
        values, name = np.asarray(extra["val_loss"], float), "val_loss"
    else:
        values, name = np.asarray(run.loss, float), str(getattr(run, "target", "loss"))  # type: ignore[attr-defined]
    observed = values[np.isfinite(values)]
    if observed.size == 0:
        raise TableError(f"has no observed '{name}' value; cannot take a final loss.", path=run.path)  # type: ignore
    meta = getattr(run, "meta", {}) or {}
    total = meta.get("total_steps")
    last = int(np.asarray(run.steps)[-1])  # type: ignore[attr-defined]
    if isinstance(total, (int, float)) and last < int(total) - 1:
        raise TableError(
            f"the run stopped at step {last} of its {int(total)} planned steps (metadata total_steps), so its last "
            "loss is not a final loss. Finish it (scalefit train --resume) or leave it out.",
            path=run.path, column="step", value=last)  # type: ignore[attr-defined]
    tail = observed[-k:]
    rule = f"last observed {name}" if k == 1 else f"mean of the last {tail.size} observed {name} values"
    return float(tail.mean()), rule


def table_from_runs(runs: Iterable[object], k: int = 1, params_key: str = "params") -> Table:
    """Turn runs (``scalefit.runs.Run``) into table rows.

    Per run: loss from :func:`final_loss`; N from the ``params`` metadata (or ``params_key``); batch size in tokens
    from ``tokens_per_step`` or ``batch_size`` (sequences) x ``seq_len``; tokens from the last ``tokens`` value if
    logged, else (last step + 1) x batch tokens; lr from ``peak_lr`` metadata, else the schedule's maximum.
    """
    rows = []
    notes: list[str] = []
    for run in runs:
        meta = dict(run.meta)  # type: ignore[attr-defined]
        path = str(run.path)  # type: ignore[attr-defined]
        last_line = int(run.line[-1]) if len(run.line) else 1  # type: ignore[attr-defined]
        loss, rule = final_loss(run, k)
        if params_key not in meta:
            raise TableError(f"has no '{params_key}' metadata (the parameter count N). Add a '# {params_key}: N' "
                             "header line.", path=path, line=1, column=params_key)
        params = float(meta[params_key])
        if "tokens_per_step" in meta:
            batch = float(meta["tokens_per_step"])
        elif "batch_size" in meta and "seq_len" in meta:
            batch = float(meta["batch_size"]) * float(meta["seq_len"])
        else:
            batch = math.nan
        extra = getattr(run, "extra", {}) or {}
        last_step = int(run.steps[-1])  # type: ignore[attr-defined]
        if "tokens" in extra and np.isfinite(extra["tokens"]).any():
            tok = np.asarray(extra["tokens"], float)
            tokens = float(tok[np.isfinite(tok)][-1])
        elif math.isfinite(batch):
            tokens = (last_step + 1) * batch
        else:
            raise TableError("gives neither a 'tokens' column nor 'tokens_per_step' (or batch_size and seq_len) "
                             "metadata, so its training tokens are unknown. Add '# tokens_per_step: B'.",
                             path=path, line=1, column="tokens")
        lr = float(meta["peak_lr"]) if "peak_lr" in meta else float(np.max(run.lr))  # type: ignore[attr-defined]
        floor = stated_floor(meta)
        floor = math.nan if floor is None else floor
        rows.append((params, tokens, loss, lr, batch, path, last_line, floor))
        notes.append(f"{path}: final loss = {rule}.")
    if not rows:
        raise TableError("no runs given. Pass run files or a summary table.")
    arr = np.array([r[:5] for r in rows], dtype=float)
    notes.append("run files: compute C = 6 N D (Kaplan et al. 2020).")
    warnings.warn(f"{len(rows)} run file(s): final loss = {rule}; compute C = 6 N D.", AssumptionWarning,
                  stacklevel=2)
    return Table(
        params=arr[:, 0], tokens=arr[:, 1], loss=arr[:, 2], lr=arr[:, 3], batch_size=arr[:, 4],
        flops=6.0 * arr[:, 0] * arr[:, 1], source=tuple(r[5] for r in rows),
        line=np.array([r[6] for r in rows], dtype=np.int64), compute="6ND", notes=tuple(notes),
        irreducible_loss=np.array([r[7] for r in rows], dtype=float),
    )
