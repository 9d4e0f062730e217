"""HF and Lightning callbacks; each test skips when its framework is not installed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scalefit.readers import read_run


def test_hf_callback_writes_zero_based_steps(tmp_path):
    pytest.importorskip("transformers")
    from scalefit.train.callbacks import hf_callback

    cb = hf_callback(str(tmp_path / "hf.csv"), meta={"params": 1000})
    args = SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=2, world_size=1,
                           learning_rate=1e-3, warmup_steps=0, seed=0, lr_scheduler_type="linear")
    cb.on_train_begin(args, None, None)
    for step in (1, 2, 3):
        cb.on_log(args, SimpleNamespace(global_step=step), None, logs={"loss": 3.0 - step / 10, "learning_rate": 1e-3})
    cb.on_log(args, SimpleNamespace(global_step=3), None, logs={"train_loss": 2.8})  # final summary: ignored
    cb.on_train_end(args, None, None)
    run = read_run(tmp_path / "hf.csv")
    assert run.steps.tolist() == [0, 1, 2] and run.meta["batch_size"] == 8


def test_lightning_callback_writes_one_row_per_optimizer_step(tmp_path):
    pytest.importorskip("lightning")
    import torch

    from scalefit.train.callbacks import lightning_callback

    cb = lightning_callback(str(tmp_path / "pl.csv"))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    trainer = SimpleNamespace(optimizers=[opt], global_step=0, callback_metrics={})
    cb.on_train_start(trainer, None)
    for step in range(3):
        cb.on_train_batch_start(trainer, None, None, step)
        trainer.global_step = step + 1
        trainer.callback_metrics = {"train_loss": torch.tensor(2.0 - step / 10)}
        cb.on_train_batch_end(trainer, None, None, None, step)
    cb.on_train_end(trainer, None)
    run = read_run(tmp_path / "pl.csv")
    assert run.steps.tolist() == [0, 1, 2] and run.lr[0] == pytest.approx(0.1)


def test_callbacks_without_their_framework_raise_one_line(monkeypatch):
    import sys

    from scalefit.errors import MissingDependencyError
    from scalefit.train.callbacks import hf_callback

    monkeypatch.setitem(sys.modules, "transformers", None)  # hide it even when installed
    with pytest.raises(MissingDependencyError, match="pip install transformers"):
        hf_callback("x.csv")
