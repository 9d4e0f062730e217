"""The public API: every name in scalefit.__all__ resolves lazily, and import stays light."""

from __future__ import annotations

import subprocess
import sys

import scalefit


def test_every_public_name_resolves() -> None:
    for name in scalefit.__all__:
        assert getattr(scalefit, name) is not None, name


def test_import_is_light() -> None:
    probe = ("import sys, scalefit; "
             "print(','.join(m for m in ('torch','matplotlib','scipy','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_never_imports_torch() -> None:
    """Fitting, prediction and planning import no torch (only scalefit.train does)."""
    probe = (
        "import sys\n"
        "import scalefit.fitting, scalefit.results, scalefit.planning, scalefit.readers, scalefit.laws.multipower\n"
        "import scalefit.laws.chinchilla, scalefit.laws.hyperparams, scalefit.tables, scalefit.schedules\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plan_stays_the_function_after_its_module_is_imported() -> None:
    """scalefit.plan is the planning function; the module is scalefit.planning, so importing it changes nothing."""
    import scalefit.planning  # noqa: F401

    assert callable(scalefit.plan) and scalefit.plan is scalefit.planning.plan
