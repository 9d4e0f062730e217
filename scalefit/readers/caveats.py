"""What the laws assume that a log may break, said when it does: several epochs over the same data, a loss
averaged over the logging interval or rounded, a target that is not a loss; and the default fit window, which
leaves out an obvious initial transient."""

from __future__ import annotations

import numpy as np

from scalefit.readers.table import Column, Table
from scalefit.wording import listed

#: The initial transient: a first loss above FACTOR x the final level, and the rows until the loss is below it.
TRANSIENT_FACTOR = 2.0


def _say(table: Table, text: str, warn: bool = True) -> None:
    table.notes.append(text)
    if warn:
        table.warns.append(text)


def epochs(table: Table, steps: np.ndarray, loss: np.ndarray, epoch: Column | None) -> None:
    """Warn when the rows span several epochs (a column ``epoch``), naming the loss drops at the boundaries."""
    if epoch is None:
        return
    ok = np.isfinite(epoch.values)
    if ok.sum() < 2:
        return
    e, s = epoch.values[ok], steps[ok]
    fractional = np.any(np.abs(e - np.round(e)) > 1e-9)
    if fractional:  # HF: epochs done so far, 0.5, 1.0, 1.5, ...
        n = int(np.ceil(e.max() - 1e-9)) - int(np.floor(e.min() + 1e-9))
        marks = [int(s[np.argmax(e > k + 1e-9)]) for k in range(int(np.floor(e.min() + 1e-9)) + 1,
                                                                  int(np.ceil(e.max() - 1e-9)))]
    else:  # Lightning: the epoch index
        n = int(e.max() - e.min()) + 1
        marks = [int(x) for x in s[1:][np.diff(e) > 0]]
    if n < 2:
        return
    obs = np.isfinite(loss)
    ls, lv = steps[obs], loss[obs]
    # a drop at a boundary counts when it is unusual for this curve: the step between the medians of 5 values
    # before and 5 after, against the same step at evenly spaced places elsewhere (a falling curve falls anyway)
    spots = np.unique(np.linspace(5, lv.size - 5, min(max(lv.size - 9, 0), 2000)).astype(np.int64))
    usual = np.median([np.median(lv[k - 5:k]) - np.median(lv[k:k + 5]) for k in spots]) if spots.size else 0.0
    spread = np.median(np.abs(np.diff(lv))) if lv.size > 2 else 0.0
    drops = []
    for m in marks:
        k = int(np.searchsorted(ls, m))
        if 0 < k < lv.size:
            d = float(np.median(lv[max(0, k - 5):k]) - np.median(lv[k:k + 5]))
            if d > usual + 3 * max(spread, 1e-12) and d > 0:
                drops.append(f"{d:.3g} at step {m}")
    seen = (f"; the loss drops at epoch boundaries ({listed(drops, 3)}) as "
            "the model sees its data again") if drops else ""
    fix = f" Fit the first epoch (--max-step {marks[0] - 1}), or" if marks else ""
    _say(table, f"the run spans {n} epochs ({table.what} '{epoch.name}'): a multi-epoch run{seen}. The laws assume "
                f"each step sees new data.{fix} expect a biased fit.")


def averaged(table: Table, target: Column, loss: np.ndarray, interval: int) -> None:
    """Hugging Face's training ``loss``: the mean over each logging interval, rounded to 4 decimals."""
    if table.fmt != "hf" or target.name != "loss":
        return
    if interval > 1:
        _say(table, f"HF's 'loss' is the mean training loss over each logging interval ({interval} steps), rounded "
                    "to 4 decimals; the laws describe the loss at a step, so each row lags its step by about half an "
                    "interval")
    else:
        _say(table, "HF's 'loss' is rounded to 4 decimals: changes below 5e-05 are lost")


def rounded(table: Table, target: Column, loss: np.ndarray) -> None:
    """A note when every target value has at most 4 decimals (rounded when logged)."""
    v = loss[np.isfinite(loss)]
    if v.size < 20 or (table.fmt == "hf" and target.name == "loss"):
        return
    if v.size > 20_000:
        v = v[np.linspace(0, v.size - 1, 20_000).astype(np.int64)]  # evenly spaced: enough to tell
    for d in (2, 3, 4):
        scaled = v * 10.0 ** d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            _say(table, f"the '{target.name}' values have at most {d} decimals (rounded when logged): changes below "
                        f"{0.5 * 10.0 ** -d:g} are lost", warn=False)
            return


def unit(table: Table, target: Column, unit: str) -> None:
    """A warning when the target is not a loss (a perplexity or an error rate): the laws describe a loss."""
    if unit == "perplexity":
        _say(table, f"'{target.name}' reads as a perplexity (its name); the laws describe a loss, its log. Fit the "
                    "loss column if there is one")
    elif unit == "WER":
        _say(table, f"'{target.name}' reads as a word error rate (its name); the laws describe a loss, so a fit "
                    "of it is an empirical curve at best")


def default_window(table: Table, steps: np.ndarray, loss: np.ndarray, warmup: int,
                   step0: int) -> tuple[int | None, int | None]:
    """The fit window when none is given: from the end of an obvious initial transient, else everything.

    A transient: no warmup (the LR is at its peak from the start), the log starts at the run's start, and its
    first loss is above ``TRANSIENT_FACTOR`` times the final level (the median of the last 5% of observed
    values). The window then starts where three of five consecutive values first fall below that factor.
    """
    obs = np.flatnonzero(np.isfinite(loss))
    if warmup > 0 or step0 > 0 or obs.size < 20 or steps[obs[0]] > max(1, int(np.median(np.diff(steps[obs])))):
        return None, None
    v = loss[obs]
    final = float(np.median(v[-max(5, v.size // 20):]))
    if not v[0] > TRANSIENT_FACTOR * final:
        return None, None
    below = (v < TRANSIENT_FACTOR * final).astype(np.int8)
    run = np.convolve(below, np.ones(5, dtype=np.int8), mode="valid") >= 3
    if not run.any():
        return None, None
    k = int(np.argmax(run))
    k += int(np.argmax(below[k:]))  # the first value below, inside that stretch
    start = int(steps[obs[k]])
    if start <= int(steps[obs[0]]) or k > 0.5 * v.size:
        return None, None
    _say(table, f"fit window starts at step {start} by default: the loss starts at {v[0]:.4g}, far above its final "
                f"level {final:.4g}, and stays above {TRANSIENT_FACTOR:g}x that level until then, an initial "
                f"transient the laws do not describe ({k} observed rows left out of the fit; the LR history is "
                "kept). Pass --min-step 0 to fit them", warn=True)
    return start, None
