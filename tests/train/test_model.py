"""The bundled GPT is the nanoGPT model it claims to be: causal, pre-norm, tied, GPT-2 initialised, counted right.

Small configurations on the CPU; the large presets are built on torch's meta device (shapes only, no memory).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402

from scalefit.train.model import GPT, PRESETS, GPTConfig, preset_config  # noqa: E402

pytestmark = pytest.mark.torch

#: The sizes the docstrings and ``scalefit train --help`` quote for each preset (non-embedding, millions).
QUOTED_M = {"xxxs": 0.0062, "xxs": 0.014, "xs": 0.025, "xs2": 0.056, "tiny": 0.10, "s0": 0.19, "s1": 0.44, "s1b": 0.79, "s2": 1.5, "s3": 4.8, "m1": 25, "m2": 85}


def _model(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{"block_size": 16, "vocab_size": 50, "n_layer": 2, "n_head": 2, "n_embd": 32, **kw}))


def test_a_position_sees_no_later_token() -> None:
    model = _model().eval()
    x = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, 9:] = (y[:, 9:] + 7) % 50  # change every token from position 9 on
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    torch.testing.assert_close(a[:, :9], b[:, :9], rtol=0, atol=1e-6)
    assert (a[:, 9:] - b[:, 9:]).abs().max() > 1e-3  # and the later positions do see them


def test_attention_equals_the_written_out_masked_softmax() -> None:
    """scaled_dot_product_attention(is_causal=True) is softmax(q k^T / sqrt(d) + causal mask) v."""
    attn = _model().transformer.h[0].attn.eval()
    x = torch.randn(3, 16, 32, generator=torch.Generator().manual_seed(2))
    q, k, v = attn.c_attn(x).split(32, dim=2)
    q, k, v = (t.view(3, 16, 2, 16).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(16)
    scores = scores.masked_fill(torch.triu(torch.ones(16, 16, dtype=torch.bool), 1), float("-inf"))
    manual = attn.c_proj((F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(3, 16, 32))
    with torch.no_grad():
        torch.testing.assert_close(attn(x), manual, rtol=1e-5, atol=1e-6)


def test_blocks_are_pre_norm_residual() -> None:
    block = _model().transformer.h[0].eval()
    x = torch.randn(2, 16, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = x + block.attn(block.ln_1(x))
        torch.testing.assert_close(block(x), h + block.mlp(block.ln_2(h)))


def test_the_head_is_tied_to_the_token_embedding_and_counted_once() -> None:
    model = _model()
    assert model.lm_head.weight is model.transformer.wte.weight
    with_duplicates = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert model.num_params() == with_duplicates - model.transformer.wte.weight.numel()  # the shared matrix once


def test_gpt2_initialisation_and_the_loss_at_init_is_log_vocab() -> None:
    model = _model(n_layer=4, n_embd=128, n_head=4, vocab_size=256, block_size=64)
    stds = {name: float(p.detach().std()) for name, p in model.named_parameters() if p.dim() == 2}
    for name, sd in stds.items():
        want = 0.02 / math.sqrt(2 * 4) if name.endswith("c_proj.weight") else 0.02
        assert sd == pytest.approx(want, rel=0.05), name
    gains = [p.detach() for p in model.parameters() if p.dim() == 1]
    assert len(gains) == 2 * 4 + 1 and all(bool((g == 1).all()) for g in gains)  # LayerNorm gains start at 1
    x = torch.randint(0, 256, (8, 64), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        loss = float(model(x[:, :-1], x[:, 1:])[1])
    assert loss == pytest.approx(math.log(256), abs=0.05)  # small logits: a near-uniform prediction


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_sizes_are_the_quoted_non_embedding_counts(name: str) -> None:
    n_layer, _, d = PRESETS[name]
    with torch.device("meta"):
        model = GPT(preset_config(name, vocab_size=256, block_size=128))
    assert model.non_embedding_params() == 12 * n_layer * d * d + (2 * n_layer + 1) * d  # body + LayerNorm gains
    assert model.non_embedding_params() / 1e6 == pytest.approx(QUOTED_M[name], rel=0.1)
    assert model.num_params() - model.non_embedding_params() == (256 + 128) * d  # wte (= head) + wpe


def test_flops_per_token_is_palm_6n_plus_attention() -> None:
    model = _model()
    n, v, d, layers, t = model.non_embedding_params(), 50, 32, 2, 16
    assert model.flops_per_token(t) == 6 * (n + v * d) + 12 * layers * d * t


def test_weight_decay_reaches_the_2d_weights_only_and_fused_adamw_steps_like_the_default() -> None:
    """The CUDA path's fused AdamW kernel (here torch's CPU one) takes the same step as the for-each default."""
    lr, n_steps = 1e-2, 3
    steps = []
    for fused in (False, True):
        model = _model(seed=5)
        opt = model.configure_optimizer(0.1, lr, (0.9, 0.95), fused=fused)
        decay, no_decay = opt.param_groups
        assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
        assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
        assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
        x = torch.randint(0, 50, (4, 17), generator=torch.Generator().manual_seed(6))
        for _ in range(n_steps):
            model(x[:, :-1], x[:, 1:])[1].backward()
            opt.step()
            opt.zero_grad()
        steps.append(torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy())
    # The two float32 kernels (and AVX2 vs AVX512 builds of each) round differently, and Adam's step
    # lr * m / (sqrt(v) + eps) carries that rounding at the scale of the LR, not of the weight: measured after 3
    # steps, 1.2e-7 (AVX512) to 1.7e-7 (AVX2) at weights of 0.02-0.04, where an absolute 1e-7 failed. The tolerance
    # is 1e-4 of the largest step the LR allows; a wrong decay (lr * 0.1 * |w| = 2e-5 a step) or a missing bias
    # correction would exceed it many times over.
    np.testing.assert_allclose(steps[1], steps[0], rtol=0, atol=1e-4 * lr * n_steps)


def test_a_sequence_longer_than_the_context_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds block_size 16"):
        _model()(torch.zeros(1, 17, dtype=torch.long))
