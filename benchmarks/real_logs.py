"""What scalefit does with real training logs that nobody on the project wrote (tests/data/real_logs, issue 13).

For each log of the corpus (listed, with what scalefit must do with it, in tests/data/real_logs/expected.json) this
runs what a user runs first, with the options the expectation names (``args``; most have none):

1. ``scalefit inspect FILE --json`` (CLI): exit code, format, runs, rows read, rows left out (counted from the
   notes), warmup, or the error line;
2. ``scalefit.readers.read_runs`` (library): runs and the reader's notes and warnings, or the exception;
3. ``scalefit fit FILE --law L --no-law-error --json`` (CLI) for each law: exit code, fit status, in-sample R2
   (smallest over the file's runs), or the error line.

Nothing here may stop the loop: any exception, from scalefit or from this script, becomes that file's row.
The last column says whether the outcome matches the expectation's kind (fit: exit 0 with a finite R2; error:
exit 2 with one line naming the file); the test tests/test_real_logs.py checks the full expectation.

Run: OMP_NUM_THREADS=1 python benchmarks/real_logs.py [--laws tissue,mpl] [--only NAME]
Prints a table and writes benchmarks/results/real_logs.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "real_logs"
RESULT = Path(__file__).parent / "results" / "real_logs.json"

#: Words that mark a note counting rows the reader left out.
_LEFT_OUT = re.compile(r"\b(left out|skipped|dropped|ignored|excluded|not fitted|not read)\b", re.IGNORECASE)
_INT = re.compile(r"(?<![\w.])(\d[\d,]*)(?![\w.])")


def cases(only: str | None = None) -> list[dict[str, Any]]:
    """The corpus entries of expected.json (optionally only those whose name contains ``only``)."""
    entries = json.loads((CORPUS / "expected.json").read_text())["files"]
    return [e for e in entries if only is None or only in e["name"]]


def left_out(notes: list[str]) -> int | None:
    """Rows the notes say were left out (the first number of each such note), or None when no note says so."""
    total = None
    for note in notes:
        if _LEFT_OUT.search(note):
            m = _INT.search(note)
            if m:
                total = (total or 0) + int(m.group(1).replace(",", ""))
    return total


def error_line(output: str) -> str:
    """The ``error:`` line of a CLI output, else its last non-empty line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("error:"):
            return ln
    return lines[-1] if lines else ""


def run_cli(args: list[str]) -> dict[str, Any]:
    """Invoke the typer app in-process; exit code, stdout, stderr, seconds, and any uncaught exception."""
    from typer.testing import CliRunner

    from scalefit.cli import app

    t0 = time.perf_counter()
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    out = {"exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
           "seconds": round(time.perf_counter() - t0, 3), "exception": None}
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        out["exception"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-2000:]
    return out


def inspect_row(path: Path, args: list[str]) -> dict[str, Any]:
    """`scalefit inspect FILE --json`: the facts a user sees first."""
    res = run_cli(["inspect", str(path), "--json", *args])
    row: dict[str, Any] = {"exit": res["exit"], "seconds": res["seconds"], "exception": res["exception"]}
    if res["exit"] in (0, 1) and res["exception"] is None:  # 1: a FAILED fit, still printed as JSON
        try:
            facts = json.loads(res["stdout"])
        except json.JSONDecodeError as exc:
            row["error"] = f"inspect --json printed no JSON ({exc})"
            return row
        notes = [n for f in facts for n in f.get("notes", [])]
        row.update(
            runs=len(facts), formats=sorted({f.get("format", "?") for f in facts}),
            rows=sum(int(f.get("rows", 0)) for f in facts),
            left_out=_structured_left_out(facts) if _structured_left_out(facts) is not None else left_out(notes),
            warmup=[f.get("warmup") for f in facts], step0=[f.get("step0") for f in facts],
            warnings=sum(1 for ln in res["stderr"].splitlines() if ln.startswith("warning:")), notes=notes)
    else:
        row["error"] = res["exception"] or error_line(res["stderr"] or res["stdout"])
    return row


def _structured_left_out(facts: list[dict[str, Any]]) -> int | None:
    """A ``left_out`` count when inspect's JSON gives one (an int, or a dict of reasons to counts)."""
    found = None
    for f in facts:
        v = f.get("left_out")
        if isinstance(v, dict):
            v = sum(int(x) for x in v.values() if isinstance(x, (int, float)))
        if isinstance(v, (int, float)):
            found = (found or 0) + int(v)
    return found


