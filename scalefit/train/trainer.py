"""The training loop behind ``scalefit train``: one run, one run file, resumable.

Defaults that matter for the curves, in one place (like nanoGPT's ``train.py`` header): see
:class:`TrainConfig`. The loop per optimizer step ``s`` (0-based):

1. set the LR of every parameter group to ``lr[s]`` (the per-step schedule from ``scalefit.schedules``);
2. at eval steps (``s % eval_every == 0`` and the last step), measure ``val_loss`` on the fixed validation
   batches with the parameters *before* this step's update, like ``loss``;
3. forward and backward ``grad_accum`` micro-batches; ``loss`` is their mean: the training loss of this step's
   batch before the update;
4. clip the gradient norm (``grad_norm`` is the norm before clipping), AdamW step;
5. write the row ``step, lr, loss, val_loss, tokens, grad_norm`` (``tokens`` = tokens seen after the step);
6. every ``ckpt_every`` steps and at the end, save a checkpoint atomically.

Determinism: the weights are initialised from ``torch.manual_seed(seed)`` and each batch is a pure function of
``(seed, step, micro_step)`` (see ``data.py``), so on CPU the same seed gives a byte-identical run file, and a
resumed run equals an uninterrupted one. No timing is written to the file.

Devices: CUDA first, then Apple MPS, then CPU (``device="auto"``). On CUDA the loop uses bf16 autocast (where the
GPU supports it), TF32 matmuls, the fused AdamW kernel and, with ``compile=True``, ``torch.compile``.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from scalefit.errors import AssumptionWarning, ScalefitError
from scalefit.train import data as data_mod
from scalefit.train.logger import RunLogger, last_step
from scalefit.train.model import GPT, PRESETS, preset_config

CHECKPOINT_FORMAT = "scalefit.checkpoint/1"


class TrainingDiverged(ScalefitError):
    """The training loss became NaN or infinite; the run file keeps every step before it."""


@dataclass
class TrainConfig:
    """Everything that defines a run. Field comments give the CLI flag and the reason for the default."""

    out: str  # --out: the run file (CSV) to write
    model: str = "tiny"  # --model: a key of model.PRESETS
    steps: int = 200  # --steps: optimizer steps
    batch_size: int = 16  # --batch-size: sequences per optimizer step (all micro-batches together)
    seq_len: int = 128  # --seq-len: tokens per sequence (= the model's context length)
    lr: float = 3e-3  # --lr: peak learning rate, fills the schedule spec's peak
    schedule: str = "cosine"  # --schedule: a spec for scalefit.schedules.from_spec (peak/total may be omitted)
    schedule_file: str | None = None  # --schedule-file: per-step LRs instead of a spec
    warmup: int | None = None  # --warmup: warmup steps; None = what the spec says (0 if it says nothing)
    data: str = "synthetic"  # --data: synthetic[:options] | shakespeare | path to a text file
    tokenizer: str = "char"  # --tokenizer: char | byte (text sources only)
    eval_every: int = 50  # --eval-every: val_loss every this many steps (0 = never), and at the last step
    eval_batches: int = 4  # fixed validation batches of batch_size // grad_accum sequences
    grad_accum: int = 1  # --grad-accum: micro-batches per step; batch_size must be divisible by it
    weight_decay: float = 0.1  # AdamW decay on 2-D weights only (GPT-3, nanoGPT)
    beta1: float = 0.9
    beta2: float = 0.95  # 0.95 rather than 0.999: steadier at the high LRs of a sweep (GPT-3)
    grad_clip: float = 1.0  # --grad-clip: max global grad norm (0 = no clipping)
    device: str = "auto"  # --device: auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto = bfloat16 autocast on CUDA GPUs that support it, float32 elsewhere
    compile: bool = False  # --compile: torch.compile the model (CUDA; on CPU it rarely pays)
    seed: int = 0  # --seed: weights and batches
    resume: bool = False  # --resume: continue from the checkpoint next to --out
    ckpt_every: int = 100  # checkpoint every this many steps (and at the end); 0 = only at the end
    checkpoint: str | None = None  # checkpoint path; default: --out with suffix .ckpt
    progress: str = "auto"  # auto (rich bar on a TTY, plain lines otherwise) | rich | plain | none
    threads: int | None = None  # torch CPU threads; None = torch's default
    lr_values: np.ndarray | None = field(default=None, repr=False)  # library use: explicit per-step LRs

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else Path(self.out).with_suffix(".ckpt")


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or skipped) run reports."""

    out: str
    steps_done: int  # steps trained by this call
    last_step: int  # last step in the run file
    final_loss: float | None
    final_val_loss: float | None
    tokens_per_s: float | None  # measured in this call; never written to the run file
    skipped: bool = False  # the run file already held every step
    resumed_from: int | None = None  # last completed step loaded from the checkpoint


