"""Write scalefit run files from Hugging Face ``Trainer`` or PyTorch Lightning loops.

Both callbacks feed a :class:`~scalefit.train.logger.RunLogger`: one row per optimizer step with the LR used
for that update and the training loss. The frameworks are imported lazily, so this module imports without
them; building a callback without its framework raises a one-line ``MissingDependencyError``
(these frameworks are not scalefit extras: install the one you use).

Hugging Face::

    from scalefit.train.callbacks import hf_callback
    trainer = Trainer(..., args=TrainingArguments(logging_steps=1, ...),
                      callbacks=[hf_callback("runs/hf.csv", meta={"params": 1.2e8})])

Lightning::

    from scalefit.train.callbacks import lightning_callback
    pl.Trainer(callbacks=[lightning_callback("runs/pl.csv")])   # the module must self.log("train_loss", ...)

Hugging Face reports the loss only every ``logging_steps`` (averaged over those steps); set ``logging_steps=1``
for a dense file. Its step counter is 1-based after the update; the row's ``step`` is that minus one, so it
is the 0-based optimizer step as in every scalefit run file.
"""

from __future__ import annotations

from typing import Any, Mapping

from scalefit.errors import MissingDependencyError
from scalefit.train.logger import RunLogger


def _framework(module: str, package: str, purpose: str) -> Any:
    """Import a training framework or raise one line naming the pip package (it is no scalefit extra)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package, which is not installed. Install it with: pip install {package}"
        ) from None


def hf_callback(path: str, meta: Mapping[str, Any] | None = None, loss_key: str = "loss") -> Any:
    """A ``transformers.TrainerCallback`` writing ``path``; needs ``transformers`` installed."""
    transformers = _framework("transformers", "transformers", "hf_callback")

    class ScalefitHFCallback(transformers.TrainerCallback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.logger: RunLogger | None = None
            self._lr: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            info = {"batch_size": args.per_device_train_batch_size * max(1, args.gradient_accumulation_steps)
                    * max(1, getattr(args, "world_size", 1)), "peak_lr": args.learning_rate,
                    "warmup_steps": args.warmup_steps or None, "seed": args.seed,
                    "schedule": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))}
            self.logger = RunLogger(path, {**info, **(meta or {})})

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kw: Any) -> None:
            if self.logger is None or not logs or loss_key not in logs:
                return
            step = int(state.global_step) - 1
            if self.logger.last_step is not None and step <= self.logger.last_step:
                return  # HF logs the final summary at the last step again
            lr = logs.get("learning_rate")
            self.logger.step(step, lr if lr is not None else float("nan"), logs[loss_key],
                             grad_norm=logs.get("grad_norm"))

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.logger is not None:
                self.logger.close()

    return ScalefitHFCallback()


def lightning_callback(path: str, meta: Mapping[str, Any] | None = None, loss_key: str = "train_loss") -> Any:
    """A Lightning ``Callback`` writing ``path``; needs ``lightning`` (or ``pytorch_lightning``) installed.

    The loss is ``trainer.callback_metrics[loss_key]`` after each batch (log it with ``self.log(loss_key, ...)``
    in ``training_step``); the LR is that of the first parameter group of the first optimizer.
    """
    try:
        pl = _framework("lightning.pytorch", "lightning", "lightning_callback")
    except MissingDependencyError:
        pl = _framework("pytorch_lightning", "lightning", "lightning_callback")  # the older package name

    class ScalefitLightningCallback(pl.Callback):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.logger: RunLogger | None = None
            self._lr: float | None = None

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.logger = RunLogger(path, dict(meta or {}))

        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])  # the LR this step's update uses

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self.logger is None:
                return
            step = int(trainer.global_step) - 1  # global_step counts optimizer steps done
            if step < 0 or (self.logger.last_step is not None and step <= self.logger.last_step):
                return  # gradient accumulation: only the batch that stepped the optimizer writes a row
            value = trainer.callback_metrics.get(loss_key)
            if value is None and isinstance(outputs, Mapping):
                value = outputs.get("loss")
            self.logger.step(step, self._lr if self._lr is not None else float("nan"),
                             None if value is None else float(value))

        def on_train_end(self, trainer: Any, module: Any) -> None:
            if self.logger is not None:
                self.logger.close()

    return ScalefitLightningCallback()
