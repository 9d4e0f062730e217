"""The HF and Lightning callbacks, run inside the real frameworks on tiny models (CPU, random init, no download).

Each test trains 8-12 steps (about a second each once the framework is imported) and checks the run file against
what the framework itself did: the LR the optimizer held when it stepped (a ``register_step_pre_hook``), the loss
the framework logged or the module computed, the metadata, gradient accumulation and resuming from a checkpoint.
Each test skips when its framework is not installed (both are in the ``[test]`` extra).
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from scalefit.readers import read_run

pytestmark = [
    pytest.mark.torch,
    # the frameworks' own deprecation notices and hints (worker counts, ...) are not ours
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
                               "error::scalefit.errors.ScalefitWarning"),
]

VOCAB, SEQ = 64, 16


def _rows(path):
    """The data rows of a run file as dicts of strings (empty string = empty cell)."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    header = lines[0].split(",")
    return [dict(zip(header, ln.split(","))) for ln in lines[1:]]


# -- Hugging Face ---------------------------------------------------------------------------------------------


def _hf_trainer(tmp_path, callback, *, steps=12, batch=4, accumulation=1, logging_steps=1, **kw):
    """A real transformers.Trainer on a 1-layer Llama (random init) and random token ids; returns (trainer, lrs).

    ``lrs`` fills with the LR of the first parameter group each time the torch optimizer steps.
    """
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # the Trainer needs it

    ids = torch.tensor(np.random.default_rng(0).integers(0, VOCAB, size=(64, SEQ)))
    data = [{"input_ids": x, "labels": x} for x in ids]
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=SEQ,
                                      bos_token_id=0, eos_token_id=0)  # no dropout: runs are comparable
    model = transformers.LlamaForCausalLM(config)
    lrs: list[float] = []

    class RecordLR(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **_):
            torch_opt = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
            torch_opt.register_step_pre_hook(lambda opt, *a: lrs.append(opt.param_groups[0]["lr"]))

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf_out"), max_steps=steps, per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation, learning_rate=1e-3, seed=0, logging_steps=logging_steps,
        report_to="none", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
        **{"lr_scheduler_type": "cosine", "warmup_steps": 3, "save_strategy": "no", **kw})
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, eval_dataset=data[:8],
                                   callbacks=[callback, RecordLR()])
    return trainer, lrs


def test_hf_trainer_writes_the_applied_lr_and_the_logged_loss_of_every_step(tmp_path):
    pytest.importorskip("transformers")
    from scalefit.train.callbacks import hf_callback

    path = tmp_path / "hf.csv"
    trainer, lrs = _hf_trainer(tmp_path, hf_callback(str(path), meta={"params": 1000, "seq_len": SEQ}),
                               eval_strategy="steps", eval_steps=4, include_num_input_tokens_seen="all")
    trainer.train()

    run = read_run(path)
    history = trainer.state.log_history
    logged = {h["step"] - 1: h for h in history if "loss" in h}  # HF's steps are 1-based
    evals = {h["step"] - 1: h["eval_loss"] for h in history if "eval_loss" in h}
    assert run.steps.tolist() == list(range(12)) == sorted(logged)
    assert len(lrs) == 12 and run.lr.tolist() == pytest.approx(lrs, rel=1e-5, abs=1e-12)
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(1e-3)  # HF's warmup starts at 0 and peaks after 3 steps
    assert np.all(np.isfinite(run.loss)) and np.all(run.loss > 0)
    assert run.loss.tolist() == pytest.approx([logged[s]["loss"] for s in range(12)], rel=1e-5)
    rows = _rows(path)
    assert [float(r["grad_norm"]) for r in rows] == pytest.approx([logged[s]["grad_norm"] for s in range(12)],
                                                                   rel=1e-5)
    assert sorted(evals) == [3, 7, 11]
    assert {i: float(r["val_loss"]) for i, r in enumerate(rows) if r["val_loss"]} == pytest.approx(evals, rel=1e-5)
    assert [int(r["tokens"]) for r in rows] == [(s + 1) * 4 * SEQ for s in range(12)]
    assert run.meta == {"batch_size": 4, "seed": 0, "peak_lr": 1e-3, "warmup_steps": 3, "schedule": "cosine",
                        "params": 1000, "seq_len": SEQ}
    assert run.warmup == 3


