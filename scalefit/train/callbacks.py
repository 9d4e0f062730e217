"""Write scalefit run files from Hugging Face ``Trainer`` or PyTorch Lightning loops.

Both callbacks feed a :class:`~scalefit.train.logger.RunLogger`: one row per optimizer step (0-based, as in every
scalefit run file) with the LR that step's update used, read from the optimizer just before the update, and the
training loss of that step's whole batch (the mean over its gradient-accumulation micro-batches). The frameworks
are imported lazily, so this module imports without them; building a callback without its framework raises a
one-line ``MissingDependencyError`` (these frameworks are not scalefit extras: install the one you use).

Hugging Face::

    from scalefit.train.callbacks import hf_callback
    trainer = Trainer(..., args=TrainingArguments(logging_steps=1, ...),
                      callbacks=[hf_callback("runs/hf.csv", meta={"params": 1.2e8})])

Lightning::

    from scalefit.train.callbacks import lightning_callback
    pl.Trainer(callbacks=[lightning_callback("runs/pl.csv")])   # the module must self.log("train_loss", ...)

What lands in the file:

- ``lr``: every row, exact, whatever the scheduler (the file is dense, so the schedule is exact).
- ``loss``: Hugging Face reports it only every ``logging_steps`` steps, averaged over them, so rows of the other
  steps have an empty loss (a warning says so); set ``logging_steps=1`` for a loss on every row. Lightning: the
  value of ``self.log(loss_key, ...)``, averaged over the micro-batches of the step.
- ``val_loss``: the evaluation loss (``eval_loss`` / ``self.log("val_loss", ...)``) on the step it was measured.
- ``grad_norm`` (Hugging Face, as it logs it) and ``tokens`` (Hugging Face, when
  ``include_num_input_tokens_seen`` is on: tokens seen after the step).
- Metadata: ``batch_size`` (sequences per optimizer step: per-device batch x accumulation x processes); Hugging
  Face also ``peak_lr``, ``warmup_steps``, ``schedule`` and ``seed`` from its arguments (left out when the
  optimizer was not built from them). ``meta=`` adds or overrides keys (``params``, ``seq_len``, ...).

Resuming a run from a checkpoint (``trainer.train(resume_from_checkpoint=...)``, ``fit(ckpt_path=...)``) keeps
the file's rows up to the checkpoint and appends after them. Only the main process (rank 0) writes.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Mapping

from scalefit.errors import MissingDependencyError, ScalefitWarning
from scalefit.train.logger import RunLogger, last_step


def _framework(module: str, package: str, purpose: str) -> Any:
    """Import a training framework or raise one line naming the pip package (it is no scalefit extra)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package, which is not installed. Install it with: pip install {package}"
        ) from None


def _scalar(value: Any) -> float | None:
    """A float from a Python / numpy / 0-d torch number, or None."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _RowWriter:
    """The run file of one callback: opens (or resumes) it and holds the current step's row until it is complete.

    A step's row is opened when its LR is known and written when the next step starts, a checkpoint is saved or
    training ends, so values reported after the update (the loss, an evaluation) still land on it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self.logger: RunLogger | None = None
        self.row: dict[str, Any] | None = None
        self._missed: set[str] = set()  # columns already warned about (a value with no row to go to)

    def open(self, meta: Mapping[str, Any], done_steps: int) -> None:
        """Start the file, or, when ``done_steps`` optimizer steps are already done (a resumed run), keep its rows
        up to step ``done_steps - 1`` and append after them."""
        self.row = None
        previous = last_step(self.path) if done_steps > 0 and os.path.exists(self.path) else None
        if previous is None:
            self.logger = RunLogger(self.path, meta)
            return
        keep = done_steps - 1
        if previous < keep:
            warnings.warn(f"{self.path}: resuming after step {keep}, but the file's last row is step {previous}; "
                          f"steps {previous + 1}..{keep} have no row.", ScalefitWarning, stacklevel=4)
            keep = previous
        self.logger = RunLogger(self.path, resume_from=keep)

    def start(self, step: int, lr: float | None) -> None:
        """Open the row of optimizer step ``step`` (0-based), writing the previous one."""
        if self.logger is None:
            return
        if self.row is not None and self.row["step"] == step:
            return
        self.flush()
        if self.logger.last_step is not None and step <= self.logger.last_step:
            return  # already in the file
        self.row = {"step": step, "lr": float("nan") if lr is None else lr, "loss": None}

    def set(self, step: int, **values: Any) -> None:
        """Fill columns of the open row, if it is the row of ``step``; say so (once per column) when a value has no
        row to go to, e.g. an evaluation before the first optimizer step."""
        given = {k: v for k, v in values.items() if v is not None}
        if self.row is not None and self.row["step"] == step:
            self.row.update(given)
            return
        missed = sorted(set(given) - self._missed)
        if self.logger is not None and missed and (self.logger.last_step is None or step > self.logger.last_step):
            self._missed.update(missed)
            warnings.warn(f"{self.path}: {', '.join(missed)} logged at step {step}, where no optimizer step is open "
                          "(the file has one row per optimizer step), is not written; later values are.",
                          ScalefitWarning, stacklevel=4)

    def flush(self) -> None:
        if self.logger is not None and self.row is not None:
            row, self.row = self.row, None
            self.logger.step(**row)

    def close(self) -> None:
        if self.logger is not None:
            try:
                self.flush()
            finally:
                self.logger.close()
                self.logger = None


