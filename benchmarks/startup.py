"""Startup time of ``scalefit --help`` (target: median under 0.3 s on the 2-core CI machine).

Run: python benchmarks/startup.py [--repeats 15]
Prints a table and writes benchmarks/results/startup.json. Also reports whether torch, matplotlib, scipy or pandas
were imported by ``--help`` (none should be).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine  # noqa: E402

HEAVY = ("torch", "matplotlib", "scipy", "pandas", "lmfit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    exe = shutil.which("scalefit") or str(Path(sys.executable).parent / "scalefit")
    cmd = [exe, "--help"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache once
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom scalefit.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    result = {
        "command": "scalefit --help",
        "repeats": args.repeats,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "heavy_modules_imported": loaded.split(",") if loaded else [],
        "target_s": 0.3,
        "machine": machine(),
    }
    print(f"{'command':<18}{'median s':>10}{'min s':>8}{'max s':>8}  heavy imports")
    print(f"{'scalefit --help':<18}{result['median_s']:>10.3f}{result['min_s']:>8.3f}{result['max_s']:>8.3f}  "
          f"{loaded or 'none'}")
    out = Path(__file__).parent / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