def test_hf_gradient_accumulation_writes_one_row_per_optimizer_step(tmp_path):
    pytest.importorskip("transformers")
    from scalefit.train.callbacks import hf_callback

    path = tmp_path / "ga.csv"
    trainer, lrs = _hf_trainer(tmp_path, hf_callback(str(path)), steps=8, batch=2, accumulation=2,
                               lr_scheduler_type="linear", warmup_steps=2)
    trainer.train()
    run = read_run(path)
    assert run.steps.tolist() == list(range(8)) and len(lrs) == 8
    assert run.lr.tolist() == pytest.approx(lrs, rel=1e-5, abs=1e-12)
    assert run.meta["batch_size"] == 4 and run.meta["schedule"] == "linear" and run.meta["warmup_steps"] == 2

    # The same 4 sequences in one batch give the same first loss: each row is the loss of the whole step.
    single = tmp_path / "single.csv"
    trainer, _ = _hf_trainer(tmp_path, hf_callback(str(single)), steps=1, batch=4, lr_scheduler_type="linear",
                             warmup_steps=2)
    trainer.train()
    assert read_run(single).loss[0] == pytest.approx(run.loss[0], rel=1e-5)


def test_hf_sparse_logging_warns_and_keeps_the_lr_of_every_step(tmp_path):
    pytest.importorskip("transformers")
    from scalefit.errors import ScalefitWarning
    from scalefit.train.callbacks import hf_callback

    path = tmp_path / "sparse.csv"
    trainer, lrs = _hf_trainer(tmp_path, hf_callback(str(path)), steps=8, logging_steps=4)
    with pytest.warns(ScalefitWarning, match="every 4 steps"):
        trainer.train()
    rows = _rows(path)
    assert [int(r["step"]) for r in rows] == list(range(8))
    assert [float(r["lr"]) for r in rows] == pytest.approx(lrs, rel=1e-5, abs=1e-12)
    logged = {h["step"] - 1: h["loss"] for h in trainer.state.log_history if "loss" in h}
    assert {i: float(r["loss"]) for i, r in enumerate(rows) if r["loss"]} == pytest.approx(logged, rel=1e-5)
    assert sorted(logged) == [3, 7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_run(path).observed.sum() == 2


def test_hf_resume_from_checkpoint_keeps_the_rows_before_it(tmp_path):
    pytest.importorskip("transformers")
    from scalefit.train.callbacks import hf_callback

    path = tmp_path / "resume.csv"
    kw = dict(steps=8, save_strategy="steps", save_steps=4)
    trainer, lrs = _hf_trainer(tmp_path, hf_callback(str(path)), **kw)
    trainer.train()
    first = path.read_text().splitlines()
    assert len(_rows(path)) == 8

    # as after a crash past step 4: the file has rows the checkpoint does not know about
    trainer, again = _hf_trainer(tmp_path, hf_callback(str(path)), **kw)
    trainer.train(resume_from_checkpoint=str(tmp_path / "hf_out" / "checkpoint-4"))
    assert len(again) == 4  # only steps 4..7 ran
    lines = path.read_text().splitlines()
    assert lines[: len(first) - 4] == first[:-4]  # metadata, header and steps 0..3 untouched
    run = read_run(path)
    assert run.steps.tolist() == list(range(8)) and run.lr.tolist() == pytest.approx(lrs, rel=1e-5, abs=1e-12)


# -- Lightning ------------------------------------------------------------------------------------------------


def _lightning(tmp_path, callback, *, steps=12, accumulation=1, on_epoch=False, val_every=None, **kw):
    """A real lightning.Trainer and a linear-regression LightningModule with warmup + cosine stepped per step.

    Returns (trainer, module, dataloader, lrs); ``module.losses`` fills with each micro-batch's loss and
    ``module.val_losses`` with each validation's mean loss.
    """
    torch = pytest.importorskip("torch")
    pl = pytest.importorskip("lightning.pytorch")

    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(8, 1)
            self.losses: list[float] = []
            self.val_losses: list[float] = []
            self._val: list[float] = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.losses.append(loss.item())
            self.log("train_loss", loss, on_step=True, on_epoch=on_epoch)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self._val.append(loss.item())
            self.log("val_loss", loss)

        def on_validation_epoch_end(self):
            if not self.trainer.sanity_checking:
                self.val_losses.append(float(np.mean(self._val)))
            self._val = []

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=1e-2)

            def factor(s):  # 3 warmup steps, then cosine to 0 at step 12
                return (s + 1) / 3 if s < 3 else 0.5 * (1 + math.cos(math.pi * (s - 3) / 9))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    lrs: list[float] = []

    class RecordLR(pl.Callback):
        def on_train_start(self, trainer, module):
            trainer.optimizers[0].register_step_pre_hook(lambda opt, *a: lrs.append(opt.param_groups[0]["lr"]))

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(64, 1, generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, generator=g)
    torch.manual_seed(0)
    module = Regression()
    options = dict(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, accumulate_grad_batches=accumulation,
                   num_sanity_val_steps=0)
    if val_every is not None:
        options.update(val_check_interval=val_every, limit_val_batches=2)
    else:
        options.update(limit_val_batches=0)
    options.update(kw)
    trainer = pl.Trainer(callbacks=[callback, RecordLR(), *options.pop("callbacks", [])], **options)
    val_loader = torch.utils.data.DataLoader(data, batch_size=8)
    return trainer, module, (loader, val_loader if val_every is not None else None), lrs


