"""The parts of scalefit.train that must work without torch, and the one-line error when it is missing."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from scalefit.cli import app


def test_logger_data_sweep_locks_and_commands_import_without_torch():
    probe = (
        "import sys\n"
        "import scalefit.train, scalefit.train.logger, scalefit.train.data, scalefit.train.sweep\n"
        "import scalefit.train.callbacks, scalefit.commands.train, scalefit.commands.sweep\n"
        "import scalefit.train.config, scalefit.train.runlock, scalefit.train.parent_watch, scalefit.train.run_files\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_without_torch_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    for cmd in (["train", "--out", str(tmp_path / "a.csv")], ["sweep", "--out-dir", str(tmp_path)]):
        r = CliRunner().invoke(app, cmd)
        assert r.exit_code == 2
        assert "needs the 'torch' package" in r.stderr and "pip install 'scalefit-lm[train]'" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
