"""The committed notebooks are executed and small. (Running them is nbmake's job: ``--nbmake`` in pyproject's
addopts collects ``notebooks/*.ipynb`` as tests; this file checks what a reader sees on GitHub without running.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_executed_and_small(path: Path) -> None:
    assert path.stat().st_size < 800_000, "keep figures small (rcParams figure.dpi) and outputs short"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "execute the notebook in place before committing"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"cells ran out of order: {counts}"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", "".join(c["source"])
            text = "".join(out.get("text", []))
            assert "Traceback" not in text
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", [])), "figures shown inline"