def test_lightning_trainer_writes_the_applied_lr_and_the_loss_of_every_step(tmp_path, monkeypatch):
    pl = pytest.importorskip("lightning.pytorch")
    from scalefit.train.callbacks import lightning_callback

    monkeypatch.setenv("PL_GLOBAL_SEED", "0")  # restored afterwards; seed_everything sets it
    pl.seed_everything(0, verbose=False)
    path = tmp_path / "pl.csv"
    trainer, module, (loader, val), lrs = _lightning(tmp_path, lightning_callback(str(path), meta={"params": 9}),
                                                     val_every=4)
    trainer.fit(module, loader, val)

    run = read_run(path)
    assert run.steps.tolist() == list(range(12)) and len(lrs) == 12
    assert run.lr.tolist() == pytest.approx(lrs, rel=1e-5)
    assert lrs[0] == pytest.approx(1e-2 / 3) and max(lrs) == pytest.approx(1e-2)
    assert np.all(np.isfinite(run.loss)) and run.loss.tolist() == pytest.approx(module.losses, rel=1e-5)
    rows = _rows(path)
    assert len(module.val_losses) == 3
    assert {i: float(r["val_loss"]) for i, r in enumerate(rows) if r["val_loss"]} == pytest.approx(
        dict(zip([3, 7, 11], module.val_losses)), rel=1e-5)
    assert run.meta == {"batch_size": 4, "seed": 0, "params": 9}


def test_lightning_gradient_accumulation_writes_one_row_per_optimizer_step(tmp_path):
    pytest.importorskip("lightning.pytorch")
    from scalefit.train.callbacks import lightning_callback

    path = tmp_path / "ga.csv"
    trainer, module, (loader, _), lrs = _lightning(tmp_path, lightning_callback(str(path)), steps=10,
                                                   accumulation=2, on_epoch=True)
    trainer.fit(module, loader)
    run = read_run(path)
    assert run.steps.tolist() == list(range(10)) and len(lrs) == 10 and len(module.losses) == 20
    assert run.lr.tolist() == pytest.approx(lrs, rel=1e-5)
    pairs = np.asarray(module.losses).reshape(10, 2).mean(axis=1)  # the loss of each step's 2 micro-batches
    assert run.loss.tolist() == pytest.approx(pairs.tolist(), rel=1e-5)
    assert run.meta["batch_size"] == 8


