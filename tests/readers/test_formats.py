"""Adapters: W&B chart and history exports, HF trainer_state.json, Lightning metrics.csv, TensorBoard dirs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, MissingDependencyError, RunFileError
from scalefit.readers import detect_format, read_run, read_runs


# ---- W&B ----------------------------------------------------------------------------------------------------
def test_wandb_chart_export_gives_one_run_per_wandb_run(tmp_path: Path) -> None:
    p = tmp_path / "chart.csv"
    p.write_text(
        '"Step","run-a - train/loss","run-a - train/loss__MIN","run-a - train/loss__MAX","run-a - lr",'
        '"run-b - train/loss","run-b - lr"\n'
        "0,3.0,2.9,3.1,1e-3,3.2,2e-3\n"
        "1,2.5,2.4,2.6,1e-3,2.8,2e-3\n"
        "2,,,,,2.6,1e-3\n"
    )
    assert detect_format(p) == "wandb-chart"
    runs = read_runs([p])
    assert [r.name for r in runs] == ["run-a", "run-b"]
    a, b = runs
    np.testing.assert_array_equal(a.steps, [0, 1])  # row 2 belongs to run-b only
    np.testing.assert_array_equal(a.loss, [3.0, 2.5])
    np.testing.assert_array_equal(b.lr, [2e-3, 2e-3, 1e-3])
    np.testing.assert_array_equal(b.line, [2, 3, 4])
    assert any("skipped 2 min/max band columns" in n for n in a.notes)
    with pytest.raises(RunFileError, match="holds 2 runs"):
        read_run(p)


def test_wandb_chart_without_lr_names_the_run_and_the_fix(tmp_path: Path) -> None:
    p = tmp_path / "chart.csv"
    p.write_text("Step,my run - train/loss\n0,3\n1,2\n")
    with pytest.raises(RunFileError, match=r"chart\.csv:1: run 'my run': missing column 'lr'.*learning rate too"):
        read_runs([p])


def test_wandb_history_export(tmp_path: Path) -> None:
    p = tmp_path / "history.csv"
    p.write_text("_step,_runtime,train/loss,learning_rate,eval/loss\n0,1.0,3.0,1e-3,\n1,2.0,2.9,1e-3,3.1\n")
    assert detect_format(p) == "wandb-history"
    run = read_run(p)
    np.testing.assert_array_equal(run.loss, [3.0, 2.9])
    assert "column '_step' read as 'step'" in run.notes
    np.testing.assert_array_equal(run.extra["val_loss"], [np.nan, 3.1])
    assert read_run(p, target="val_loss").observed.tolist() == [False, True]


# ---- Hugging Face -------------------------------------------------------------------------------------------
def hf_state(tmp_path: Path, history: list[dict]) -> Path:
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"global_step": 30, "max_steps": 30, "logging_steps": 10, "train_batch_size": 8,
                             "log_history": history}, indent=2))
    return p


HF_HISTORY = [
    {"epoch": 0.1, "grad_norm": 1.5, "learning_rate": 5e-5, "loss": 3.0, "step": 10},
    {"epoch": 0.2, "grad_norm": 1.2, "learning_rate": 4e-5, "loss": 2.5, "step": 20},
    {"epoch": 0.2, "eval_loss": 2.6, "eval_runtime": 1.0, "step": 20},
    {"epoch": 0.3, "grad_norm": 1.1, "learning_rate": 3e-5, "loss": 2.2, "step": 30},
    {"epoch": 0.3, "step": 30, "total_flos": 1e12, "train_loss": 2.5, "train_runtime": 12.0},
]


def test_hf_trainer_state(tmp_path: Path) -> None:
    p = hf_state(tmp_path, HF_HISTORY)
    assert detect_format(p) == "hf"
    with pytest.warns(AssumptionWarning) as rec:
        run = read_run(p)
    said = [str(w.message) for w in rec]
    # the log starts at its first logging interval (step 10): the LR before it extends the first two rows' line
    assert any("the log starts at step 10, its first logging interval" in m for m in said), said
    assert any("mean training loss over each logging interval (10 steps)" in m for m in said), said
    assert run.step0 == 0 and run.warmup == 0 and run.fmt == "hf"
    np.testing.assert_array_equal(run.lr[:11], 5e-5)  # the first logged LR, kept back to step 0
    np.testing.assert_array_equal(run.steps, [10, 20, 30])
    np.testing.assert_array_equal(run.loss, [3.0, 2.5, 2.2])
    np.testing.assert_array_equal(run.extra["val_loss"], [np.nan, 2.6, np.nan])
    np.testing.assert_array_equal(run.line, [0, 1, 3])  # log_history index
    assert run.meta["max_steps"] == 30 and run.meta["train_batch_size"] == 8
    assert any("left out 1 summary entry of log_history ([4]" in n for n in run.notes)
    assert run.left_out == {"summary entries": 1}
    assert any("merged 1 rows" in n for n in run.notes)
    with pytest.warns(AssumptionWarning):
        val = read_run(p, target="val_loss")
    assert val.observed.tolist() == [False, True, False]


def test_hf_errors_name_the_log_history_index(tmp_path: Path) -> None:
    history = [dict(r) for r in HF_HISTORY]
    history[3]["learning_rate"] = -1.0
    p = hf_state(tmp_path, history)
    with pytest.raises(RunFileError, match=r"trainer_state\.json: log_history\[3\]: key 'learning_rate' is -1\.0; "
                                           r"learning rates must be >= 0") as e:
        read_run(p)
    assert e.value.line is None and e.value.column == "learning_rate"


def test_hf_not_a_trainer_state(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text('{"hidden_size": 8}')
    with pytest.raises(RunFileError, match="no 'log_history' list"):
        read_run(p)


# ---- Lightning ----------------------------------------------------------------------------------------------
def test_lightning_rows_are_merged_by_step(tmp_path: Path) -> None:
    d = tmp_path / "version_0"
    d.mkdir()
    p = d / "metrics.csv"
    p.write_text(
        "epoch,lr-AdamW,step,train_loss_step,train_loss_epoch,val_loss\n"
        ",0.001,0,,,\n"
        "0,,0,3.0,,\n"
        ",0.0008,1,,,\n"
        "0,,1,2.8,,\n"
        "0,,1,,,2.9\n"
        "0,,1,,2.9,\n"
        ",0.0006,2,,,\n"
        "1,,2,2.6,,\n"
    )
    assert detect_format(p) == "lightning"
    with pytest.warns(AssumptionWarning, match=r"spans 2 epochs \(column 'epoch'\).*--max-step 1\)"):
        run = read_run(p)
    np.testing.assert_array_equal(run.steps, [0, 1, 2])
    np.testing.assert_array_equal(run.loss, [3.0, 2.8, 2.6])
    np.testing.assert_allclose(run.lr, [1e-3, 8e-4, 6e-4])
    np.testing.assert_array_equal(run.line, [2, 4, 8])  # first line of each step
    np.testing.assert_array_equal(run.extra["val_loss"], [np.nan, 2.9, np.nan])
    assert run.dense
    assert "column 'train_loss_step' read as 'loss'" in run.notes
    with pytest.warns(AssumptionWarning):
        assert read_runs([d])[0].path == str(p)  # a directory of CSVs


def test_lightning_conflicting_values_on_one_step(tmp_path: Path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,lr-AdamW,train_loss\n0,0,0.001,3.0\n0,0,,3.5\n")
    with pytest.raises(RunFileError, match=r"metrics\.csv:3: column 'train_loss' is 3\.5 but line 2 has 3\.0 for "
                                           r"the same step 0"):
        read_run(p)


# ---- TensorBoard --------------------------------------------------------------------------------------------
def write_events(d: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    d.mkdir(parents=True, exist_ok=True)
    w = EventFileWriter(str(d))
    for tag, points in scalars.items():
        for step, value in points:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            w.add_event(event_pb2.Event(wall_time=1.0, step=step, summary=summary))
    w.close()


def test_tensorboard_event_dir(tmp_path: Path) -> None:
    d = tmp_path / "tb" / "run1"
    write_events(d, {"train/loss": [(0, 3.0), (1, 2.5), (2, 2.25)], "train/lr": [(0, 0.5), (1, 1.0), (2, 1.0)],
                     "val/loss": [(2, 2.5)]})
    assert detect_format(d) == "tensorboard"
    runs = read_runs([tmp_path / "tb"])  # the log root: each event directory is a run
    assert len(runs) == 1
    run = runs[0]
    assert run.path == str(d) and run.dense and run.warmup == 2
    np.testing.assert_array_equal(run.loss, [3.0, 2.5, 2.25])
    np.testing.assert_array_equal(run.lr, [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(run.extra["val_loss"], [np.nan, np.nan, 2.5])
    assert "tag 'train/loss' read as 'loss'" in run.notes


def test_tensorboard_error_names_the_step(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    write_events(d, {"loss": [(0, 3.0), (5, -1.0)], "lr": [(0, 1.0), (5, 1.0)]})
    with pytest.raises(RunFileError, match=r"bad: step 5: tag 'loss' is -1; losses must be > 0"):
        read_run(d)


def test_tensorboard_missing_dependency_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "tb"
    d.mkdir()
    (d / "events.out.tfevents.1.host").write_bytes(b"")
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'scalefit-lm\[tensorboard\]'"):
        read_runs([d])


def test_tensorboard_resumed_run_in_one_directory(tmp_path: Path) -> None:
    """Two event files of one run that overlap (a restart from a checkpoint): an error that suggests --resumed,
    and with it the last value of each step, said."""
    import time
    import warnings

    from scalefit.errors import AssumptionWarning

    d = tmp_path / "run"
    write_events(d, {"loss": [(s, 3.0 - 0.1 * s) for s in range(6)], "lr": [(s, 1.0) for s in range(6)]})
    time.sleep(1.1)  # event file names carry the second: a second file, not the same one
    write_events(d, {"loss": [(s, 2.9 - 0.1 * s) for s in range(3, 9)], "lr": [(s, 1.0) for s in range(3, 9)]})
    with pytest.raises(RunFileError, match=r"tag 'loss' has .* at step \d; .*Pass --resumed"):
        read_run(d)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = read_run(d, resumed=True)
    assert any("--resumed: 1 tag(s) hold two values at a step" in str(w.message) for w in caught
               if issubclass(w.category, AssumptionWarning))
    np.testing.assert_array_equal(run.steps, np.arange(9))
    np.testing.assert_allclose(run.loss[3:], 2.9 - 0.1 * np.arange(3, 9))  # the restart's values
