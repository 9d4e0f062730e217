"""Golden checks on the bundled run files in data/runs/ (produced by cli/make_data.sh)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning
from scalefit.readers import read_run

DATA = Path(__file__).resolve().parents[2] / "data" / "runs"
ALL = sorted(DATA.rglob("*.csv")) if DATA.is_dir() else []
#: the closed loop keeps the val rows of its trainings (a setting's folder) and the per-step schedules it trained
#: (``schedules/``, ``step,lr``): data/runs/closed_loop/README.md
CLOSED_LOOP = DATA / "closed_loop"
SCHEDULES = [p for p in ALL if p.parent.name == "schedules"]
VAL_ROWS = [p for p in ALL if p.parent.parent == CLOSED_LOOP and p.parent.name != "fits" and p not in SCHEDULES]
FILES = [p for p in ALL if p not in SCHEDULES and p not in VAL_ROWS]
REQUIRED = ("params", "batch_size", "seq_len", "tokens_per_step", "peak_lr", "warmup_steps", "schedule",
            "total_steps", "seed", "model")

GENERATING = DATA.is_dir() and any(DATA.rglob("*.ckpt"))  # cli/make_data.sh deletes checkpoints when done

pytestmark = [
    pytest.mark.skipif(not FILES, reason="no bundled run files in data/runs/ yet"),
    pytest.mark.skipif(GENERATING, reason="cli/make_data.sh is still writing data/runs/ (checkpoints present)"),
]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(DATA)) for p in FILES])
def test_every_bundled_file_is_a_complete_dense_run(path):
    run = read_run(path)
    for key in REQUIRED:
        assert key in run.meta, f"{path.name}: metadata {key} missing"
    total = int(run.meta["total_steps"])
    assert run.dense and run.steps.tolist() == list(range(total))
    assert run.meta["tokens_per_step"] == run.meta["batch_size"] * run.meta["seq_len"]
    assert np.all(np.isfinite(run.loss)) and run.lr.max() == pytest.approx(run.meta["peak_lr"])
    val = run.extra["val_loss"]
    assert np.isfinite(val[-1]) and np.isfinite(val).sum() >= 5  # a fixed eval grid plus the last step
    assert np.nanmean(val[-3:]) < val[0]  # it learnt something


@pytest.mark.parametrize("path", VAL_ROWS, ids=[str(p.relative_to(DATA)) for p in VAL_ROWS])
def test_every_closed_loop_copy_is_a_complete_run_with_its_val_rows(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssumptionWarning)  # the LR between the kept rows is interpolated (said)
        run = read_run(path)
    for key in REQUIRED:
        assert key in run.meta, f"{path.name}: metadata {key} missing"
    total = int(run.meta["total_steps"])
    assert int(run.steps[-1]) == total - 1  # complete: it reached its last step
    val = run.extra["val_loss"]
    assert np.all(np.isfinite(val)) and val.size >= total // 50  # every 50 steps and the last
    assert val[-1] < val[0]


@pytest.mark.parametrize("path", SCHEDULES, ids=[str(p.relative_to(DATA)) for p in SCHEDULES])
def test_every_closed_loop_schedule_is_a_per_step_lr(path):
    head, *rows = path.read_text().splitlines()
    assert head.replace(" ", "").lower().startswith("step,lr")
    table = np.array([[float(x) for x in r.split(",")[:2]] for r in rows if r and not r.startswith("#")])
    assert table[:, 0].tolist() == list(range(len(table)))
    assert np.all(np.isfinite(table[:, 1])) and table[:, 1].min() >= 0


def test_the_bundled_set_is_small_and_covers_schedules_and_sizes():
    size = sum(p.stat().st_size for p in ALL)
    # 8.6 MB: curves 1.3, grid 2.9 (85 runs), isoflop 1.8 (20 runs), scaling 0.3, closed_loop 2.5
    assert size < 10e6, f"data/runs holds {size / 1e6:.1f} MB of run files; keep it under 10 MB"
    curves = [read_run(p).meta for p in FILES if p.parent.name == "curves"]
    by_model: dict[str, set[str]] = {}
    for m in curves:
        by_model.setdefault(m["model"], set()).add(str(m["schedule"]).split(":")[0])
    if by_model:
        assert max(len(s) for s in by_model.values()) >= 4  # one model at >= 4 schedules
        assert len(by_model) >= 3  # >= 3 sizes


@pytest.mark.torch
def test_the_trainer_still_writes_the_bundled_format(tmp_path):
    """The first steps of a bundled run, trained again now: the metadata lines are the bundled file's, byte for
    byte (the version aside), and the rows agree to float32 rounding (kernels differ across CPUs, so not bytes)."""
    pytest.importorskip("torch")
    from scalefit.train.trainer import TrainConfig, train

    bundled = DATA / "curves" / "tiny_cosine_lr0.003_bs16.csv"
    if not bundled.is_file():
        pytest.skip("data/runs/curves/tiny_cosine_lr0.003_bs16.csv not bundled")
    cfg = TrainConfig(out=str(tmp_path / "again.csv"), model="tiny", steps=3000, batch_size=16, seq_len=64, lr=3e-3,
                      schedule="cosine", warmup=300, data="synthetic", eval_every=50, eval_batches=16, device="cpu",
                      threads=1, progress="none")
    train(cfg, stop_after=2)

    def split(path: Path) -> tuple[list[str], list[str]]:
        lines = path.read_text().splitlines()
        meta = [x for x in lines if x.startswith("#") and not x.startswith("# scalefit_version:")]
        return meta, [x for x in lines if not x.startswith("#")]

    meta, rows = split(Path(cfg.out))
    want_meta, want_rows = split(bundled)
    assert meta == want_meta and rows[0] == want_rows[0] == "step,lr,loss,val_loss,tokens,grad_norm"
    got = np.genfromtxt(rows[1:], delimiter=",")
    want = np.genfromtxt(want_rows[1:4], delimiter=",")
    np.testing.assert_array_equal(got[:, [0, 1, 4]], want[:, [0, 1, 4]])  # step, lr, tokens: exact
    np.testing.assert_allclose(got, want, rtol=1e-4)  # losses and grad norms to float32 kernel rounding
