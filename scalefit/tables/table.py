"""The :class:`Table` type: one row per finished run, in base units, with where each row came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from scalefit.errors import TableError

#: Quantities a caller may require; "batch_size" means a batch size in tokens can be formed.
QUANTITIES = ("params", "tokens", "loss", "lr", "batch_size")


@dataclass(frozen=True, eq=False)
class Table:
    """Rows of finished runs, in base units. Arrays have shape (n,); NaN marks a quantity a row does not give.

    Attributes
    ----------
    params, tokens : ndarray
        N (non-embedding parameters) and D (training tokens).
    loss : ndarray
        Final loss, nats/token.
    lr : ndarray
        Peak learning rate (NaN when the table has none).
    batch_size : ndarray
        Batch size in tokens (NaN when the table has none).
    flops : ndarray
        Training compute C in FLOPs: the ``flops`` column when given, else 6 N D.
    source, line : tuple of str, ndarray of int
        File and 1-based line of every row (a run file's rows point at its last line).
    compute : str
        How ``flops`` was defined, in words ("6ND" or "flops column" or a mix).
    notes : tuple of str
        Every assumption the reader made.
    irreducible_loss : ndarray or None
        The data's known loss floor per row (run files' ``irreducible_loss`` metadata; NaN where a row does not
        state one), or None for tables that cannot state one (summary CSVs). :meth:`known_floor` turns it into one
        number.
    """

    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    batch_size: np.ndarray
    flops: np.ndarray
    source: tuple[str, ...]
    line: np.ndarray
    compute: str = "6ND"
    notes: tuple[str, ...] = field(default_factory=tuple)
    irreducible_loss: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def known_floor(self) -> float | None:
        """The smallest stated irreducible loss when every row states one (else None: the floor is not known)."""
        f = self.irreducible_loss
        if f is None or len(f) == 0 or not np.all(np.isfinite(f)):
            return None
        return float(np.min(f))

    def where(self, i: int) -> str:
        """``path:line`` of row ``i``, for messages."""
        return f"{self.source[i]}:{int(self.line[i])}"

    def select(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is true (a boolean or index array)."""
        idx = np.arange(len(self))[mask]
        return Table(
            params=self.params[idx], tokens=self.tokens[idx], loss=self.loss[idx], lr=self.lr[idx],
            batch_size=self.batch_size[idx], flops=self.flops[idx],
            source=tuple(self.source[i] for i in idx), line=self.line[idx], compute=self.compute, notes=self.notes,
            irreducible_loss=None if self.irreducible_loss is None else self.irreducible_loss[idx],
        )

    def require(self, *quantities: str, purpose: str) -> None:
        """Raise :class:`TableError` unless every row gives each of ``quantities`` (names from QUANTITIES)."""
        for q in quantities:
            values = getattr(self, q)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                column = "batch_size_tokens (or batch_size + seq_len)" if q == "batch_size" else q
                raise TableError(
                    f"{purpose} needs '{column}' on every row, but {bad.size} row(s) lack it (first here). "
                    f"Add the column to the table (or the metadata '{q}' to the run file).",
                    path=self.source[i], line=int(self.line[i]), column=q,
                )


def concat(tables: Sequence[Table]) -> Table:
    """Join tables row-wise; the compute definition becomes a mix when they differ."""
    if len(tables) == 1:
        return tables[0]
    kinds = sorted({t.compute for t in tables})
    notes: list[str] = []
    for t in tables:
        notes.extend(n for n in t.notes if n not in notes)
    return Table(
        params=np.concatenate([t.params for t in tables]),
        tokens=np.concatenate([t.tokens for t in tables]),
        loss=np.concatenate([t.loss for t in tables]),
        lr=np.concatenate([t.lr for t in tables]),
        batch_size=np.concatenate([t.batch_size for t in tables]),
        flops=np.concatenate([t.flops for t in tables]),
        source=tuple(s for t in tables for s in t.source),
        line=np.concatenate([t.line for t in tables]),
        irreducible_loss=None if all(t.irreducible_loss is None for t in tables) else np.concatenate(
            [np.full(len(t), np.nan) if t.irreducible_loss is None else t.irreducible_loss for t in tables]),
        compute=kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds),
        notes=tuple(notes),
    )


@dataclass(frozen=True, eq=False)
class Points:
    """Runs to predict: N and D of each (shape (n,)), their compute when the table gives it, and the file lines."""

    params: np.ndarray
    tokens: np.ndarray
    flops: np.ndarray | None
    source: str
    line: np.ndarray
