"""The adversarial corpus of run files (``make_runs.py``, built in a temporary folder): ``scalefit inspect`` and
``scalefit fit --law tissue --no-law-error`` on each end with exit 0 and the right numbers, or exit 2 and one line
naming the file (and the line or key); never a traceback, never a nan printed as a result."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from make_runs import Case, make_all  # noqa: E402

from scalefit.cli import app  # noqa: E402

runner = CliRunner()
_NAN = re.compile(r"\bnan\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {c.name: c for c in make_all(tmp_path_factory.mktemp("adversarial"))}


def _names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [c.name for c in make_all(Path(tmp))]


NAMES = _names()


def test_the_corpus_is_large_and_covers_every_format() -> None:
    assert len(NAMES) >= 100
    formats = {n.split("_", 1)[0] for n in NAMES}
    assert formats >= {"csv", "hf", "lightning", "wandb", "jsonl", "tensorboard"}


def _invoke(args: list[str]):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    crash = result.exception if not isinstance(result.exception, (SystemExit, type(None))) else None
    return result, crash


def _check(case: Case, args: list[str], command: str) -> dict | list | None:
    result, crash = _invoke(args)
    out, err = result.stdout, result.stderr
    assert crash is None, f"{command} {case.name}: uncaught {type(crash).__name__}: {crash}"
    assert "Traceback" not in out + err, (command, case.name)
    if case.expect == "ok" or (case.expect == "read" and command == "inspect"):
        assert result.exit_code == 0, (command, case.name, err[-1500:])
        assert not _NAN.search(out), (command, case.name, out[-1500:])
        return json.loads(out)
    assert result.exit_code == 2, (command, case.name, result.exit_code, out[-800:], err[-800:])
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and out == "", (command, case.name, err[-1500:])
    line = " ".join(err.split())  # a long line wraps in the terminal: compare it joined
    assert case.path in line.replace(" ", "") or case.path in line, (command, case.name, line)
    if case.where:
        assert case.where in line, (command, case.name, case.where, line)
    return None


@pytest.mark.parametrize("name", NAMES)
def test_inspect(corpus: dict[str, Case], name: str) -> None:
    case = corpus[name]
    facts = _check(case, ["inspect", case.path, "--json"], "inspect")
    if facts is None:
        return
    assert facts and all(f["rows"] > 0 for f in facts)
    table, crash = _invoke(["inspect", case.path])  # the text tables too: no traceback, no nan
    assert crash is None and table.exit_code == 0 and not _NAN.search(table.stdout), (name, table.stdout[-800:])
    for key, want in case.facts.items():
        got = facts[0][key]
        assert got == want or (isinstance(want, float) and math.isclose(got, want, rel_tol=1e-12)), \
            (name, key, got, want)


@pytest.mark.parametrize("name", NAMES)
def test_fit(corpus: dict[str, Case], name: str) -> None:
    case = corpus[name]
    summary = _check(case, ["fit", case.path, "--law", "tissue", "--no-law-error", "--starts", "4", "--json"],
                     "fit")
    if summary is None:
        return
    r2 = [m["r2"] for m in summary["metrics"].values()]
    assert r2 and all(math.isfinite(x) for x in r2), (name, r2)
    assert all(math.isfinite(p["value"]) for p in summary["params"].values()), (name, summary["params"])
