"""``scalefit train``: train a bundled GPT preset and write its run file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalefit.commands._common import console, escape, user_command


@user_command
def train(
    out: Annotated[Path, typer.Option("--out", help="Run file (CSV) to write. Example: --out runs/tiny_cosine.csv")],
    model: Annotated[str, typer.Option(
        help="Model preset: xxxs (0.006M), xxs (0.014M), xs (0.025M), xs2 (0.056M), tiny (0.1M), s0 (0.19M), "
             "s1 (0.44M), s1b (0.79M), s2 (1.5M), s3 (4.8M), m1 (25M), m2 (85M) non-embedding params. "
             "Example: --model s1")] = "tiny",
    schedule: Annotated[str, typer.Option(
        help="LR schedule spec; peak and total default to --lr and --steps. "
             "Example: --schedule wsd:decay=0.2")] = "cosine",
    schedule_file: Annotated[Optional[Path], typer.Option(
        help="Per-step LR file instead of --schedule. Example: --schedule-file lr.csv")] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps. Example: --steps 1000")] = 200,
    batch_size: Annotated[int, typer.Option(help="Sequences per optimizer step. Example: --batch-size 16")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate. Example: --lr 3e-3")] = 3e-3,
    warmup: Annotated[Optional[int], typer.Option(
        help="Warmup steps (default: what the spec says, else 0). Example: --warmup 50")] = None,
    data: Annotated[str, typer.Option(
        help="synthetic (known entropy; options as in synthetic:vocab=256,order=1,zipf=1.2), shakespeare, "
             "or a text file. Example: --data shakespeare")] = "synthetic",
    tokenizer: Annotated[str, typer.Option(help="Text tokenizer: char or byte. Example: --tokenizer byte")] = "char",
    seq_len: Annotated[int, typer.Option(help="Tokens per sequence (context length). Example: --seq-len 128")] = 128,
    eval_every: Annotated[int, typer.Option(
        help="Validation loss every N steps and at the last step (0: never). Example: --eval-every 50")] = 50,
    eval_batches: Annotated[int, typer.Option(
        help="Fixed validation batches per evaluation (more: less noisy val_loss, slower evaluations). "
             "Example: --eval-batches 16")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per step. Example: --grad-accum 4")] = 1,
    grad_clip: Annotated[float, typer.Option(
        help="Max gradient norm (0: no clipping). Example: --grad-clip 1.0")] = 1.0,
    weight_decay: Annotated[float, typer.Option(
        help="AdamW weight decay on 2-D weights. Example: --weight-decay 0.1")] = 0.1,
    device: Annotated[str, typer.Option(
        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps. Example: --device cpu")] = "auto",
    dtype: Annotated[str, typer.Option(
        help="auto (bf16 autocast on CUDA), float32 or bfloat16. Example: --dtype float32")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (worth it on CUDA). The run "
                                                            "file records the request (compile: 1); a fallback to "
                                                            "eager mode is warned about.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the weights and batches. Example: --seed 1")] = 0,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the checkpoint next to --out (OUT.ckpt).")] = False,
    ckpt_every: Annotated[int, typer.Option(
        help="Checkpoint every N steps and at the end (0: only at the end). Example: --ckpt-every 100")] = 100,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads. Example: --threads 2")] = None,
    progress: Annotated[str, typer.Option(help="auto, rich, plain or none.")] = "auto",
) -> None:
    """Train a small GPT with a given LR schedule and write one row per step to a run file.

    The file holds `# key: value` metadata (params, batch_size, seq_len, peak_lr, ...) and the columns
    step, lr, loss, val_loss, tokens, grad_norm; every scalefit command reads it.

    Example: scalefit train --model tiny --schedule cosine --steps 500 --lr 3e-3 --out runs/tiny_cosine.csv
    """
    from scalefit.errors import require

    require("torch", "train", "scalefit train")
    from scalefit.train.trainer import TrainConfig, train as run_training

    cfg = TrainConfig(
        out=str(out), model=model, steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, schedule=schedule,
        schedule_file=None if schedule_file is None else str(schedule_file), warmup=warmup, data=data,
        tokenizer=tokenizer, eval_every=eval_every, eval_batches=eval_batches, grad_accum=grad_accum,
        weight_decay=weight_decay,
        grad_clip=grad_clip, device=device, dtype=dtype, compile=compile, seed=seed, resume=resume,
        ckpt_every=ckpt_every, progress=progress, threads=threads,
    )
    result = run_training(cfg)
    con = console()
    if result.skipped:
        con.print(f"{escape(str(out))}: already holds all {steps} steps; nothing to do.")
        return
    if result.steps_done == 0:
        con.print(f"{escape(str(out))}: nothing left to train (last step {result.last_step}).")
        return
    resumed = f" (resumed after step {result.resumed_from})" if result.resumed_from is not None else ""
    val = f", val_loss {result.final_val_loss:.4f}" if result.final_val_loss is not None else ""
    speed = f", {result.tokens_per_s:,.0f} tokens/s" if result.tokens_per_s else ""
    con.print(
        f"wrote {escape(str(out))}: steps 0..{result.last_step}{resumed}, "
        f"final loss {result.final_loss:.4f}{val}{speed}"
    )