def library_row(path: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`scalefit.readers.read_runs(path, **kwargs)`: runs, notes and warnings, or the exception."""
    from scalefit.readers import read_runs

    row: dict[str, Any] = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs = read_runs(str(path), **kwargs)
        row.update(runs=len(runs), names=[r.name for r in runs][:10], rows=sum(int(r.steps.size) for r in runs),
                   observed=sum(int((r.loss == r.loss).sum()) for r in runs),
                   warmup=[int(r.warmup) for r in runs], step0=[int(r.step0) for r in runs],
                   notes=sorted({n for r in runs for n in r.notes}),
                   warnings=[str(w.message) for w in caught])
    except Exception as exc:  # noqa: BLE001 - a benchmark row, not a crash
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def fit_row(path: Path, law: str, args: list[str]) -> dict[str, Any]:
    """`scalefit fit FILE --law LAW --no-law-error --json`: status and in-sample R2, or the error line."""
    res = run_cli(["fit", str(path), "--law", law, "--no-law-error", "--json", *args])
    row: dict[str, Any] = {"law": law, "exit": res["exit"], "seconds": res["seconds"], "exception": res["exception"]}
    if res["exit"] in (0, 1) and res["exception"] is None:  # 1: a FAILED fit, still printed as JSON
        try:
            summary = json.loads(res["stdout"])
        except json.JSONDecodeError as exc:
            row["error"] = f"fit --json printed no JSON ({exc})"
            return row
        r2 = [m.get("r2") for m in summary.get("metrics", {}).values()]
        finite = [float(x) for x in r2 if isinstance(x, (int, float)) and math.isfinite(x)]
        row.update(status=summary.get("status"), r2_min=min(finite) if finite else None,
                   r2=[x for x in r2], n_points=summary.get("n_points"), messages=summary.get("messages", []),
                   warnings=[ln for ln in res["stderr"].splitlines() if ln.startswith("warning:")])
    else:
        row["error"] = res["exception"] or error_line(res["stderr"] or res["stdout"])
        row["lines"] = len([ln for ln in (res["stderr"] or res["stdout"]).splitlines() if ln.strip()])
    return row


def as_expected(entry: dict[str, Any], fits: list[dict[str, Any]]) -> bool:
    """Outcome of kind: 'fit' = every law exits 0 with a finite R2 (with ``"status": "FAILED"``, a log the laws do not
    describe: exit 1, the fit's FAILED result); 'error' = exit 2 with one line naming the file."""
    if entry["expect"] == "fit":
        if entry.get("status") == "FAILED":
            return all(f["exit"] == 1 and f.get("exception") is None for f in fits)
        return all(f["exit"] == 0 and f.get("r2_min") is not None for f in fits)
    name = str(entry["path"])
    return all(f["exit"] == 2 and f.get("exception") is None and name in (f.get("error") or "") for f in fits)


def one_case(entry: dict[str, Any], laws: list[str]) -> dict[str, Any]:
    """Everything measured on one corpus entry; never raises."""
    path = Path("tests/data/real_logs") / entry["path"]
    args = list(entry.get("args", []))
    row: dict[str, Any] = {"name": entry["name"], "path": str(path), "format": entry["format"],
                           "expect": entry["expect"], "args": args}
    t0 = time.perf_counter()
    try:
        row["inspect"] = inspect_row(path, args)
        row["library"] = library_row(path, _library_kwargs(args))
        row["fits"] = [fit_row(path, law, args) for law in laws]
        row["as_expected"] = as_expected({**entry, "path": path}, row["fits"])
    except Exception as exc:  # noqa: BLE001 - this script's own failure is also a row
        row["error"] = f"benchmark: {type(exc).__name__}: {exc}"
        row["as_expected"] = False
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


#: The CLI reading options an entry may pass, and the read_runs keyword (with its type) each is.
_READ_OPTIONS = {"--target": ("target", str), "--warmup": ("warmup", int), "--schedule": ("schedule", str),
                 "--min-step": ("min_step", int), "--max-step": ("max_step", int)}


def _library_kwargs(args: list[str]) -> dict[str, Any]:
    """The read_runs keywords matching the CLI options an entry passes (those of _READ_OPTIONS, --resumed and
    --run); an option this script does not know is an error, so that the library row never reads differently."""
    kw: dict[str, Any] = {}
    it = iter(args)
    for a in it:
        if a in _READ_OPTIONS:
            key, kind = _READ_OPTIONS[a]
            kw[key] = kind(next(it))
        elif a == "--resumed":
            kw["resumed"] = True
        elif a == "--run":
            kw.setdefault("runs", []).append(next(it))
        else:
            raise ValueError(f"benchmarks/real_logs.py does not know the option {a}; add it to _READ_OPTIONS")
    return kw


def _cell(text: Any, width: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "~"


def _or_dash(value: Any) -> Any:
    return "-" if value is None else value


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per file, then the error lines and notes in full."""
    print(f"{'file':<38}{'format':<22}{'runs':>5}{'rows':>7}{'out':>5} {'warmup':<12}{'law':<7}{'status':<14}"
          f"{'R2':>8}  {'exp':<6}{'ok':<4}")
    for r in rows:
        ins, fits = r.get("inspect", {}), r.get("fits", [])
        warm = ",".join(str(w) for w in ins.get("warmup", [])) if "warmup" in ins else "-"
        for i, f in enumerate(fits or [{}]):
            status = f.get("status") or (f"exit {f['exit']}" if "exit" in f else "-")
            r2 = f.get("r2_min")
            lead = (f"{_cell(r['name'], 37):<38}{_cell(r['format'], 21):<22}{ins.get('runs', '-'):>5}"
                    f"{ins.get('rows', '-'):>7}{_cell(_or_dash(ins.get('left_out')), 4):>5} {_cell(warm, 11):<12}"
                    if i == 0 else " " * 90)
            print(f"{lead}{f.get('law', '-'):<7}{_cell(status, 13):<14}"
                  f"{'-' if r2 is None else f'{r2:8.4f}':>8}  {r['expect'] if i == 0 else '':<6}"
                  f"{('yes' if r.get('as_expected') else 'NO') if i == 0 else '':<4}")
    print()
    for r in rows:
        lines = []
        if r.get("error"):
            lines.append(r["error"])
        if r.get("inspect", {}).get("error"):
            lines.append(f"inspect: {r['inspect']['error']}")
        for f in r.get("fits", []):
            if f.get("error"):
                lines.append(f"fit --law {f['law']}: {f['error']}")
            for m in f.get("messages", [])[:3]:
                lines.append(f"fit --law {f['law']} note: {m}")
        for n in r.get("inspect", {}).get("notes", [])[:8]:
            lines.append(f"inspect note: {n}")
        if lines:
            print(f"{r['name']}:")
            for ln in lines:
                print(f"    {_cell(ln, 400)}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--laws", default="tissue,mpl", help="comma-separated laws to fit (default: tissue,mpl)")
    ap.add_argument("--only", default=None, help="only entries whose name contains this")
    ap.add_argument("--out", type=Path, default=RESULT, help="JSON output (default: %(default)s)")
    ns = ap.parse_args(argv)
    import os

    os.chdir(ROOT)  # paths in the table and in error lines are relative to the repository, as a user types them
    laws = [x for x in ns.laws.split(",") if x]
    rows = []
    for entry in cases(ns.only):
        rows.append(one_case(entry, laws))
        print(f"  {entry['name']}: {rows[-1]['seconds']} s", file=sys.stderr)
    print_table(rows)
    n_ok = sum(1 for r in rows if r.get("as_expected"))
    n_inspect_fail = sum(1 for r in rows if r.get("inspect", {}).get("exit") != 0)
    n_fit_fail = sum(1 for r in rows if any(f.get("exit") != 0 for f in r.get("fits", [])))
    n_files = len({r["path"] for r in rows})
    print(f"\n{len(rows)} entries ({n_files} files; a file may have entries with other options): {n_ok} as expected; "
          f"inspect fails on {n_inspect_fail}; fit fails on {n_fit_fail} (laws: {', '.join(laws)})")
    from scalefit.jsonio import write_text

    write_text(ns.out, json.dumps({"benchmark": "real_logs", "command": "python benchmarks/real_logs.py "
                                   + " ".join(argv if argv is not None else sys.argv[1:]),
                                   "machine": machine(), "laws": laws,
                                   "summary": {"entries": len(rows), "files": n_files, "as_expected": n_ok,
                                               "inspect_fails": n_inspect_fail, "fit_fails": n_fit_fail},
                                   "rows": rows}, indent=1, default=str) + "\n")
    print(f"wrote {ns.out}")


if __name__ == "__main__":
    main()
