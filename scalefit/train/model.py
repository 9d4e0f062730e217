"""A small GPT, written to be read top to bottom (after Karpathy's nanoGPT ``model.py``).

Pre-norm transformer blocks (LayerNorm -> causal self-attention -> residual, LayerNorm -> GELU MLP ->
residual), learned position embeddings, and an output head tied to the token embedding. Weights start at
N(0, 0.02); the two projections that write into the residual stream start at N(0, 0.02 / sqrt(2 * n_layer))
(GPT-2's scaled residual init), so the residual stream does not grow with depth at initialisation.

``PRESETS`` names the sizes the trainer knows. Sizes are quoted as *non-embedding* parameters (the ``N`` of
Kaplan et al. 2020 and of the hyperparameter laws): every weight except the token and position embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 128  # longest sequence the position embedding covers (the trainer's --seq-len must fit)
    vocab_size: int = 256  # set by the data source (256 for bytes, the chain's size for synthetic data)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads; n_embd must be divisible by n_head
    n_embd: int = 128  # width of the residual stream
    dropout: float = 0.0  # 0 for the scaling runs: they are short, and dropout only adds noise to the curves
    bias: bool = False  # biases in Linear and LayerNorm; False is a bit better and faster (nanoGPT's note)


# name -> (n_layer, n_head, n_embd). Non-embedding params ~= 12 * n_layer * n_embd^2.
PRESETS: dict[str, tuple[int, int, int]] = {
    "xxxs": (2, 2, 16),  # ~0.006M: the smallest point of the bundled isoFLOP ladder
    "xxs": (2, 2, 24),  # ~0.014M: isoFLOP ladder (sizes about 2x apart)
    "xs": (2, 2, 32),  # ~0.025M: the smallest point of the bundled size series
    "xs2": (2, 2, 48),  # ~0.056M: isoFLOP ladder (sizes about 2x apart)
    "tiny": (2, 2, 64),  # ~0.10M: seconds on a laptop CPU; the tests use it
    "s0": (3, 3, 72),  # ~0.19M: isoFLOP ladder
    "s1": (4, 4, 96),  # ~0.44M: CPU
    "s1b": (4, 4, 128),  # ~0.79M: isoFLOP ladder
    "s2": (6, 4, 144),  # ~1.5M: CPU, minutes
    "s3": (8, 8, 224),  # ~4.8M: CPU, slow; comfortable on a GPU
    "m1": (8, 8, 512),  # ~25M: GPU
    "m2": (12, 12, 768),  # ~85M: GPU (GPT-2 small's body)
}


def preset_config(name: str, vocab_size: int, block_size: int) -> GPTConfig:
    """The :class:`GPTConfig` of preset ``name`` for a vocabulary and a context length.

    Raises ``KeyError`` for an unknown name; callers turn it into a user error that lists ``PRESETS``.
    """
    n_layer, n_head, n_embd = PRESETS[name]
    return GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd)


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's ``nn.LayerNorm`` cannot drop only the bias before 2.1)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0  # internal invariant; presets and the CLI guarantee it
        # query, key and value projections for all heads, in one matmul
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection (writes into the residual stream: scaled init)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()  # batch size, sequence length, embedding width (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # each (B, T, C)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        # causal attention; flash / memory-efficient kernels where the device has them
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)  # scaled init
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gelu(self.c_fc(x))  # (B, T, 4C)
        return self.dropout(self.c_proj(x))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
                wpe=nn.Embedding(config.block_size, config.n_embd),  # position embedding
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: the output head reuses the token embedding (Press & Wolf 2017)
        self.transformer.wte.weight = self.lm_head.weight
        # N(0, 0.02) everywhere, then the residual projections at 0.02 / sqrt(2 * n_layer) (GPT-2)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """All parameters, the tied embedding counted once."""
        return sum(p.numel() for p in self.parameters())

    def non_embedding_params(self) -> int:
        """Parameters minus the token and position embeddings (Kaplan et al. 2020's N).

        The tied token embedding doubles as the output head; like Kaplan and nanoGPT we count it as an
        embedding, so N is the transformer body plus the final LayerNorm.
        """
        emb = self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return self.num_params() - emb

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) and, when ``targets`` (B, T) is given, the mean cross-entropy in nats/token."""
        b, t = idx.size()  # idx: (b, t) token ids
        if t > self.config.block_size:
            raise ValueError(f"sequence of length {t} exceeds block_size {self.config.block_size}")
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)  # (t,)
        tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # position embeddings of shape (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)  # (b, t, n_embd)
        for block in self.transformer.h:
            x = block(x)  # (b, t, n_embd)
        x = self.transformer.ln_f(x)  # (b, t, n_embd)
        logits = self.lm_head(x)  # (b, t, vocab_size)
        loss = None
        if targets is not None:
            # float32 loss even under bf16 autocast: the log-softmax over the vocabulary needs the precision
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token: 6 N + 12 * n_layer * n_embd * seq_len (PaLM, Chowdhery et al. 2022, app. B).

        6 N counts the forward and backward matmuls of every weight the token passes through, here the body
        plus the output head (the head is a real matmul even though its weight is tied); the second term is
        the attention score and value matmuls. Like PaLM we ignore the causal mask, so MFU figures compare.
        """
        c = self.config
        n_matmul = self.non_embedding_params() + c.vocab_size * c.n_embd  # body + output head
        return 6 * n_matmul + 12 * c.n_layer * c.n_embd * seq_len

    def configure_optimizer(
        self, weight_decay: float, lr: float, betas: tuple[float, float], fused: bool = False
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only; norms and biases get none."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        extra = {"fused": True} if fused else {}
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **extra)