# ---------------------------------------------------------------------------------------------------------
# setup helpers
# ---------------------------------------------------------------------------------------------------------
def pick_device(request: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for ``"auto"``; otherwise the device asked for, checked to exist."""
    if request == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(request)
    except RuntimeError:
        raise ScalefitError(f"--device {request!r} is not a device name. Use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ScalefitError(f"--device {request}: this torch build sees no CUDA GPU. Use --device cpu or auto.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ScalefitError(f"--device {request}: Apple MPS is not available here. Use --device cpu or auto.")
    return dev


def pick_dtype(request: str, device: torch.device) -> torch.dtype:
    """The autocast dtype: bfloat16 on CUDA GPUs that support it (``auto``), float32 otherwise."""
    if request == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if request not in table:
        raise ScalefitError(f"--dtype {request!r} must be auto, float32 or bfloat16.")
    return table[request]


def learning_rates(cfg: TrainConfig) -> tuple[np.ndarray, str, int]:
    """Per-step LRs for steps 0..steps-1, the schedule text for the run file, and the warmup steps."""
    from scalefit import schedules

    explicit_warmup = cfg.warmup
    if cfg.lr_values is not None:
        lr = np.asarray(cfg.lr_values, dtype=np.float64)
        text = "explicit per-step array"
    elif cfg.schedule_file:
        lr = np.asarray(schedules.from_file(cfg.schedule_file), dtype=np.float64)
        text = f"file:path={cfg.schedule_file}"
    else:
        parsed = schedules.parse_spec(cfg.schedule)
        lr = np.asarray(parsed.build(peak=cfg.lr, total=cfg.steps, warmup=cfg.warmup), dtype=np.float64)
        # the run file records the spec with every default filled in, so it rebuilds the exact schedule
        keys = schedules.SCHEDULES[parsed.name].keys
        filled = {k: v for k, v in (("peak", cfg.lr), ("total", cfg.steps), ("warmup", cfg.warmup))
                  if v is not None and k in keys}
        filled.update(parsed.params)
        text = schedules.ScheduleSpec(parsed.name, filled).canonical()
        if "warmup" in parsed.params:
            explicit_warmup = int(parsed.params["warmup"])
    if lr.ndim != 1 or lr.size < cfg.steps:
        raise ScalefitError(
            f"the schedule ({text}) gives {lr.size} per-step LRs but --steps is {cfg.steps}. "
            "Give a schedule at least as long as the run."
        )
    if lr.size > cfg.steps:
        import warnings

        from scalefit.errors import AssumptionWarning

        warnings.warn(f"the schedule ({text}) has {lr.size} steps; training only its first {cfg.steps} (--steps), "
                      "so the run ends before the schedule does.", AssumptionWarning, stacklevel=2)
    lr = lr[: cfg.steps]
    if not np.all(np.isfinite(lr)) or np.any(lr < 0):
        bad = int(np.flatnonzero(~np.isfinite(lr) | (lr < 0))[0])
        raise ScalefitError(f"the schedule ({text}) has LR {lr[bad]} at step {bad}; LRs must be finite and >= 0.")
    warmup = int(explicit_warmup) if explicit_warmup is not None else int(schedules.detect_warmup(lr))
    return lr, text, warmup


def _check(cfg: TrainConfig) -> None:
    if cfg.model not in PRESETS:
        raise ScalefitError(f"--model {cfg.model!r} is not a preset. Choose one of: {', '.join(PRESETS)}.")
    for name in ("steps", "batch_size", "seq_len", "grad_accum", "eval_batches"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ScalefitError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}.")
    if cfg.batch_size % cfg.grad_accum:
        raise ScalefitError(
            f"--batch-size {cfg.batch_size} is not divisible by --grad-accum {cfg.grad_accum}. "
            "Each micro-batch must hold the same number of sequences."
        )
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ScalefitError(f"--lr must be a positive number, got {cfg.lr!r}.")
    if cfg.eval_every < 0 or cfg.ckpt_every < 0:
        raise ScalefitError("--eval-every and the checkpoint interval must be >= 0.")
    if cfg.progress not in ("auto", "rich", "plain", "none"):
        raise ScalefitError(f"progress={cfg.progress!r} must be auto, rich, plain or none.")


def _lr_hash(lr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(lr, dtype=np.float64).tobytes()).hexdigest()[:16]


# the config fields that must agree between a checkpoint and the run that resumes it
_IDENTITY = ("model", "batch_size", "seq_len", "grad_accum", "data", "tokenizer", "seed", "weight_decay",
             "beta1", "beta2", "grad_clip", "eval_every", "eval_batches")


def complete_run_differs(cfg: TrainConfig) -> str:
    """Why the complete run file ``cfg.out`` is not run ``cfg`` (``""`` when it is); for a sweep's skip decision."""
    lr, _, _ = learning_rates(cfg)
    return _complete_file_differs(Path(cfg.out), cfg, lr, data_mod.load(cfg.data, cfg.tokenizer).name)


def _complete_file_differs(out: Path, cfg: TrainConfig, lr: np.ndarray, data: str) -> str:
    """Why a complete run file without a checkpoint is not this run (``""`` when it is): its metadata or its
    logged learning rates differ. A resumed sweep skips complete files, so it must not skip another run's."""
    from scalefit.readers import read_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = read_run(out)
    # the schedule is compared through its learning rates below: its text depends on how the spec was written
    mine = {"model": cfg.model, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len, "seed": cfg.seed,
            "total_steps": cfg.steps, "data": data}
    for key, value in mine.items():
        if key in run.meta and str(run.meta[key]) != str(value):
            return f"{key}={run.meta[key]!r} (this run: {value!r})"
    n = min(run.lr.size, lr.size)
    if not np.allclose(run.lr[:n], lr[:n], rtol=2e-5, atol=1e-12):  # the file keeps 6 significant digits
        i = int(np.argmax(~np.isclose(run.lr[:n], lr[:n], rtol=2e-5, atol=1e-12)))
        return f"lr {run.lr[i]:.6g} at step {i + run.step0} (this run: {lr[i]:.6g})"
    return ""


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a kill leaves the old checkpoint or the new one, never half of one


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise ScalefitError(f"cannot read the checkpoint ({type(exc).__name__}). Delete it to start over.",
                            path=str(path)) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ScalefitError(f"not a scalefit checkpoint (expected format {CHECKPOINT_FORMAT}). "
                            "Delete it to start over.", path=str(path))
    return ck


# ---------------------------------------------------------------------------------------------------------
# progress display: a rich bar on a terminal, plain lines in logs
# ---------------------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, mode: str, total: int, start: int, label: str) -> None:
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "plain"
        self.mode = mode
        self.total = total
        self.every = max(1, total // 20)
        self.label = label
        self._bar = None
        if mode == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False,
                console=Console(stderr=True),  # stdout stays for the command's result line
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, completed=start, info="")

    def update(self, step: int, loss: float, lr: float, tok_s: float | None, val: float | None) -> None:
        info = f"loss {loss:.4f}  lr {lr:.2e}" + (f"  {tok_s:,.0f} tok/s" if tok_s else "")
        if val is not None:
            info += f"  val {val:.4f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step + 1, info=info)
        elif self.mode == "plain" and ((step + 1) % self.every == 0 or step + 1 == self.total or val is not None):
            print(f"{self.label} step {step + 1}/{self.total}  {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---------------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------------
def train(
    cfg: TrainConfig, *, stop_after: int | None = None, on_step: Callable[[int, float], None] | None = None
) -> TrainResult:
    """Train one model and write its run file; see the module docstring for the loop.

    Parameters
    ----------
    cfg
        The run. ``cfg.resume`` continues from ``cfg.checkpoint_path`` when it exists.
    stop_after
        Stop (with a checkpoint) after this step even if ``cfg.steps`` is larger; the run stays resumable.
        For time-sliced jobs and tests.
    on_step
        Called with ``(step, loss)`` after each row is written.

    Raises
    ------
    ScalefitError
        Bad preset, schedule, data or device; a checkpoint that does not match ``cfg``.
    TrainingDiverged
        The loss became NaN or infinite (the rows before it stay in the file).
    """
    from scalefit import __version__

    _check(cfg)
    out = Path(cfg.out)
    ckpt_path = cfg.checkpoint_path
    lr, schedule_text, warmup = learning_rates(cfg)
    source = data_mod.load(cfg.data, cfg.tokenizer)
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.dtype, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    # ---- resume bookkeeping --------------------------------------------------------------------------
    ck = None
    if cfg.resume:
        if ckpt_path.exists() and not out.exists():
            warnings.warn(f"{out} does not exist; ignoring the checkpoint {ckpt_path} and starting from step 0.",
                          AssumptionWarning, stacklevel=2)
        elif ckpt_path.exists():
            ck = _load_checkpoint(ckpt_path)
            theirs = ck["config"]
            for key in _IDENTITY:
                mine = asdict(cfg)[key] if key != "data" else source.name
                if theirs.get(key) != mine:
                    raise ScalefitError(
                        f"cannot resume: the checkpoint was made with {key}={theirs.get(key)!r}, this run has "
                        f"{key}={mine!r}. Use the original options or a new --out.",
                        path=str(ckpt_path),
                    )
            if ck["lr_hash"] != _lr_hash(lr[: ck["step"] + 1]):
                raise ScalefitError(
                    "cannot resume: the learning rates of the steps already done differ from this run's schedule. "
                    "Use the original --schedule/--lr/--steps/--warmup or a new --out.",
                    path=str(ckpt_path),
                )
        else:
            done = last_step(out)
            if done is not None and done >= cfg.steps - 1:
                differs = _complete_file_differs(out, cfg, lr, source.name)
                if differs:
                    raise ScalefitError(
                        f"cannot skip: the file is complete but was made with {differs}. Use a new --out, or "
                        "delete the file to train this run.", path=str(out))
                return TrainResult(str(out), 0, done, None, None, None, skipped=True)
            if done is not None:
                warnings.warn(
                    f"{ckpt_path}: no checkpoint to resume from; restarting {out} from step 0.", AssumptionWarning,
                    stacklevel=2,
                )
        if ck is not None and ck["step"] >= cfg.steps - 1 and last_step(out) == ck["step"]:
            return TrainResult(str(out), 0, ck["step"], None, None, None, skipped=True, resumed_from=ck["step"])

    # ---- model and optimizer ---------------------------------------------------------------------------
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg.seed)
    raw_model = GPT(preset_config(cfg.model, source.vocab_size, cfg.seq_len)).to(device)
    optimizer = raw_model.configure_optimizer(
        cfg.weight_decay, float(lr[0]), (cfg.beta1, cfg.beta2), fused=device.type == "cuda"
    )
    start = 0
    if ck is not None:
        raw_model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        if device.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ck["cuda_rng"])
        start = int(ck["step"]) + 1
    model: Any = raw_model
    if cfg.compile:
        try:
            model = torch.compile(raw_model)
        except Exception as exc:  # noqa: BLE001 - a missing compiler must not cost the run
            warnings.warn(f"torch.compile failed ({exc}); training without it.", AssumptionWarning, stacklevel=2)

    micro_bs = cfg.batch_size // cfg.grad_accum
    tokens_per_step = cfg.batch_size * cfg.seq_len
    irreducible = source.irreducible_loss(cfg.seq_len)
    meta: dict[str, Any] = {
        "params": raw_model.non_embedding_params(),
        "params_total": raw_model.num_params(),
        "batch_size": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "tokens_per_step": tokens_per_step,
        "peak_lr": float(lr.max()),
        "warmup_steps": warmup,
        "schedule": schedule_text,
        "total_steps": cfg.steps,
        "seed": cfg.seed,
        "model": cfg.model,
        "n_layer": raw_model.config.n_layer,
        "n_head": raw_model.config.n_head,
        "n_embd": raw_model.config.n_embd,
        "vocab_size": source.vocab_size,
        "data": source.name,
        **source.meta,
        "irreducible_loss": None if irreducible is None else round(irreducible, 6),
        "optimizer": f"AdamW(betas=({cfg.beta1:g},{cfg.beta2:g}),weight_decay={cfg.weight_decay:g})",
        "grad_clip": cfg.grad_clip,
        "grad_accum": cfg.grad_accum,
        "eval_batches": cfg.eval_batches,
        "device": device.type,
        "dtype": str(dtype).replace("torch.", ""),
        **({"compile": True} if cfg.compile else {}),  # requested; a fallback to eager mode is warned about
        "scalefit_version": __version__,
    }
    log = RunLogger(out, meta, resume_from=(start - 1) if ck is not None else None)

    # ---- data on the device ----------------------------------------------------------------------------
    def to_dev(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t.to(device)

    val = [(to_dev(x), to_dev(y)) for x, y in source.val_batches(cfg.eval_batches, micro_bs, cfg.seq_len)]
    autocast = (
        torch.autocast(device_type=device.type, dtype=dtype) if dtype != torch.float32 else _NullContext()
    )

    compiled_modes: set[tuple[bool, bool]] = set()  # (training, grad enabled) calls the compiled model has made

    def forward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The model's loss. torch.compile compiles lazily, once per mode (training, evaluation): a compiled model
        that fails on its first call in a mode falls back to eager mode; a later failure is a real error."""
        nonlocal model
        mode = (model.training, torch.is_grad_enabled())
        try:
            with autocast:
                out = model(x, y)[1]
        except Exception as exc:  # noqa: BLE001 - torch.compile errors surface lazily, at the first call
            if model is raw_model or mode in compiled_modes:
                raise
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            warnings.warn(f"torch.compile failed at its first {'training' if mode[0] else 'evaluation'} call "
                          f"({type(exc).__name__}: {first_line}); training without it.", AssumptionWarning,
                          stacklevel=2)
            model = raw_model
            with autocast:
                return model(x, y)[1]
        if model is not raw_model:
            compiled_modes.add(mode)
        return out

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        total = sum(float(forward(x, y)) for x, y in val)
        model.train()
        return total / len(val)

    def checkpoint(step: int) -> None:
        _save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT,
            "step": step,  # last completed step; the run continues at step + 1
            "model": raw_model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
            "data": {"seed": cfg.seed, "next_step": step + 1},  # batches are a pure function of (seed, step)
            "config": {**{k: v for k, v in asdict(cfg).items() if k != "lr_values"}, "data": source.name},
            "lr_hash": _lr_hash(lr[: step + 1]),
        })

    # ---- the loop --------------------------------------------------------------------------------------
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after + 1)
    progress = _Progress(cfg.progress, cfg.steps, start, out.stem)
    params = [p for p in raw_model.parameters()]
    model.train()
    final_loss = final_val = None
    t0, tok0 = time.perf_counter(), 0
    tok_s: float | None = None
    try:
        for step in range(start, end):
            step_lr = float(lr[step])
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            is_eval = cfg.eval_every > 0 and (step % cfg.eval_every == 0 or step == cfg.steps - 1)
            val_loss = evaluate() if is_eval else None

            loss_sum = 0.0
            for micro in range(cfg.grad_accum):
                x, y = source.train_batch(cfg.seed, step, micro, micro_bs, cfg.seq_len)
                loss = forward(to_dev(x), to_dev(y))
                (loss / cfg.grad_accum).backward()
                loss_sum += float(loss.detach())
            step_loss = loss_sum / cfg.grad_accum
            if not math.isfinite(step_loss):
                raise TrainingDiverged(
                    f"training loss is {step_loss} at step {step} (lr {step_lr:.3g}); the file keeps steps "
                    f"0..{step - 1}. Lower --lr or add --warmup.",
                    path=str(out),
                )
            if cfg.grad_clip > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            else:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, float("inf")))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            log.step(step, step_lr, step_loss, val_loss=val_loss, tokens=(step + 1) * tokens_per_step,
                     grad_norm=grad_norm)
            final_loss = step_loss
            final_val = val_loss if val_loss is not None else final_val
            if on_step is not None:
                on_step(step, step_loss)
            if (cfg.ckpt_every and (step + 1) % cfg.ckpt_every == 0) or step == end - 1:
                checkpoint(step)
            tok0 += tokens_per_step
            elapsed = time.perf_counter() - t0
            tok_s = tok0 / elapsed if elapsed > 0 else None
            progress.update(step, step_loss, step_lr, tok_s, val_loss)
    finally:
        progress.close()
        log.close()
    return TrainResult(str(out), end - start, end - 1, final_loss, final_val, tok_s,
                       resumed_from=start - 1 if ck is not None else None)


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
