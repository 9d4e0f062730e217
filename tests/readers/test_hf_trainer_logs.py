"""A real ``transformers.Trainer`` run (a 1-layer Llama on random tokens, CPU, ~30 steps) writes a TensorBoard log
and a trainer_state.json; scalefit reads both as they are (issue 14.1: the Trainer's text summary of its arguments
used to crash the TensorBoard reader) and fits them from the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.readers import read_run

VOCAB, SEQ, STEPS, LOG_EVERY, WARMUP = 64, 16, 30, 2, 6


@pytest.fixture(scope="module")
def hf_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    pytest.importorskip("tensorboard")
    out = tmp_path_factory.mktemp("hf")
    ids = torch.tensor(np.random.default_rng(0).integers(0, VOCAB, size=(64, SEQ)))
    data = [{"input_ids": x, "labels": x} for x in ids]
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=SEQ,
                                      bos_token_id=0, eos_token_id=0)
    args = transformers.TrainingArguments(
        output_dir=str(out / "run"), max_steps=STEPS, per_device_train_batch_size=4,
        learning_rate=3e-3, lr_scheduler_type="cosine", warmup_steps=WARMUP, logging_steps=LOG_EVERY,
        eval_strategy="steps", eval_steps=10, save_strategy="no", report_to=["tensorboard"], use_cpu=True,
        disable_tqdm=True, dataloader_num_workers=0, seed=0)
    trainer = transformers.Trainer(model=transformers.LlamaForCausalLM(config), args=args, train_dataset=data,
                                   eval_dataset=data[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
        trainer.evaluate()  # a final eval entry after the last training row, as many scripts do
    state = out / "trainer_state.json"
    trainer.state.save_to_json(str(state))
    return {"tb": out / "run" / "runs", "state": state}  # the Trainer's default log dir: output_dir/runs/<date_host>


def _read(path: Path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = read_run(path, **kw)
    return run, [str(w.message) for w in caught]


def test_tensorboard_log_of_the_trainer_reads_its_scalars_and_its_arguments(hf_logs: dict[str, Path]) -> None:
    run, said = _read(hf_logs["tb"])
    assert run.fmt == "tensorboard" and run.step0 == 0
    assert run.meta["warmup_steps"] == WARMUP and run.meta["schedule"] == "cosine"
    assert run.warmup == WARMUP and run.warmup_from == "metadata"
    assert any("ignored" in n and "text 'args/text_summary'" in n for n in run.notes), run.notes
    np.testing.assert_array_equal(run.steps[run.observed], np.arange(LOG_EVERY, STEPS + 1, LOG_EVERY))
    assert np.all(np.isfinite(run.lr)) and run.lr.size == STEPS + 1


def test_trainer_state_reads_with_its_final_eval_and_summary_left_out_and_counted(hf_logs: dict[str, Path]) -> None:
    history = json.loads(hf_logs["state"].read_text())["log_history"]
    assert any("train_runtime" in r for r in history) and "eval_loss" in history[-1]
    run, said = _read(hf_logs["state"])
    assert run.fmt == "hf" and run.step0 == 0  # the LR rises from its first logged row: a warmup from 0
    assert run.left_out == {"summary entries": 1}
    assert run.warmup_from == "lr" and abs(run.warmup - WARMUP) <= LOG_EVERY + 1
    assert any("mean training loss over each logging interval (2 steps)" in m for m in said), said
    val, _ = _read(hf_logs["state"], target="val_loss")
    assert val.observed.sum() == 3  # evals at 10, 20, 30 (the final one merged with step 30)


@pytest.mark.parametrize("key", ["tb", "state"])
def test_cli_inspects_and_fits_the_trainer_logs(hf_logs: dict[str, Path], key: str) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["inspect", str(hf_logs[key]), "--json"])
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.stdout)[0]
    assert facts["step0"] == 0 and facts["rows"] >= STEPS // LOG_EVERY
    fitted = runner.invoke(app, ["fit", str(hf_logs[key]), "--law", "tissue", "--no-law-error", "--starts", "8",
                                 "--json"])
    assert fitted.exit_code == 0, fitted.output
    assert "Traceback" not in fitted.output
    assert json.loads(fitted.stdout)["law"] == "tissue"
