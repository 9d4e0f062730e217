"""Reference runs for ``benchmarks/extrapolation.py``: the MPL curves with their model sizes, and the Schaipp et al.
runs as validation-loss curves with the LR of their training logs and a model size computed from their shape.

Schaipp runs
------------
``curve_fit.schaipp_load(resumed=True)`` reads every 50-step training log (a resumed log keeps each step's latest
row) and rebuilds the LR of the cooldown-only segments before their checkpoint. Here each run keeps that per-step LR
but its loss rows are replaced by the *validation* loss of the same run (``main/val``, every 200 steps, a fixed
held-out set): the training loss of a step depends on which batches it saw (two runs at the same step and LR differ
by up to 0.1 nats in the 500-step mean on these files), which is no property of the schedule. Repeated steps of a
resumed validation log keep their latest row; rows after the training log's last step are dropped (their LR is not
known); the step-0 row lies inside the warmup, which no law fits.

Model size: ``N = 12 * n_layer * n_embd^2`` (non-embedding parameters; attention 4 d^2 plus an MLP of 8 d^2 per layer:
GPT-2's 4d hidden width, or Llama's SwiGLU with 8d/3 hidden units, which is also 8 d^2; Kaplan et al. 2020, eq. 2.1).
Embeddings and norms are left out, as in Kaplan et al. and Chinchilla's N.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

REF = (HERE.parent / ".." / "shared" / "reference").resolve()
MPL = REF / "curves" / "mpl"
MPL_SCHEDULES = ("constant_24000", "constant_72000", "cosine_24000", "cosine_72000", "wsd_20000_24000",
                 "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18")
#: The MPL models' sizes as named by the source (25M, 100M); their non-embedding counts are not published.
MPL_SIZES = {"25M": 25e6, "100M": 100e6}


def n_params(n_layer: int, n_embd: int) -> float:
    """Non-embedding parameters of a GPT/Llama block stack: ``12 * n_layer * n_embd^2`` (see the module docstring)."""
    return 12.0 * int(n_layer) * int(n_embd) ** 2


def with_size(run: Any, n: float) -> Any:
    return dataclasses.replace(run, meta={**run.meta, "params": float(n)})


def mpl_runs(size: str, names: tuple[str, ...] | list[str] = MPL_SCHEDULES) -> list:
    """The MPL reference curves of ``size`` (per-step LR from the schedule files), with ``params`` set."""
    from curve_fit import load

    return [with_size(r, MPL_SIZES[size]) for r in load(size, list(names))]


def _read_val(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, validation loss and file lines of a val CSV; a repeated step keeps its last row; sorted by step."""
    steps, loss, lines = [], [], []
    with open(path, newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if row["loss"] in ("", None):
                continue
            steps.append(int(float(row["step"])))
            loss.append(float(row["loss"]))
            lines.append(i + 2)
    s, l, ln = np.array(steps, dtype=np.int64), np.array(loss), np.array(lines, dtype=np.int64)
    keep = {}
    for j, st in enumerate(s):
        keep[int(st)] = j  # the latest row of a step wins
    idx = np.array(sorted(keep.values(), key=lambda j: s[j]), dtype=np.int64)
    return s[idx], l[idx], ln[idx]


def schaipp_runs() -> tuple[list[dict], list[dict]]:
    """Every readable Schaipp main run as a validation-loss run (see the module docstring).

    Returns (members, excluded): each member is ``{"row": index row, "run": Run, "kind": "full" | "segment",
    "N": model size, "family": (dataset, batch, acc_steps), "lr": base LR, "horizon": iterations, "label": str}``.
    """
    from curve_fit import SCHAIPP, schaipp_load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups, excluded = schaipp_load(resumed=True)
    out = []
    for key, members in sorted(groups.items()):
        for m in members:
            row, run = m["row"], m["run"]
            vpath = SCHAIPP / "main" / "val" / f"{row['name']}.csv"
            steps, loss, lines = _read_val(vpath)
            last = int(run.step0) + run.n_steps - 1
            ok = (steps >= int(run.step0)) & (steps <= last) & np.isfinite(loss) & (loss > 0)
            if int(ok.sum()) < 3:
                excluded.append({"name": row["name"], "reason": f"{int(ok.sum())} validation rows inside its LR log"})
                continue
            vrun = dataclasses.replace(run, path=str(vpath), steps=steps[ok], loss=loss[ok], line=lines[ok], extra={},
                                       target="val_loss", dense=False)
            N = n_params(row["n_layer"], row["n_embd"])
            out.append({"row": row, "run": with_size(vrun, N), "kind": m["kind"], "N": N,
                        "family": (row["dataset"], row["batch_size"], row["acc_steps"]), "lr": float(row["lr"]),
                        "horizon": int(row["iterations"]), "label": _label(row, m["kind"])})
    return out, excluded


def _label(row: dict, kind: str) -> str:
    shape = row["scheduler"] + (f"-{row['decay_type']}" if row["decay_type"] else "")
    if row["scheduler"] == "wsd":
        frac = float(row["wsd_fract_decay"] or 0)
        shape = shape + (f"-{frac:g}" if frac > 0 else "-constant")
    return f"L{row['n_layer']}d{row['n_embd']} lr{row['lr']} {shape} T={row['iterations']}" + (
        " (segment)" if kind == "segment" else "")


def truth(run: Any) -> tuple[int, float]:
    """The last observed row after warmup: (step, loss)."""
    ok = run.after_warmup
    return int(run.steps[ok][-1]), float(run.loss[ok][-1])