def hf_callback(path: str, meta: Mapping[str, Any] | None = None, loss_key: str = "loss",
                val_loss_key: str = "eval_loss") -> Any:
    """A ``transformers.TrainerCallback`` writing ``path``; needs ``transformers`` installed.

    ``loss_key`` and ``val_loss_key`` name the entries of the Trainer's logs that fill the ``loss`` and
    ``val_loss`` columns.
    """
    transformers = _framework("transformers", "transformers", "hf_callback")

    class ScalefitHFCallback(transformers.TrainerCallback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.writer = _RowWriter(path)

        @property
        def logger(self) -> RunLogger | None:
            return self.writer.logger

        def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero:
                return
            accumulation = max(1, int(args.gradient_accumulation_steps))
            processes = max(1, int(getattr(args, "world_size", 1)))
            per_device = int(getattr(args, "train_batch_size", args.per_device_train_batch_size))  # x GPUs (DP)
            info: dict[str, Any] = {"batch_size": per_device * accumulation * processes, "seed": args.seed}
            schedule = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
            group = optimizer.param_groups[0] if optimizer is not None and optimizer.param_groups else {}
            if math.isclose(float(group.get("initial_lr", args.learning_rate)), float(args.learning_rate)):
                # the Trainer built the scheduler from its arguments (a user optimizer has its own initial_lr)
                warmup = 0 if schedule in ("constant", "reduce_lr_on_plateau") else _hf_warmup(args, state)
                info.update(peak_lr=args.learning_rate, warmup_steps=warmup, schedule=schedule)
            self.writer.open({**info, **(meta or {})}, int(state.global_step))
            every = getattr(args, "logging_steps", 1)
            strategy = str(getattr(args.logging_strategy, "value", args.logging_strategy))
            if strategy != "steps" or every != 1:
                when = f"every {every} steps" if strategy == "steps" else f"with logging_strategy={strategy!r}"
                warnings.warn(f"{path}: the Trainer logs the loss {when} (averaged since the last log), so the other "
                              "rows have an empty loss. Set logging_steps=1 for a loss on every row.",
                              ScalefitWarning, stacklevel=2)

        def on_step_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any) -> None:
            # The scheduler steps after the optimizer, so the LR now is the one this step's update uses.
            lr = _scalar(optimizer.param_groups[0]["lr"]) if optimizer is not None else None
            self.writer.start(int(state.global_step), lr)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            tokens = getattr(state, "num_input_tokens_seen", 0)
            if tokens and str(getattr(args, "include_num_input_tokens_seen", "no")) not in ("no", "False"):
                self.writer.set(int(state.global_step) - 1, tokens=int(tokens))

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
                   **kw: Any) -> None:
            if not logs:
                return
            step = int(state.global_step) - 1  # global_step counts the updates done; the row is 0-based
            if self.writer.row is not None and self.writer.row["step"] == step and math.isnan(self.writer.row["lr"]):
                self.writer.set(step, lr=_scalar(logs.get("learning_rate")))  # no optimizer was passed to us
            if loss_key in logs:
                self.writer.set(step, loss=_scalar(logs[loss_key]), grad_norm=_scalar(logs.get("grad_norm")))
            if val_loss_key in logs:
                self.writer.set(step, val_loss=_scalar(logs[val_loss_key]))

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.writer.flush()  # the checkpoint's last step is in the file, so a resume finds it

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.writer.close()

    return ScalefitHFCallback()


