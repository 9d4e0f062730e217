"""RunLogger: the run-file writer (standard library only: these tests need no torch)."""

from __future__ import annotations

import math

import pytest

from scalefit.errors import RunFileError
from scalefit.train.logger import COLUMNS, RunLogger, format_value, last_step


def _rows(path):
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")][1:]


def test_writes_metadata_header_and_rows(tmp_path):
    p = tmp_path / "runs" / "a.csv"
    with RunLogger(p, {"params": 1000, "peak_lr": 3e-3, "schedule": "cosine:peak=0.003,total=3", "skip": None}) as log:
        log.step(0, 1e-3, 4.5, val_loss=4.6, tokens=64, grad_norm=1.25)
        log.step(1, 2e-3, 4.25, tokens=128)
    text = p.read_text()
    assert text.splitlines()[:4] == [
        "# params: 1000",
        "# peak_lr: 0.003",
        "# schedule: cosine:peak=0.003,total=3",
        ",".join(COLUMNS),
    ]
    assert _rows(p) == ["0,0.001,4.5,4.6,64,1.25", "1,0.002,4.25,,128,"]
    assert last_step(p) == 1


def test_format_value_rounds_to_six_significant_digits():
    assert format_value(3.14159265358979) == "3.14159"
    assert format_value(1e-5) == "1e-05"
    assert format_value(None) == "" and format_value(math.nan) == ""
    assert format_value(7) == "7"


def test_steps_must_increase_and_columns_must_exist(tmp_path):
    with RunLogger(tmp_path / "a.csv", {}) as log:
        log.step(0, 1e-3, 4.0)
        with pytest.raises(ValueError, match="strictly increase"):
            log.step(0, 1e-3, 4.0)
        with pytest.raises(ValueError, match="unknown columns"):
            log.step(1, 1e-3, 4.0, accuracy=0.5)


def test_metadata_must_be_one_line(tmp_path):
    with pytest.raises(ValueError, match="one line"):
        RunLogger(tmp_path / "a.csv", {"note": "two\nlines"})


def test_resume_truncates_later_rows_and_partial_line(tmp_path):
    p = tmp_path / "a.csv"
    with RunLogger(p, {"params": 10}) as log:
        for s in range(6):
            log.step(s, 1e-3, 5.0 - s / 10)
    with open(p, "ab") as fh:
        fh.write(b"6,0.001,4.4")  # a kill in the middle of a write would look like this (no newline)
    with RunLogger(p, {"params": 10}, resume_from=3) as log:
        assert log.last_step == 3
        log.step(4, 1e-3, 9.0)
    rows = _rows(p)
    assert [r.split(",")[0] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[-1].startswith("4,0.001,9,")
    assert p.read_text().startswith("# params: 10\n")


def test_resume_minus_one_keeps_only_the_header(tmp_path):
    p = tmp_path / "a.csv"
    with RunLogger(p, {}) as log:
        log.step(0, 1e-3, 5.0)
    with RunLogger(p, {}, resume_from=-1):
        pass
    assert _rows(p) == []
    assert last_step(p) is None


def test_resume_errors_name_the_file(tmp_path):
    with pytest.raises(RunFileError, match="does not exist"):
        RunLogger(tmp_path / "missing.csv", {}, resume_from=3)
    p = tmp_path / "short.csv"
    with RunLogger(p, {}) as log:
        log.step(0, 1e-3, 5.0)
    with pytest.raises(RunFileError, match=r"short\.csv: cannot resume after step 5"):
        RunLogger(p, {}, resume_from=5)


def test_every_row_is_one_write(tmp_path, monkeypatch):
    """Crash safety rests on one os.write per row: count them."""
    import os

    calls = []
    real = os.write
    with RunLogger(tmp_path / "a.csv", {}) as log:
        monkeypatch.setattr(os, "write", lambda fd, data: calls.append(bytes(data)) or real(fd, data))
        log.step(0, 1e-3, 5.0, val_loss=5.1)
        log.step(1, 1e-3, 4.9)
    assert calls == [b"0,0.001,5,5.1,,\n", b"1,0.001,4.9,,,\n"]
