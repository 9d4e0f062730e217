"""Training logs that trainers print as text (nanoGPT, llm.c, modded-nanogpt, torchtitan, Megatron-LM, fairseq),
read through one table of line patterns (:data:`~scalefit.readers.textlog_patterns.PATTERNS`).

Each :class:`LinePattern` names the trainer, a line it reads (tested), a regular expression whose named groups are
fields (``step``, ``loss``, ``val_loss``, ``lr``, ...) and optional fields searched anywhere in the same line (an LR
that some forks print, a gradient norm). A line may carry any prefix (a timestamp, ``[rank0]:``, a logger's
``INFO -``); terminal colour codes are removed first. Lines of one step (nanoGPT's ``step 200: train loss ...,
val loss ...`` and ``iter 200: loss ...``) are merged into one row, so ``--target val_loss`` fits the evaluations.

Nothing is dropped silently: lines that match no pattern are counted and left out with a note naming the first
of them (a warning when some look like a loss value in a format scalefit does not read); a Python traceback is
named, with its exception, and its lines are counted apart; pattern lines that hold no value (modded-nanogpt's
timing-only ``step:N/M train_time:...``) are counted too. Hugging Face's printed dicts (``{'loss': 2.3,
'learning_rate': ...}``) carry no step: they are recognised and refused with the file that has the steps.

Most of these logs print no learning rate. Such a log is an error that asks for the schedule: ``--schedule SPEC``
(``cosine:peak=6e-4,warmup=2000``; its ``total`` defaults to the last step + 1) or ``--schedule-file F``. The
whole file is read into memory (text logs are small next to the CSV logs :mod:`.text` streams).
"""

from __future__ import annotations

import re

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers.contract import ReadOptions
from scalefit.readers.multirun import build_runs
from scalefit.readers.source import Source
from scalefit.readers.table import Column, Table
from scalefit.readers.textlog_patterns import PATTERNS, Fields, LinePattern, matches
from scalefit.runs import Run

__all__ = ["PATTERNS", "LinePattern", "looks_like", "parse", "read"]

_TRACEBACK = b"Traceback (most recent call last):"
_RANK = re.compile(rb"^\[rank\d+\]:\s?")
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")
#: An unmatched line that looks like a logged loss value (a format scalefit does not read): a warning.
_LOSSY = re.compile(rb"(?i)loss[\w ]{0,12}?\s*[:=]?\s*[-+]?\d")


def looks_like(text: str) -> bool:
    """A text log: some line of the file's start is in a known format, and its first line is not a CSV header."""
    data = _ANSI.sub(b"", text.encode("utf-8", errors="replace"))
    raw = np.frombuffer(data, np.uint8)
    starts = np.r_[0, np.flatnonzero(raw == 10) + 1].astype(np.int64)
    lines = [matches(p, data, raw, starts)[0] for p in PATTERNS]
    if not any(ln.size for ln in lines):
        return False
    first = next((k for k in range(starts.size) if _line(data, starts, k).strip()
                  and not _line(data, starts, k).startswith(b"#")), -1)
    if any(first in ln for ln in lines):
        return True
    first_text = _line(data, starts, first).decode("utf-8", errors="replace").strip() if first >= 0 else ""
    cells = re.split(r"[,\t;]", first_text)
    return not (len(cells) > 1 and all(re.fullmatch(r"[\w/ .()\[\]-]*[A-Za-z_][\w/ .()\[\]-]*", c.strip())
                                       for c in cells))


def read(src: Source, opts: ReadOptions) -> list[Run]:
    """Read a text training log into runs; a log without an LR needs ``--schedule`` or ``--schedule-file``."""
    table, used = parse(src)
    if not any(c.name == "lr" for c in table.columns) and opts.schedule is None and opts.schedule_file is None:
        hint = next((f"{p.hint}, the defaults of {p.trainer}" for p in used if p.hint), "cosine:peak=6e-4,warmup=2000")
        trainers = " + ".join(dict.fromkeys(p.trainer for p in used))
        raise RunFileError(
            f"this {trainers} log prints no learning rate (its lines hold the step and the loss). Pass the "
            f"run's schedule: --schedule SPEC (e.g. --schedule {hint}; total defaults to the last step + 1; "
            "constant:peak=LR for a constant LR) or --schedule-file F (CSV step,lr).", path=table.path, column="lr",
            line=int(table.line[0]))
    return build_runs(table, opts)


