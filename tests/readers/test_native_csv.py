"""The native run-file CSV: metadata, aliases, dense and sparse files, warmup, schedule files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, RunFileError, ScheduleSpecError
from scalefit.readers import detect_format, read_run, read_runs


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def dense_file(tmp_path: Path) -> Path:
    return write(tmp_path, "a.csv", "# params: 1234567\n# schedule: cosine:peak=3e-4\n# peak_lr: 2e-4\n"
                 "step,lr,loss,val_loss,tokens\n"
                 "0,1e-4,5.0,,1024\n1,2e-4,4.5,4.6,2048\n2,2e-4,4.0,,3072\n3,1e-4,3.5,3.6,4096\n")


def test_dense_file_reads_exactly(tmp_path: Path) -> None:
    run = read_run(dense_file(tmp_path))
    assert run.dense and run.step0 == 0
    np.testing.assert_array_equal(run.steps, [0, 1, 2, 3])
    np.testing.assert_array_equal(run.lr, [1e-4, 2e-4, 2e-4, 1e-4])
    np.testing.assert_array_equal(run.loss, [5.0, 4.5, 4.0, 3.5])
    np.testing.assert_array_equal(run.line, [5, 6, 7, 8])  # metadata and header lines count
    assert run.meta == {"params": 1234567, "schedule": "cosine:peak=3e-4", "peak_lr": 2e-4}
    np.testing.assert_array_equal(run.extra["val_loss"], [np.nan, 4.6, np.nan, 3.6])
    assert run.extra["tokens"].dtype == np.float64
    assert run.warmup == 2  # detected: steps up to the first peak
    assert any("detected" in n for n in run.notes)
    assert detect_format(tmp_path / "a.csv") == "csv"


def test_target_val_loss_keeps_empty_cells_as_nan(tmp_path: Path) -> None:
    run = read_run(dense_file(tmp_path), target="val_loss")
    assert run.target == "val_loss"
    np.testing.assert_array_equal(run.observed, [False, True, False, True])
    np.testing.assert_array_equal(run.extra["loss"], [5.0, 4.5, 4.0, 3.5])


def test_metadata_from_constant_columns_and_warmup_steps(tmp_path: Path) -> None:
    p = write(tmp_path, "m.csv", "step,lr,loss,params,model,warmup_steps\n"
              "0,1,3,100,gpt,1\n1,1,2.5,100,gpt,1\n2,0.5,2,100,gpt,1\n")
    run = read_run(p)
    assert run.meta == {"params": 100, "model": "gpt", "warmup_steps": 1}
    assert run.warmup == 1
    assert "params" not in run.extra


def test_aliases_are_noted(tmp_path: Path) -> None:
    p = write(tmp_path, "w.csv", "Global_Step,train/learning_rate,train/loss,eval/loss\n0,1,3,\n1,1,2,2.1\n")
    run = read_run(p)
    np.testing.assert_array_equal(run.loss, [3, 2])
    assert "column 'train/loss' read as 'loss'" in run.notes
    assert "column 'train/learning_rate' read as 'lr'" in run.notes
    assert "val_loss" in run.extra


def test_file_starting_at_step_1_is_one_based(tmp_path: Path) -> None:
    """HF / Lightning count the first optimizer step as 1: the LR is known from step 0 (the first logged LR
    there), so the fitter takes the run as it is (it refuses runs with step0 > 0)."""
    run = read_run(write(tmp_path, "one.csv", "step,lr,loss\n1,1,3\n2,1,2\n3,0.5,1.5\n"))
    assert run.step0 == 0 and run.dense and run.n_steps == 4
    np.testing.assert_array_equal(run.lr, [1, 1, 1, 0.5])
    assert any("1-based" in n and "LR of step 0 taken as the first logged LR 1 (assumed)" in n for n in run.notes)


def test_semicolon_and_tab_separated_are_read_with_a_note(tmp_path: Path) -> None:
    for name, sep in (("s.csv", ";"), ("t.tsv", "\t")):
        p = write(tmp_path, name, sep.join(["step", "lr", "loss"]) + "\n" + sep.join(["0", "1", "2"]) + "\n"
                  + sep.join(["1", "1", "1.5"]) + "\n")
        run = read_run(p)
        np.testing.assert_array_equal(run.loss, [2, 1.5])
        assert any("separated" in n for n in run.notes)


# ---- sparse files -------------------------------------------------------------------------------------------
def linear_sparse(tmp_path: Path, start: int = 0) -> Path:
    steps = np.arange(start, 1001, 100)
    lr = 1e-3 - 1e-6 * steps  # a linear schedule
    body = "".join(f"{s},{float(v)!r},{3 - s / 1000}\n" for s, v in zip(steps, lr))
    return write(tmp_path, "sparse.csv", "step,lr,loss\n" + body)


def test_sparse_interpolation_is_exact_for_a_linear_schedule(tmp_path: Path) -> None:
    p = linear_sparse(tmp_path)
    with pytest.warns(AssumptionWarning, match=r"sparse\.csv: LR interpolated between rows; largest gap 100 steps "
                                               r"at line 3"):
        run = read_run(p)
    assert not run.dense and run.step0 == 0 and run.n_steps == 1001
    np.testing.assert_allclose(run.lr, 1e-3 - 1e-6 * np.arange(1001), rtol=0, atol=1e-18)
    np.testing.assert_array_equal(run.index, np.arange(0, 1001, 100))
    assert any(n.startswith("LR interpolated between rows; largest gap 100 steps") for n in run.notes)


def test_sparse_late_start_needs_warmup_or_schedule(tmp_path: Path) -> None:
    p = linear_sparse(tmp_path, start=200)  # rows every 100 steps from 200: the first two intervals are missing
    with pytest.warns(AssumptionWarning) as rec:
        run = read_run(p)
    texts = [str(w.message) for w in rec]
    assert any("before step 200" in t and "--warmup 200 or --schedule-file F" in t for t in texts)
    assert run.step0 == 200 and run.n_steps == 801 and run.warmup == 0 and run.warmup_from == "unknown"


def test_warmup_fills_the_steps_before_the_first_row(tmp_path: Path) -> None:
    p = write(tmp_path, "w.csv", "step,lr,loss\n10,1.0,3\n12,0.8,2.5\n")
    with pytest.warns(AssumptionWarning) as rec:
        run = read_run(p, warmup=4)
    assert any("linear warmup of 4 steps" in str(w.message) for w in rec)
    assert run.step0 == 0 and run.warmup == 4
    np.testing.assert_allclose(run.lr, [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1, 1.0, 0.9, 0.8])
    np.testing.assert_array_equal(run.index, [10, 12])


def test_warmup_reaching_the_first_row_mid_ramp(tmp_path: Path) -> None:
    # first row at step 1 < W: the ramp peak*(s+1)/W passes through the first row's LR
    p = write(tmp_path, "w.csv", "step,lr,loss\n3,0.4,3\n5,0.8,2.5\n")
    with pytest.warns(AssumptionWarning):
        run = read_run(p, warmup=10)
    np.testing.assert_allclose(run.lr[:4], [0.1, 0.2, 0.3, 0.4])


def test_schedule_file_gives_every_step_and_is_checked(tmp_path: Path) -> None:
    from scalefit import schedules

    lr = schedules.cosine(1e-3, 1000, warmup=100)
    sched = tmp_path / "lr.csv"
    schedules.to_csv(sched, lr)
    steps = np.arange(150, 1000, 50)
    p = write(tmp_path, "r.csv", "step,lr,loss\n" + "".join(f"{s},{float(lr[s])!r},{3 - s / 1e3}\n" for s in steps))
    run = read_run(p, schedule_file=sched)  # no warning: nothing assumed
    assert run.step0 == 0 and run.warmup == 100
    np.testing.assert_array_equal(run.lr, lr[: steps[-1] + 1])
    assert any("agrees with the logged 'lr'" in n for n in run.notes)

    bad = write(tmp_path, "bad.csv", "step,lr,loss\n150,0.5,3\n200,0.5,2\n")
    with pytest.raises(RunFileError,
                       match=r"bad\.csv:2: column 'lr' is 0\.5 but the schedule file .* 2 of 2 rows disagree") as e:
        read_run(bad, schedule_file=sched)
    assert e.value.line == 2 and e.value.column == "lr"

    long = write(tmp_path, "long.csv", "step,lr,loss\n150,,3\n2000,,2\n")
    with pytest.raises(RunFileError, match=r"long\.csv:3: step 2000 is past the end of the schedule file"):
        read_run(long, schedule_file=sched)

    with pytest.raises(ScheduleSpecError, match="schedule file not found"):
        read_run(p, schedule_file=tmp_path / "missing.csv")


def test_schedule_file_off_by_one_is_named(tmp_path: Path) -> None:
    from scalefit import schedules

    lr = schedules.linear(1.0, 100)
    sched = tmp_path / "lr.csv"
    schedules.to_csv(sched, lr)
    p = write(tmp_path, "r.csv", "step,lr,loss\n" + "".join(f"{s},{float(lr[s + 1])!r},3\n" for s in range(10, 90, 10)))
    with pytest.raises(RunFileError, match="off-by-one"):
        read_run(p, schedule_file=sched)


def test_missing_lr_column_is_fine_with_a_schedule_file(tmp_path: Path) -> None:
    from scalefit import schedules

    sched = tmp_path / "lr.csv"
    schedules.to_csv(sched, schedules.constant(1e-3, 50))
    run = read_run(write(tmp_path, "r.csv", "step,loss\n10,3\n20,2.5\n"), schedule_file=sched)
    assert run.n_steps == 21 and any("logs no LR" in n for n in run.notes)


def test_empty_lr_cells_between_rows_are_interpolated(tmp_path: Path) -> None:
    p = write(tmp_path, "e.csv", "step,lr,loss\n0,1.0,3\n1,,2.9\n2,0.5,2.8\n")
    with pytest.warns(AssumptionWarning, match=r"LR missing on 1 rows with a target value \(line 3\)"):
        run = read_run(p)
    np.testing.assert_allclose(run.lr, [1.0, 0.75, 0.5])
    assert not run.dense


def test_directory_of_csv_files(tmp_path: Path) -> None:
    dense_file(tmp_path)
    write(tmp_path, "b.csv", "step,lr,loss\n0,1,3\n1,1,2\n")
    runs = read_runs([tmp_path])
    assert [r.name for r in runs] == ["a", "b"]


def test_read_run_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="unknown format 'xls'"):
        read_runs([dense_file(tmp_path)], fmt="xls")
