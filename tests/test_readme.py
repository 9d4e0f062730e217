"""Every command the README shows a user runs, so a renamed option breaks CI and not a user.

- The test command in the README is the one `.ci/run` runs, verbatim.
- Every ``$ ...`` line of a ``console`` block runs, in order, in a scratch folder that links the bundled
  ``data/`` and ``tests/data/`` (so ``out/fit.json`` written by one command is read by the next). A line ending in
  ``# exit N`` must exit with N; every other line must exit 0. Printed output in the README is illustrative
  (timings differ), so only the exit codes and the absence of tracebacks are checked here; the numbers are pinned
  by golden and unit tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks(lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def readme_commands() -> list[tuple[str, int]]:
    """``(command, expected exit code)`` for every ``$`` line of the README's console blocks."""
    out: list[tuple[str, int]] = []
    for block in _blocks("console"):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                cmd = line[2:]
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd[:-1] + " " + lines[i].strip()
                code = 0
                m = re.search(r"\s+#\s*exit\s+(\d+)\s*$", cmd)
                if m:
                    code = int(m.group(1))
                    cmd = cmd[: m.start()]
                out.append((cmd.strip(), code))
            i += 1
    return out


def test_ci_runs_the_readme_test_command() -> None:
    bash = _blocks("bash")
    test_cmd = next(b.strip() for b in bash if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines(), f".ci/run must run the README's test command verbatim:\n{test_cmd}"


def test_readme_main_job_is_a_scalefit_command() -> None:
    main = _blocks("bash")[0].strip()
    assert main.startswith("pip install -e . && scalefit ")


def test_readme_has_a_tour() -> None:
    commands = [c for c, _ in readme_commands()]
    for verb in ("inspect", "fit", "evaluate", "predict", "optimize", "schedule", "train", "hparams", "scaling",
                 "plan"):
        assert any(c.startswith(f"scalefit {verb} ") for c in commands), f"README tour lacks `scalefit {verb}`"


@pytest.mark.torch
def test_readme_commands_run(tmp_path: Path) -> None:
    """Run the README's main job and tour exactly as written (bash expands the globs)."""
    exe = shutil.which("scalefit") or str(Path(sys.executable).parent / "scalefit")
    (tmp_path / "data").symlink_to(ROOT / "data")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(ROOT / "tests" / "data")  # the real logs of "Your own logs"
    env = dict(os.environ, MPLBACKEND="Agg", COLUMNS="120")
    main = _blocks("bash")[0].strip().split("&&", 1)[1].strip()
    (tmp_path / "out").mkdir()
    for cmd, code in [(main, 0), *readme_commands()]:
        line = exe + cmd[len("scalefit"):] if cmd.startswith("scalefit ") else cmd
        proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == code, f"`{cmd}` exited {proc.returncode}, expected {code}:\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"`{cmd}` printed a traceback:\n{proc.stderr[-2000:]}"
