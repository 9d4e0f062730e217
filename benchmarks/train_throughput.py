"""Training throughput of the bundled trainer: tokens/s and MFU per CPU preset, against a plain reference loop.

MFU = achieved FLOP/s / peak FLOP/s, with achieved = tokens/s x FLOPs/token and FLOPs/token =
6 N + 12 n_layer n_embd seq_len (PaLM appendix B; N includes the output head: ``GPT.flops_per_token``).
The CPU peak is MEASURED here as the best of 30 float32 1024 x 1024 matmuls (2 n^3 FLOPs each) with the same torch
thread count: it is the peak this machine's BLAS reaches, not a datasheet number, so MFU reads as "fraction of
what a big matmul gets".

The reference is the same model in the simplest loop: float32, plain (for-each) AdamW, no clipping, no
evaluation, no logging, batches from ``torch.randint``. The ratio trainer/reference shows what the trainer's
bookkeeping (data sampling, grad-norm, one ``os.write`` per row, checkpoints) costs.

A CUDA section runs the same measurement in bf16 autocast with fused AdamW (and torch.compile) when a GPU is
present; otherwise it prints "skipped: no GPU".

A CPU row compares the trainer eager with ``compile=True`` (inductor's C++ backend; needs a C++ compiler), so the
``--compile`` path runs and is timed on a machine without a GPU.

Usage: python benchmarks/train_throughput.py [--steps 30] [--presets tiny,s1,s2] [--threads 1] [--cpu-compile tiny,s1]
(on a shared machine, --threads 1 avoids torch's spinning thread pool fighting other processes)
Writes benchmarks/results/train_throughput.json next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

from scalefit.train.model import GPT, preset_config  # noqa: E402
from scalefit.train.trainer import TrainConfig, train  # noqa: E402

VOCAB = 64  # the vocabulary of the synthetic source the trainer runs below use (SYNTHETIC)
SYNTHETIC = "synthetic:vocab=64,order=2"  # pinned, so results stay comparable when the default changes


def measure_peak(n: int = 1024, repeats: int = 30, device: str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of an n x n matmul (2 n^3 FLOPs) over ``repeats`` tries."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def reference_loop(preset: str, steps: int, batch: int, seq: int, device: str = "cpu") -> float:
    """Tokens/s of the plainest loop over the same model (float32, for-each AdamW, random tokens)."""
    torch.manual_seed(0)
    model = GPT(preset_config(preset, VOCAB, seq)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)
    g = torch.Generator(device="cpu").manual_seed(0)
    warm = 3
    for i in range(steps + warm):
        if i == warm:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x = torch.randint(0, VOCAB, (batch, seq + 1), generator=g).to(device)
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch * seq / (time.perf_counter() - t0)


def trainer_run(preset: str, steps: int, batch: int, seq: int, device: str = "cpu", compile: bool = False) -> float:
    """Tokens/s of ``scalefit.train.trainer.train`` after 3 warm-up steps, like the reference loop.

    No evaluation (``eval_every=0``) and no checkpoint until the end, so the figure is the training loop with
    its bookkeeping: seeded numpy batch sampling, grad-norm clipping, one ``os.write`` per row.
    """
    marks: dict[int, float] = {}

    def on_step(step: int, loss: float) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        marks[step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(out=f"{tmp}/b.csv", model=preset, steps=steps + 3, batch_size=batch, seq_len=seq,
                          schedule="constant", lr=1e-3, data=SYNTHETIC, eval_every=0, progress="none",
                          ckpt_every=0, device=device, compile=compile)
        train(cfg, on_step=on_step)
    return steps * batch * seq / (marks[steps + 2] - marks[2])


def cpu_compile_row(preset: str, steps: int, batch: int, seq: int) -> dict[str, object]:
    """The trainer eager vs ``compile=True`` on the CPU (inductor's C++ backend): tokens/s after the warm-up
    steps, the first step's extra seconds (compilation), and the largest difference of the logged losses.

    This runs the code path ``--compile`` takes on CUDA (the compile call, the lazy first-call fallback, the
    checkpoint of the uncompiled module) on a machine without a GPU; the speed is the CPU's, not a GPU's.
    """
    from scalefit.readers import read_run

    out: dict[str, object] = {"preset": preset}
    losses = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a cold compile: inductor's on-disk cache from earlier runs would hide the compilation time
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = f"{tmp}/inductor"
        for comp in (False, True):
            marks: dict[int, float] = {}
            cfg = TrainConfig(out=f"{tmp}/{comp}.csv", model=preset, steps=steps + 3, batch_size=batch,
                              seq_len=seq, schedule="constant", lr=1e-3, data=SYNTHETIC, eval_every=0,
                              progress="none", ckpt_every=0, device="cpu", compile=comp)
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train(cfg, on_step=lambda step, loss: marks.__setitem__(step, time.perf_counter()))
            key = "compile" if comp else "eager"
            if comp:  # a fallback to eager mode would make this row compare eager with eager
                out["compile_fell_back"] = any("torch.compile failed" in str(w.message) for w in caught)
            out[f"{key}_tokens_per_s"] = round(steps * batch * seq / (marks[steps + 2] - marks[2]))
            out[f"{key}_first_step_s"] = marks[0] - t0  # setup + the first step (+ compilation when compiled)
            losses[key] = read_run(cfg.out).loss
    out["compile_over_eager"] = out["compile_tokens_per_s"] / out["eager_tokens_per_s"]
    out["max_abs_loss_diff"] = float(abs(losses["compile"] - losses["eager"]).max())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--presets", default="tiny,s1,s2")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--cpu-compile", default="tiny,s1",
                    help="presets for the eager vs torch.compile row on the CPU ('' skips it)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None  # other processes distort the figures
    peak = max(measure_peak() for _ in range(2))
    print(f"CPU peak (best of 30 float32 1024^3 matmuls, {threads} threads): {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for preset in args.presets.split(","):
        m = GPT(preset_config(preset, VOCAB, args.seq))
        fpt = m.flops_per_token(args.seq)
        # best of two, interleaved: on a shared machine the slower try is the one another process disturbed
        ref = max(reference_loop(preset, args.steps, args.batch, args.seq) for _ in range(2))
        ours = max(trainer_run(preset, args.steps, args.batch, args.seq) for _ in range(2))
        rows.append({"preset": preset, "params": m.non_embedding_params(), "flops_per_token": fpt,
                     "trainer_tokens_per_s": round(ours), "reference_tokens_per_s": round(ref),
                     "trainer_mfu": ours * fpt / peak, "reference_mfu": ref * fpt / peak,
                     "ratio_trainer_over_reference": ours / ref})
    print(f"\n{'preset':>7} {'params':>10} {'trainer tok/s':>14} {'ref tok/s':>10} {'trainer MFU':>12} "
          f"{'ref MFU':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['preset']:>7} {r['params']:>10,} {r['trainer_tokens_per_s']:>14,} "
              f"{r['reference_tokens_per_s']:>10,} {r['trainer_mfu']:>12.1%} {r['reference_mfu']:>8.1%} "
              f"{r['ratio_trainer_over_reference']:>6.2f}")
    compile_rows = [cpu_compile_row(p, args.steps, args.batch, args.seq) for p in args.cpu_compile.split(",") if p]
    if compile_rows:
        print(f"\nCPU torch.compile (inductor) vs eager, trainer loop:\n{'preset':>7} {'eager tok/s':>12} "
              f"{'compile tok/s':>14} {'ratio':>6} {'compile first step s':>21} {'max |loss diff|':>16}")
    for r in compile_rows:
        print(f"{r['preset']:>7} {r['eager_tokens_per_s']:>12,} {r['compile_tokens_per_s']:>14,} "
              f"{r['compile_over_eager']:>6.2f} {r['compile_first_step_s']:>21.1f} {r['max_abs_loss_diff']:>16.2e}"
              + ("  (compile FELL BACK to eager: not a compiled figure)" if r["compile_fell_back"] else ""))
    cuda: dict[str, object]
    if torch.cuda.is_available():
        gpu_peak = measure_peak(8192, device="cuda", dtype=torch.bfloat16)
        cuda_rows = []
        for preset in ("s3", "m1", "m2"):
            m = GPT(preset_config(preset, VOCAB, 512))
            for comp in (False, True):
                tok = trainer_run(preset, 50, 32, 512, device="cuda", compile=comp)
                cuda_rows.append({"preset": preset, "compile": comp, "tokens_per_s": round(tok),
                                  "mfu": tok * m.flops_per_token(512) / gpu_peak})
        cuda = {"device": torch.cuda.get_device_name(), "peak_bf16_flops": gpu_peak, "rows": cuda_rows}
        for r in cuda_rows:
            print(f"cuda {r['preset']} compile={r['compile']}: {r['tokens_per_s']:,} tok/s, MFU {r['mfu']:.1%}")
    else:
        cuda = {"skipped": "no GPU"}
        print("\nCUDA (bf16 autocast, fused AdamW, torch.compile): skipped: no GPU")
    out = Path(__file__).resolve().parent / "results" / "train_throughput.json"
    out.parent.mkdir(exist_ok=True)
    result = {"machine": machine(), "torch": torch.__version__, "threads": threads, "steps": args.steps,
              "batch_size": args.batch, "seq_len": args.seq, "cpu_peak_flops": peak,
              "cpu_peak_method": "best of 30 float32 1024x1024 matmuls (2 n^3 FLOPs), same thread count",
              "load_average_at_start": load, "cpu": rows,
              "cpu_compile": compile_rows, "cuda": cuda}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; wrote {out}")


if __name__ == "__main__":
    main()
