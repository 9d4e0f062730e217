"""The line patterns of :mod:`scalefit.readers.textlog`: one table (:data:`PATTERNS`) of the lines that trainers
print, and the search that finds them in a file (:func:`matches`).

A line may carry any prefix (a timestamp, ``[rank0]:``, a logger's ``INFO -``), but a pattern must not continue a
word (``subiter 5: loss`` is not nanoGPT's ``iter 5: loss``), which is checked on the byte before each match. Named
groups are fields; ``optional`` fields are looked for in the rest of the line, in any order. One pass of one regex
per pattern reads a file, and a pattern whose fixed text (``s:``, `` tel:``) the file lacks is skipped by a byte
search: a 1M-line log reads in seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"


def _n(name: str) -> str:
    return rf"(?P<{name}>{_NUM})"


def _opt(name: str, before: str) -> tuple[str, str]:
    """An optional field: the text ``before`` (where no word continues into it), then a number, later in the line."""
    return name, before


@dataclass(frozen=True)
class LinePattern:
    """One kind of line a trainer prints: its ``shape`` in words, a real ``example`` line (the tests read it),
    ``regex`` (named groups are fields; ``step`` is required unless ``stepless``), ``optional`` fields looked for
    in the rest of the line, and ``meta`` the pattern implies."""

    trainer: str
    shape: str
    example: str
    regex: str
    optional: tuple[tuple[str, str], ...] = ()
    meta: tuple[tuple[str, Any], ...] = ()
    stepless: bool = False
    hint: str = ""  # the schedule of the trainer's defaults as a spec, for the no-LR error

    @property
    def full(self) -> str:
        """``regex`` and each optional field as a lookahead over the rest of the line (its group None if absent)."""
        return self.regex + "".join(rf"(?=(?:[^\n]*?(?<![\w/.]){before}(?P<{name}>{_NUM}))?)"
                                    for name, before in self.optional)

    def compiled(self) -> re.Pattern[bytes]:
        return compiled(self.full)


_NANOGPT = "cosine:peak=6e-4,warmup=2000,total=600000,final=6e-5"  # nanoGPT train.py's defaults
_FAIRSEQ = (("loss_unit", "bits"),)  # fairseq logs the loss in base 2

#: Every line format the reader knows; the first pattern that matches a line reads it (specific ones first).
PATTERNS: tuple[LinePattern, ...] = (
    # nanoGPT (karpathy/nanoGPT train.py and its forks)
    LinePattern("nanoGPT", "step N: train loss X, val loss Y",
                "step 200: train loss 6.6253, val loss 6.6336",
                rf"step (?P<step>\d+): train loss {_n('eval_train_loss')}, val loss {_n('val_loss')}", hint=_NANOGPT),
    LinePattern("nanoGPT", "iter N: loss X",
                "iter 200: loss 6.6391, time 9128.87ms, mfu 97.88%",
                rf"iter (?P<step>\d+): loss {_n('loss')}", (_opt("lr", r"lr[:=]?\s*"),), hint=_NANOGPT),
    # llm.c: its log file (-o), and its stdout
    LinePattern("llm.c", "s:N tel:X",
                "s:250 tel:6.1710",
                rf"s:(?P<step>\d+) tel:{_n('val_loss')}"),
    LinePattern("llm.c", "s:N trl:X",
                "s:0 trl:11.0091 lr:0.000001 norm:15.37",
                rf"s:(?P<step>\d+) trl:{_n('loss')}", (_opt("lr", r"lr:"), _opt("grad_norm", r"norm:"))),
    LinePattern("llm.c", "step N/M | train loss X",
                "step    1/19560 | train loss 11.009143 | norm 15.3716 | lr 1.00e-06 | 1234.56 ms",
                rf"step\s+(?P<step>\d+)/\d+ \| train loss {_n('loss')}",
                (_opt("lr", r"\| lr "), _opt("grad_norm", r"\| norm "))),
    # modded-nanogpt (train_loss on early records, timing only on later ones; val_loss every k steps)
    LinePattern("modded-nanogpt", "step:N/M",
                "step:125/1385 val_loss:4.3930 train_time:14290ms step_avg:124.26ms",
                r"step:(?P<step>\d+)/\d+\b",
                (_opt("loss", r"train_loss:"), _opt("val_loss", r"val_loss:"), _opt("lr", r"lr:"))),
    # torchtitan (its metrics logger; colour codes are removed first)
    LinePattern("torchtitan", "validate step: N loss: X",
                "validate step: 5728  loss:  3.3253",
                rf"validate step:\s*(?P<step>\d+)\s+loss:\s*{_n('val_loss')}"),
    LinePattern("torchtitan", "step: N loss: X",
                "step: 6922  loss:  3.3222  grad_norm:  0.9790  memory: 12.25GiB(12.90%)  tps: 500,705",
                rf"step:\s*(?P<step>\d+)(?:/\d+)?\s+loss:\s*{_n('loss')}",
                (_opt("lr", r"lr:\s*"), _opt("grad_norm", r"grad_norm:\s*"))),
    # Megatron-LM (and GPT-NeoX, which prints the same lines)
    LinePattern("Megatron-LM", "validation loss at iteration N",
                " validation loss at iteration 1000 | lm loss value: 5.123456E+00 | lm loss PPL: 167.9 |",
                rf"validation loss at iteration (?P<step>\d+)[^|\n]*\| lm loss value: {_n('val_loss')}"),
    LinePattern("Megatron-LM", "iteration N/M |",
                " iteration     4873/   10000 | consumed samples:       311872 | learning rate: 1.500E-04 | "
                "global batch size:    64 | lm loss: 3.296875E+00 | grad norm: 0.430 |",
                r"iteration\s+(?P<step>\d+)\s*/\s*\d+\s*\|",
                (_opt("loss", r"lm loss: "), _opt("lr", r"learning rate: "), _opt("grad_norm", r"grad norm: "))),
    # fairseq (--log-format simple, the default when not on a terminal)
    LinePattern("fairseq", "epoch E: i / n loss=X, ... num_updates=N",
                "epoch 001:    100 / 1234 loss=9.563, nll_loss=9.5, ppl=756.2, num_updates=100, lr=1.25e-05, gnorm=2.1",
                rf"epoch \d+:\s*\d+\s*/\s*\d+ loss={_n('loss')},[^\n]*?\bnum_updates=(?P<step>\d+)",
                (_opt("lr", r"lr="), _opt("grad_norm", r"gnorm=")), meta=_FAIRSEQ),
    LinePattern("fairseq", "valid on S subset | loss X | ... num_updates N",
                "epoch 001 | valid on 'valid' subset | loss 8.123 | nll_loss 8.1 | num_updates 1234",
                rf"valid on '[^'\n]*' subset \| loss {_n('val_loss')} \|[^\n]*?\bnum_updates (?P<step>\d+)",
                meta=_FAIRSEQ),
    # Hugging Face Trainer's console: recognised, refused (no step)
    LinePattern("Hugging Face Trainer (printed dicts)", "{'loss': X, ...}",
                "{'loss': 2.3456, 'grad_norm': 1.23, 'learning_rate': 4.9e-05, 'epoch': 0.02}",
                rf"\{{'(?:loss|eval_loss)': (?:{_NUM}),", stepless=True),
)

#: Bytes that continue a word: a pattern or an optional field must not start right after one ('subiter 5: ...').
_WORD = np.zeros(256, dtype=bool)
_WORD[np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.", np.uint8)] = True
_CACHE: dict[str, re.Pattern[bytes]] = {}


def compiled(regex: str) -> re.Pattern[bytes]:
    """The regex as bytes, unanchored (a line may carry any prefix; the word boundary is checked by :func:`matches`)."""
    if regex not in _CACHE:
        _CACHE[regex] = re.compile(regex.encode())
    return _CACHE[regex]


def literals(regex: str) -> list[bytes]:
    r"""The fixed texts every match of ``regex`` contains (``s:`` and `` tel:`` of ``s:(?P<step>\d+) tel:...``): the
    runs of plain characters outside groups, classes and quantified characters; none after a top-level ``|``."""
    runs: list[str] = []
    cur: list[str] = []
    depth = i = 0
    while i < len(regex):
        c = regex[i]
        step = 1
        if c == "\\":
            step = 2
            if depth == 0 and i + 1 < len(regex) and not regex[i + 1].isalnum():
                cur.append(regex[i + 1])
                i += step
                continue
        elif c == "[":
            close = regex.find("]", i + 2)
            step = (close - i + 1) if close > 0 else len(regex) - i
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c in "*?+{":
            if cur:
                cur.pop()  # the character before a quantifier may be absent or repeated
            if c == "{":
                close = regex.find("}", i)
                step = (close - i + 1) if close > 0 else len(regex) - i
        elif c == "|" and depth == 0:
            return []
        elif depth == 0 and c not in ".^$*?+{}":
            cur.append(c)
            i += 1
            continue
        runs.append("".join(cur))
        cur = []
        i += step
    runs.append("".join(cur))
    return [r.encode() for r in runs if r]


#: Matches converted to arrays at a time (a Match object per line would cost ~200 bytes each for a whole file).
CHUNK = 1 << 16

Fields = dict[str, tuple[np.ndarray, np.ndarray]]  # field -> (values (n,) float64, printed (n,) bool)


def matches(pat: LinePattern, data: bytes, raw: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, Fields]:
    """The first match of ``pat`` on each line that does not continue a word: (0-based lines, shape (n,), and each
    field's values and whether the line printed it). ``raw`` is ``data`` as uint8, shape (bytes,); ``starts`` each
    line's offset."""
    rx = pat.compiled()
    names = list(rx.groupindex)
    pos_parts: list[np.ndarray] = []
    val_parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    got_parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    if all(lit in data for lit in literals(pat.regex)):  # a fast byte search first: most patterns are absent
        pos: list[int] = []
        texts: list[list[bytes | None]] = [[] for _ in names]
        for m in rx.finditer(data):
            pos.append(m.start())
            for t, k in zip(texts, names):
                t.append(m.group(k))
            if len(pos) >= CHUNK:
                _flush(pos, texts, names, pos_parts, val_parts, got_parts)
        _flush(pos, texts, names, pos_parts, val_parts, got_parts)
    if not pos_parts:
        return np.zeros(0, dtype=np.int64), {n: (np.zeros(0), np.zeros(0, dtype=bool)) for n in names}
    at = np.concatenate(pos_parts)
    ok = (at == 0) | ~_WORD[raw[np.maximum(at - 1, 0)]]
    lines = np.searchsorted(starts, at[ok], side="right") - 1
    first = np.r_[True, lines[1:] != lines[:-1]] if lines.size else np.zeros(0, dtype=bool)
    fields = {n: (np.concatenate(val_parts[n])[ok][first], np.concatenate(got_parts[n])[ok][first]) for n in names}
    return lines[first], fields


def _flush(pos: list[int], texts: list[list[bytes | None]], names: list[str], pos_parts: list[np.ndarray],
           val_parts: dict[str, list[np.ndarray]], got_parts: dict[str, list[np.ndarray]]) -> None:
    """Move the collected matches into arrays (and empty the lists)."""
    if not pos:
        return
    pos_parts.append(np.asarray(pos, dtype=np.int64))
    for n, t in zip(names, texts):
        got = np.fromiter((x is not None for x in t), dtype=bool, count=len(t))
        val_parts[n].append(numbers([x if x is not None else b"nan" for x in t]))
        got_parts[n].append(got)
        t.clear()
    pos.clear()


def numbers(texts: list[bytes]) -> np.ndarray:
    """Printed numbers as float64, shape (n,) (numpy parses the bytes: '1.5E+00', 'nan', '-inf')."""
    return np.array(texts, dtype=np.bytes_).astype(np.float64) if texts else np.zeros(0)