def test_lightning_resume_from_checkpoint_keeps_the_rows_before_it(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from scalefit.train.callbacks import lightning_callback

    path = tmp_path / "resume.csv"

    def checkpoints():
        return pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=4, save_top_k=-1)

    trainer, module, (loader, _), lrs = _lightning(tmp_path, lightning_callback(str(path)), steps=8,
                                                   enable_checkpointing=True, callbacks=[checkpoints()])
    trainer.fit(module, loader)
    first = path.read_text().splitlines()
    assert len(_rows(path)) == 8

    trainer, module, (loader, _), again = _lightning(tmp_path, lightning_callback(str(path)), steps=8,
                                                     enable_checkpointing=True, callbacks=[checkpoints()])
    (ckpt,) = sorted((tmp_path / "ckpt").glob("*step=4*.ckpt"))
    trainer.fit(module, loader, ckpt_path=str(ckpt))
    assert len(again) == 4
    assert path.read_text().splitlines()[: len(first) - 4] == first[:-4]  # metadata, header, steps 0..3 untouched
    run = read_run(path)
    assert run.steps.tolist() == list(range(8)) and run.lr.tolist() == pytest.approx(lrs, rel=1e-5)


def test_only_the_main_process_writes(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    pytest.importorskip("lightning.pytorch")
    from types import SimpleNamespace

    from scalefit.train.callbacks import hf_callback, lightning_callback

    hf = hf_callback(str(tmp_path / "hf.csv"))
    args = transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", logging_steps=1)
    state, control = transformers.TrainerState(is_world_process_zero=False), transformers.TrainerControl()
    hf.on_train_begin(args, state, control)
    hf.on_step_begin(args, state, control)
    state.global_step = 1
    hf.on_log(args, state, control, logs={"loss": 3.0})
    hf.on_train_end(args, state, control)

    pl = lightning_callback(str(tmp_path / "pl.csv"))
    trainer = SimpleNamespace(is_global_zero=False, global_step=1, callback_metrics={"train_loss": 3.0})
    pl.on_train_start(trainer, None)
    pl.on_train_batch_end(trainer, None, None, None, 0)
    pl.on_train_end(trainer, None)
    assert list(tmp_path.glob("*.csv")) == []


# -- without the frameworks -----------------------------------------------------------------------------------


def test_callbacks_without_their_framework_raise_one_line(monkeypatch):
    from scalefit.errors import MissingDependencyError
    from scalefit.train.callbacks import hf_callback, lightning_callback

    monkeypatch.setitem(sys.modules, "transformers", None)  # hide them even when installed
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.setitem(sys.modules, "pytorch_lightning", None)
    with pytest.raises(MissingDependencyError, match="pip install transformers"):
        hf_callback("x.csv")
    with pytest.raises(MissingDependencyError, match="pip install lightning"):
        lightning_callback("x.csv")


def test_importing_the_callbacks_imports_no_framework():
    probe = ("import sys, scalefit, scalefit.train.callbacks\n"
             "print(sorted(m for m in ('transformers', 'lightning', 'pytorch_lightning') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_value_with_no_open_row_is_announced_not_dropped_silently(tmp_path):
    import warnings as w

    from scalefit.errors import ScalefitWarning
    from scalefit.train.callbacks import _RowWriter

    writer = _RowWriter(tmp_path / "run.csv")
    writer.open({"batch_size": 4}, done_steps=0)
    with pytest.warns(ScalefitWarning, match="val_loss logged at step -1, where no optimizer step is open"):
        writer.set(-1, val_loss=3.0)  # an evaluation before the first step
    with w.catch_warnings():
        w.simplefilter("error")
        writer.set(-1, val_loss=2.9)  # said once per column
        writer.start(0, 1e-3)
        writer.set(0, loss=3.1, val_loss=3.05)
        writer.close()
    run = read_run(tmp_path / "run.csv", target="val_loss")
    assert run.steps.tolist() == [0] and run.loss.tolist() == [3.05]
