"""Real training logs nobody on the project wrote (tests/data/real_logs, issue 13): what `scalefit fit` and
`scalefit inspect` must do with each, as tests/data/real_logs/expected.json states it.

expect=fit: `fit PATH ARGS --law tissue --no-law-error --json` exits 0 with a finite in-sample R2 for every run (at
least `r2_min` when the entry gives one; with `"status": "FAILED"`, for a log the law does not describe: exits 1 with
that status and the R2 printed), and
`inspect PATH ARGS --json` exits 0 with the expected number of runs, each with a warmup in [warmup_min, warmup_max]
(inferred from the logged LR, or as given); the `notes` appear in inspect's notes or warnings, the `fit_notes` in fit's
output. expect=error: both commands exit 2 with exactly one `error:` line that names PATH and holds the `error` and
`advice` words; no traceback; nothing of `forbid` (advice that would throw data away) anywhere.

Substrings are matched case-insensitively on whitespace-normalised text; 'a|b' accepts either. The fits use the
Tissue law without the law-error cross-validation, so each file takes well under a second.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scalefit.cli import app

CORPUS = Path(__file__).parent / "data" / "real_logs"
ENTRIES: list[dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())["files"]
runner = CliRunner()


def _invoke(args: list[str]) -> tuple[int, str, str, BaseException | None]:
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    exc = result.exception if result.exception is not None and not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr, exc


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def _has(text: str, alternatives: str) -> bool:
    flat = _flat(text)
    return any(alt.strip().lower() in flat for alt in alternatives.split("|"))


def _path(entry: dict[str, Any]) -> str:
    return str(CORPUS / entry["path"])


def test_every_corpus_file_has_an_expectation_and_a_source() -> None:
    """The corpus, expected.json and SOURCES.md list the same logs; every log exists."""
    sources = (CORPUS / "SOURCES.md").read_text()
    dirs = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    listed = {e["path"].split("/")[0] for e in ENTRIES}
    assert listed == dirs
    for e in ENTRIES:
        assert (CORPUS / e["path"]).exists(), e["path"]
        assert f"`{e['path'].split('/')[0]}/" in sources, e["path"]
        assert e["expect"] in ("fit", "error")
    assert len(ENTRIES) >= 15 and len({e["format"].split(" (")[0] for e in ENTRIES}) >= 5
    assert len({e["name"] for e in ENTRIES}) == len(ENTRIES)  # a file may have entries with other options


def _check_error(entry: dict[str, Any], code: int, out: str, err: str, exc: BaseException | None) -> None:
    path = _path(entry)
    assert exc is None, f"uncaught {type(exc).__name__}: {exc}"
    both = out + err
    assert code == 2, both[-2000:]
    assert "Traceback" not in both
    error_lines = [ln for ln in both.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1, both[-2000:]
    line = error_lines[0]
    assert path in line, line
    for words in entry.get("error", []):
        assert _has(line, words), (words, line)
    if entry.get("advice"):
        assert _has(line, entry["advice"]), (entry["advice"], line)
    for bad in entry.get("forbid", []):
        assert bad.lower() not in both.lower(), (bad, line)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_fit(entry: dict[str, Any]) -> None:
    code, out, err, exc = _invoke(["fit", _path(entry), *entry.get("args", []), "--law", "tissue",
                                   "--no-law-error", "--json"])
    if entry["expect"] == "error":
        _check_error(entry, code, out, err, exc)
        return
    assert exc is None, f"uncaught {type(exc).__name__}: {exc}"
    failed = entry.get("status") == "FAILED"  # the law does not describe the curve: a result that is none, exit 1
    assert code == (1 if failed else 0), (out + err)[-2000:]
    summary = json.loads(out)
    assert (summary["status"] == "FAILED") == failed, summary["status"]
    r2 = [m["r2"] for m in summary["metrics"].values()]
    assert r2 and all(isinstance(x, (int, float)) and math.isfinite(x) for x in r2), r2
    if "r2_min" in entry:
        assert min(r2) > entry["r2_min"], r2
    if "runs" in entry:
        assert len(r2) == entry["runs"]
    said = err + " ".join(summary.get("messages", []))
    for words in entry.get("fit_notes", []):
        assert _has(said, words), (words, said[-2000:])


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_inspect(entry: dict[str, Any]) -> None:
    code, out, err, exc = _invoke(["inspect", _path(entry), *entry.get("args", []), "--json"])
    if entry["expect"] == "error":
        _check_error(entry, code, out, err, exc)
        return
    assert exc is None, f"uncaught {type(exc).__name__}: {exc}"
    assert code == 0, (out + err)[-2000:]
    facts = json.loads(out)
    if "runs" in entry:
        assert len(facts) == entry["runs"]
    for f in facts:
        assert entry.get("warmup_min", 0) <= f["warmup"] <= entry.get("warmup_max", math.inf), f["warmup"]
    said = err + " ".join(n for f in facts for n in f.get("notes", []))
    for words in entry.get("notes", []):
        assert _has(said, words), (words, said[-2000:])