def _hf_warmup(args: Any, state: Any) -> int | None:
    """The Trainer's warmup steps (``warmup_steps`` or, below 1 / in older versions, the ratio of the run)."""
    try:
        return int(args.get_warmup_steps(int(state.max_steps)))
    except (AttributeError, TypeError, ValueError):
        return None


def lightning_callback(path: str, meta: Mapping[str, Any] | None = None, loss_key: str = "train_loss",
                       val_loss_key: str = "val_loss") -> Any:
    """A Lightning ``Callback`` writing ``path``; needs ``lightning`` (or ``pytorch_lightning``) installed.

    The loss is ``trainer.callback_metrics[loss_key]`` after each batch (log it with ``self.log(loss_key, ...)``
    in ``training_step``; without it, the loss ``training_step`` returns), averaged over the micro-batches of
    an optimizer step; ``val_loss`` is ``callback_metrics[val_loss_key]`` after each validation. The LR is that
    of the first parameter group of the first optimizer.
    """
    try:
        pl = _framework("lightning.pytorch", "lightning", "lightning_callback")
    except MissingDependencyError:
        pl = _framework("pytorch_lightning", "lightning", "lightning_callback")  # the older package name

    class ScalefitLightningCallback(pl.Callback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.writer = _RowWriter(path)
            self._lr: float | None = None
            self._losses: list[float] = []

        @property
        def logger(self) -> RunLogger | None:
            return self.writer.logger

        def on_train_start(self, trainer: Any, module: Any) -> None:
            if not trainer.is_global_zero:
                return
            info: dict[str, Any] = {}
            loader = trainer.train_dataloader
            per_device = getattr(loader, "batch_size", None)
            if isinstance(per_device, int):
                info["batch_size"] = per_device * max(1, int(trainer.accumulate_grad_batches)) * max(
                    1, int(trainer.world_size))
            seed = os.environ.get("PL_GLOBAL_SEED")  # set by seed_everything
            if seed is not None and seed.lstrip("-").isdigit():
                info["seed"] = int(seed)
            self._losses = []
            self.writer.open({**info, **(meta or {})}, int(trainer.global_step))

        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            # Lightning steps a per-step scheduler after the update, so this is the LR the update uses.
            self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self.writer.logger is None:
                return
            metrics = trainer.callback_metrics
            value = _scalar(metrics.get(f"{loss_key}_step", metrics.get(loss_key)))  # _step: on_step + on_epoch
            if value is None and isinstance(outputs, Mapping) and outputs.get("loss") is not None:
                value = float(outputs["loss"])  # the returned loss, divided by the accumulation in automatic mode
                if getattr(module, "automatic_optimization", True):
                    value *= max(1, int(trainer.accumulate_grad_batches))
            if value is not None:
                self._losses.append(value)
            step = int(trainer.global_step) - 1  # global_step counts the optimizer steps done
            last = self.writer.logger.last_step
            if step < 0 or (last is not None and step <= last) or (
                    self.writer.row is not None and step <= self.writer.row["step"]):
                return  # gradient accumulation: only the batch that stepped the optimizer opens a row
            self.writer.start(step, self._lr)
            self.writer.set(step, loss=sum(self._losses) / len(self._losses) if self._losses else None)
            self._losses = []

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            if self.writer.logger is None or trainer.sanity_checking:
                return
            self.writer.set(int(trainer.global_step) - 1, val_loss=_scalar(trainer.callback_metrics.get(val_loss_key)))

        def on_save_checkpoint(self, trainer: Any, module: Any, checkpoint: Any) -> None:
            self.writer.flush()  # the checkpoint's last step is in the file, so a resume finds it

        def on_train_end(self, trainer: Any, module: Any) -> None:
            self.writer.close()

        def on_exception(self, trainer: Any, module: Any, exception: BaseException) -> None:
            self.writer.close()

    return ScalefitLightningCallback()