def parse(src: Source) -> tuple[Table, tuple[LinePattern, ...]]:
    """The rows of a text log (one per step line, in file order) and the patterns that read them; what was left
    out is counted in the table's ``left_out`` and said in its notes."""
    path = src.path
    src.check_text()
    data = src.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:  # CR LF, and a lone CR as an editor breaks lines (progress bars)
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b"\x1b" in data:
        data = _ANSI.sub(b"", data)
    raw = np.frombuffer(data, np.uint8)  # (bytes,)
    starts = np.r_[0, np.flatnonzero(raw == 10) + 1].astype(np.int64)
    if starts[-1] >= len(data):
        starts = starts[:-1]  # the file ends with a newline: no line after it
    n_lines = int(starts.size)
    blank = _blank_lines(raw, starts)
    claimed = np.zeros(n_lines, dtype=bool)
    hits: list[tuple[LinePattern, np.ndarray, Fields]] = []
    for pat in PATTERNS:
        lines, fields = _scan(pat, data, raw, starts, claimed)
        if lines.size:
            claimed[lines] = True
            hits.append((pat, lines, fields))
    tb_lines, tb_text = _tracebacks(data, starts, claimed)
    notes: list[str] = []
    warns: list[str] = []
    left: dict[str, int] = {}
    stepless = [h for h in hits if h[0].stepless]
    hits = [h for h in hits if not h[0].stepless]
    if not hits:
        if stepless:
            raise RunFileError(
                f"{stepless[0][0].trainer}: lines such as {stepless[0][0].shape!r} carry no step, so the "
                "steps of the curve are unknown. Read the trainer_state.json that each checkpoint folder holds "
                "(output_dir/checkpoint-N/trainer_state.json): it has the same entries with their steps.",
                path=path, line=int(stepless[0][1][0]) + 1)
        known = ", ".join(dict.fromkeys(p.trainer for p in PATTERNS if not p.stepless))
        raise RunFileError(f"no line of this text log is in a format scalefit reads ({known}). Convert it to a "
                           "comma-separated CSV with a header, e.g. step,lr,loss.", path=path)
    for pat, lines, _ in stepless:
        left["step-less lines"] = int(lines.size)
        _say(notes, warns, f"left out {lines.size} lines of {pat.trainer} (lines {_first(lines)}): they carry no "
                           "step; the trainer_state.json of a checkpoint folder has them with their steps", warn=True)
    if tb_lines.size:
        left["traceback"] = int(tb_lines.size)
        last_row = max(int(lines.max()) for _, lines, _ in hits)
        where = "ends with" if int(tb_lines.min()) > last_row else "holds"
        _say(notes, warns, f"the log {where} a Python traceback ({tb_text}, lines {int(tb_lines.min()) + 1}.."
                           f"{int(tb_lines.max()) + 1}; {tb_lines.size} lines left out): the run stopped with an "
                           "error" + (" there" if where == "ends with" else ""), warn=True)
    other = ~claimed & ~blank
    if tb_lines.size:
        other[tb_lines] = False
    if other.any():
        idx = np.flatnonzero(other)
        left["lines in no known format"] = int(idx.size)
        lossy = [int(i) for i in idx[:100_000] if _LOSSY.search(_line(data, starts, int(i)))]
        text = (f"left out {idx.size} {'line' if idx.size == 1 else 'lines'} in no known format (lines "
                f"{_first(idx)}; line {int(idx[0]) + 1}: {_show(data, starts, int(idx[0]))})")
        if lossy:
            text += (f"; {len(lossy)} of them look like a logged loss (line {lossy[0] + 1}: "
                     f"{_show(data, starts, lossy[0])}), a format scalefit does not read: check that no curve is "
                     "missed")
        _say(notes, warns, text, warn=bool(lossy))
    return _table(path, hits, notes, warns, left), tuple(p for p, _, _ in hits)


def _scan(pat: LinePattern, data: bytes, raw: np.ndarray, starts: np.ndarray,
          claimed: np.ndarray) -> tuple[np.ndarray, Fields]:
    """(0-based lines the pattern reads that no earlier pattern claimed, field -> (values, printed)) of one pattern.
    ``printed`` says where the line prints the field, so that a printed 'nan' stays a value the checks see."""
    lines, fields = matches(pat, data, raw, starts)
    keep = ~claimed[lines]
    return lines[keep], {k: (v[keep], got[keep]) for k, (v, got) in fields.items()}


