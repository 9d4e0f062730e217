"""Data sources: the synthetic chain's exact entropy, seeded batches, text splits (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from scalefit.errors import ScalefitError
from scalefit.train.data import ZipfMarkov, load


def test_entropy_rate_of_a_two_state_chain_by_hand():
    """Order 1, vocab 2, mix 0: every row is Zipf(1, 2^-a) normalised, so h is that row's entropy."""
    c = ZipfMarkov(vocab=2, order=1, zipf=1.0, mix=0.0, seed=3)
    p = np.array([1.0, 0.5]) / 1.5
    assert c.entropy_rate == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)


def test_stationary_law_is_stationary():
    c = ZipfMarkov(vocab=5, order=2, zipf=1.3, mix=0.6, seed=1)
    S, V = c.P.shape
    nxt = c._next_state(np.arange(S)[:, None], np.arange(V)[None, :])
    moved = np.bincount(nxt.ravel(), weights=(c.stationary[:, None] * c.P).ravel(), minlength=S)
    np.testing.assert_allclose(moved, c.stationary, atol=1e-13)


def test_analytic_entropy_matches_empirical_estimate():
    """Plug-in conditional entropy of a long sample of a small chain converges to the analytic rate."""
    c = ZipfMarkov(vocab=4, order=2, zipf=1.2, mix=0.5, seed=0)
    x = c.sample(np.random.default_rng(7), 64, 4000)  # (64, 4000): 256k transitions
    ctx = (x[:, :-2] * 4 + x[:, 1:-1]).ravel()
    nxt = x[:, 2:].ravel()
    counts = np.zeros((16, 4))
    np.add.at(counts, (ctx, nxt), 1)
    cond = counts / counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_emp = -np.nansum(counts * np.log(cond)) / counts.sum()
    assert h_emp == pytest.approx(c.entropy_rate, abs=0.01)
    # and the model-based estimate (true probabilities on sampled tokens), an unbiased check of the weights
    assert -np.log(c.P[ctx, nxt]).mean() == pytest.approx(c.entropy_rate, abs=0.01)


def test_irreducible_loss_counts_the_short_first_context():
    c = ZipfMarkov(vocab=8, order=2, seed=0)
    h = c.conditional_entropies(4)
    assert h[0] > h[1] == pytest.approx(c.entropy_rate)
    assert c.irreducible_loss(4) == pytest.approx((h[0] + 3 * c.entropy_rate) / 4)


def test_batches_are_a_pure_function_of_seed_and_step():
    d = load("synthetic:vocab=16,order=2")
    x1, y1 = d.train_batch(0, 5, 0, 4, 32)
    x2, y2 = d.train_batch(0, 5, 0, 4, 32)
    x3, _ = d.train_batch(0, 6, 0, 4, 32)
    assert x1.shape == (4, 32) and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    np.testing.assert_array_equal(x1[:, 1:], y1[:, :-1])  # targets are inputs shifted by one
    v1, v2 = d.val_batches(2, 4, 32), d.val_batches(2, 4, 32)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(v1, v2))


def test_text_file_source_splits_train_and_val(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("abcdefghij" * 200)
    d = load(str(p))
    assert d.vocab_size == 10 and d.split == 1800
    x, _ = d.train_batch(0, 0, 0, 8, 16)
    assert x.max() < 10
    b = load(str(p), tokenizer="byte")
    assert b.vocab_size == 256


def test_bad_data_values_are_user_errors(tmp_path):
    with pytest.raises(ScalefitError, match="not 'synthetic', 'shakespeare' or an existing text file"):
        load(str(tmp_path / "nope.txt"))
    with pytest.raises(ScalefitError, match="not one of vocab="):
        load("synthetic:size=3")
    short = tmp_path / "short.txt"
    short.write_text("abc" * 10)
    with pytest.raises(ScalefitError, match="too short"):
        load(str(short)).train_batch(0, 0, 0, 2, 64)
