"""Shared test fixtures.

``reference_dir`` is the folder of real published curves next to the repository (``<repo>/../shared/reference``).
Tests that use it are marked ``@pytest.mark.reference`` and skip when the folder is absent (it is never copied
into the project).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "reference").resolve()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Path of ``<repo>/../shared/reference``; skips the test when that folder is absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_DIR}")
    return REFERENCE_DIR