def _table(path: str, hits: list[tuple[LinePattern, np.ndarray, Fields]], notes: list[str],
           warns: list[str], left: dict[str, int]) -> Table:
    """The rows of every matched line, in file order; lines that hold no value are left out and counted."""
    lines = np.concatenate([h[1] for h in hits])
    order = np.argsort(lines, kind="stable")
    names = list(dict.fromkeys(["step", *(k for _, _, f in hits for k in f if k != "step")]))
    cols: dict[str, np.ndarray] = {k: np.full(lines.size, np.nan) for k in names}
    printed: dict[str, np.ndarray] = {k: np.zeros(lines.size, dtype=bool) for k in names}
    at = 0
    for _, ln, fields in hits:
        for k, (v, there) in fields.items():
            cols[k][at:at + ln.size] = v
            printed[k][at:at + ln.size] = there
        at += ln.size
    cols = {k: v[order] for k, v in cols.items()}
    printed = {k: v[order] for k, v in printed.items()}
    lines = lines[order]
    counts = ", ".join(f"{ln.size} '{p.shape}'" for p, ln, _ in hits)
    notes.insert(0, f"read as a text log of {_trainers(hits)}: {counts} lines")
    meta = {k: v for p, _, _ in hits for k, v in p.meta}
    if meta.get("loss_unit") == "bits":
        notes.append("fairseq logs its losses in bits (base 2)")
    empty = ~np.any([v for k, v in printed.items() if k != "step"], axis=0)
    if empty.any():
        idx = np.flatnonzero(empty)
        left["lines without a value"] = int(idx.size)
        notes.append(f"left out {idx.size} lines of the trainer's format that log no loss or LR (lines "
                     f"{_first(lines[idx])}; timing or progress lines)")
        keep = ~empty
        cols = {k: v[keep] for k, v in cols.items()}
        printed = {k: v[keep] for k, v in printed.items()}
        lines = lines[keep]
    if "lr" in cols and (coarse := _lr_precision(cols["lr"])):
        notes.append(coarse)
    columns = [Column(k, v, ~printed[k], np.zeros(v.shape, dtype=bool)) for k, v in cols.items() if printed[k].any()]
    return Table(path=path, columns=columns, line=lines + 1, fmt="text", header_line=None, meta=meta, notes=notes,
                 merge_steps=True, what="field", left_out=left, warns=warns)


def _lr_precision(lr: np.ndarray) -> str | None:
    """A note when the LR is printed with so few decimals that a step of the last one exceeds 0.1% of its peak."""
    v = lr[np.isfinite(lr)]
    peak = float(v.max()) if v.size else 0.0
    if v.size < 20 or peak <= 0:
        return None
    for d in range(1, 10):
        scaled = v * 10.0 ** d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            q = 10.0 ** -d
            if q <= 1e-3 * peak:
                return None
            return (f"the LR is printed with {d} decimals, in steps of {q:g} ({q / peak:.2%} of its peak {peak:.4g}): "
                    "small LRs (the start of the warmup, the end of the decay) are rounded")
    return None


def _tracebacks(data: bytes, starts: np.ndarray, claimed: np.ndarray) -> tuple[np.ndarray, str]:
    """(0-based lines of every Python traceback not claimed by a pattern, the exceptions they end with)."""
    out: list[int] = []
    names: list[str] = []
    at = data.find(_TRACEBACK)
    while at >= 0:
        i = int(np.searchsorted(starts, at, side="right")) - 1
        at = data.find(_TRACEBACK, at + 1)
        if claimed[i] or (out and i <= out[-1]):
            continue
        k = i + 1
        while k < starts.size and k - i < 2000:  # the indented frames, to the exception's line
            body = _RANK.sub(b"", _line(data, starts, k))
            if body[:1] in (b" ", b"\t") or not body.strip():
                k += 1
                continue
            names.append(body.split(b":")[0].strip().decode("utf-8", errors="replace")[:60])
            break
        out.extend(range(i, min(k, starts.size - 1) + 1))
    lines = np.unique(np.asarray(out, dtype=np.int64))
    lines = lines[~claimed[lines]] if lines.size else lines
    return lines, ", ".join(dict.fromkeys(names)) or "no exception line"


def _blank_lines(raw: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mask of lines holding only whitespace, shape (lines,) (``raw``: the file's bytes as uint8)."""
    if not starts.size:
        return np.zeros(0, dtype=bool)
    space = np.zeros(256, dtype=bool)
    space[np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8)] = True
    return ~np.logical_or.reduceat(~space[raw], starts)


def _line(data: bytes, starts: np.ndarray, i: int) -> bytes:
    end = int(starts[i + 1]) - 1 if i + 1 < starts.size else len(data)
    return data[int(starts[i]):end]


def _show(data: bytes, starts: np.ndarray, i: int) -> str:
    text = _line(data, starts, i).decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _first(idx: np.ndarray, limit: int = 5) -> str:
    """'3, 7, 12, ...' (1-based lines) of 0-based line indices."""
    body = ", ".join(str(int(i) + 1) for i in idx[:limit])
    return body + (", ..." if idx.size > limit else "")


def _trainers(hits: list[tuple[LinePattern, np.ndarray, dict[str, np.ndarray]]]) -> str:
    return " + ".join(dict.fromkeys(p.trainer for p, _, _ in hits))


def _say(notes: list[str], warns: list[str], text: str, warn: bool) -> None:
    notes.append(text)
    if warn:
        warns.append(text)
