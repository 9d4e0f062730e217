"""Atomic JSON writing, plain-type conversion and schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import ResultFileError
from scalefit.jsonio import read_json, to_plain, write_json


def test_to_plain_converts_numpy_and_nonfinite() -> None:
    obj = {"a": np.float64(1.5), "b": np.arange(3), "c": float("nan"), "d": (np.int64(2), np.bool_(True))}
    assert to_plain(obj) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [2, True]}


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "fit.json"
    write_json(target, {"schema": "scalefit.fit/1", "x": np.array([1.0, 2.0])})
    assert json.loads(target.read_text()) == {"schema": "scalefit.fit/1", "x": [1.0, 2.0]}
    assert [p.name for p in target.parent.iterdir()] == ["fit.json"]  # no temporary file left behind
    assert read_json(target, schema="scalefit.fit")["x"] == [1.0, 2.0]


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultFileError, match="bad.json: not valid JSON"):
        read_json(bad)
    other = tmp_path / "other.json"
    write_json(other, {"schema": "scalefit.hparams/1"})
    with pytest.raises(ResultFileError, match="expected scalefit.fit/N"):
        read_json(other, schema="scalefit.fit")


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (0600); the result must follow the umask like any new file."""
    import os

    old = os.umask(0o022)
    try:
        target = write_json(tmp_path / "fit.json", {"a": 1})
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
