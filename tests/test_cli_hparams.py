"""CLI: scalefit hparams / scaling / plan on small simulated tables (exit codes, stdout JSON, one-line errors)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.laws import chinchilla as ch

sys.path.insert(0, str(Path(__file__).parent / "laws"))
from test_hyperparams import sweep  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    N, D, lr, b, loss = sweep()
    rows = "\n".join(f"{n:.6g},{t:.6g},{x:.6g},{int(round(y / 1024))},1024,{z:.6f}" for n, t, x, y, z in
                     zip(N, D, lr, b, loss))
    (d / "sweep.csv").write_text("params,tokens,lr,batch_size,seq_len,loss\n" + rows + "\n")
    rng = np.random.default_rng(0)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e10, 5), np.geomspace(1e8, 1e12, 5)))
    L = ch.loss({"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}, N, D)
    L = L * np.exp(rng.normal(0, 0.002, N.size))
    (d / "sizes.csv").write_text("params,tokens,loss\n" + "\n".join(f"{n:.6g},{t:.6g},{x:.6f}" for n, t, x in
                                                                     zip(N, D, L)) + "\n")
    return {"dir": d, "sweep": d / "sweep.csv", "sizes": d / "sizes.csv"}


def test_hparams_json(files) -> None:
    out = files["dir"] / "hp.json"
    r = runner.invoke(app, ["hparams", str(files["sweep"]), "--bootstrap", "20", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) >= {"lr", "batch_size", "n_runs_used", "range"}
    assert set(d["lr"]) >= {"coef", "exponents", "ci"} and set(d["lr"]["exponents"]) == {"N", "D"}
    assert d["lr"]["exponents"]["N"] == pytest.approx(-0.75, abs=0.03)
    assert "compute C = 6 N D" in r.stderr and out.is_file()


def test_hparams_text_and_plot(files) -> None:
    png = files["dir"] / "hp.png"
    r = runner.invoke(app, ["hparams", str(files["sweep"]), "--bootstrap", "0", "--form", "steplaw", "--plot",
                            str(png)])
    assert r.exit_code == 0, r.output
    assert "lr = " in r.stdout and "B_tokens = " in r.stdout and "loss@law" in r.stdout
    assert png.stat().st_size > 10_000


def test_scaling_json_and_plot(files) -> None:
    png, out = files["dir"] / "sc.png", files["dir"] / "sc.json"
    r = runner.invoke(app, ["scaling", str(files["sizes"]), "--law", "chinchilla", "--bootstrap", "5", "--json",
                            "--plot", str(png), "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) >= {"E", "A", "B", "alpha", "beta", "stderr", "seconds"}
    assert d["alpha"] == pytest.approx(0.34, abs=0.05) and d["stderr"]["alpha"] > 0
    assert png.stat().st_size > 10_000 and out.is_file()


def test_scaling_compares_e_with_the_runs_stated_floor(files, tmp_path) -> None:
    """Run files that state their data's irreducible loss: the fitted E (the law's own floor) is checked against it;
    a summary table states none, so there is nothing to say."""
    L = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}
    paths = []
    for i, (n, d) in enumerate((n, d) for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10, 1e11)):
        steps = 10
        loss = float(ch.loss(L, n, d))
        head = f"# params: {n:g}\n# tokens_per_step: {d / steps:g}\n# irreducible_loss: {1.9 if i else 2.0}\n"
        path = tmp_path / f"run{i}.csv"
        path.write_text(head + "step,lr,loss\n" + "".join(f"{s},1e-3,{loss + 0.1 * (steps - 1 - s):.6f}\n"
                                                          for s in range(steps)))
        paths.append(str(path))
    r = runner.invoke(app, ["scaling", *paths, "--law", "chinchilla", "--bootstrap", "0", "--json"])
    assert r.exit_code == 0, r.output
    check = json.loads(r.stdout)["irreducible_loss_check"]
    assert check["verdict"] == "below_no_bootstrap" and check["floor"] == 1.9 and check["E_stderr"] is None
    assert check["E"] == pytest.approx(1.8, abs=0.01)
    assert "below the data's irreducible loss 1.9 (run metadata)" in check["message"]
    r = runner.invoke(app, ["scaling", str(files["sizes"]), "--bootstrap", "0", "--json"])
    assert r.exit_code == 0 and "irreducible_loss_check" not in json.loads(r.stdout)


@pytest.mark.parametrize("e, se, verdict", [(2.0, 0.05, "consistent"), (1.85, 0.05, "below_within_2sd"),
                                            (1.7, 0.05, "below"), (1.85, float("nan"), "below_no_bootstrap")])
def test_floor_check_verdicts(e, se, verdict) -> None:
    from types import SimpleNamespace

    from scalefit.commands.scaling import _floor_check

    check = _floor_check(SimpleNamespace(values={"E": e}, stderr={"E": se}), 1.9)
    assert check is not None and check["verdict"] == verdict and check["floor"] == 1.9
    assert ("consistent" in check["message"]) == (verdict == "consistent")
    assert _floor_check(SimpleNamespace(values={"E": e}, stderr={"E": se}), None) is None


def test_plan_json(files) -> None:
    hp, sc = files["dir"] / "hp2.json", files["dir"] / "sc2.json"
    assert runner.invoke(app, ["hparams", str(files["sweep"]), "--bootstrap", "10", "--out", str(hp)]).exit_code == 0
    assert runner.invoke(app, ["scaling", str(files["sizes"]), "--bootstrap", "5", "--out", str(sc)]).exit_code == 0
    r = runner.invoke(app, ["plan", "--flops", "1e20", "--hparams", str(hp), "--scaling", str(sc), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in ("params", "tokens", "steps", "batch_size", "peak_lr", "schedule", "final_loss", "lower", "upper",
                "extrapolated"):
        assert key in d
    assert d["steps"] > 0 and d["schedule"].startswith("wsd:")
    r = runner.invoke(app, ["plan", "--flops", "1e20", "--scaling", str(sc), "--params", "1e9"])
    assert r.exit_code == 0, r.output
    assert "params N     1e+09" in r.stdout


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["hparams", "{bad}"], r"bad\.csv:1: missing column 'loss'"),
        (["scaling", "{bad}", "--loss-column", "final_loss"], r"bad\.csv:1: missing column 'params'"),
        (["hparams", "{sweep}", "--params-column", "active"],
         r"sweep\.csv:1: missing column 'active'.*--params-column"),
        (["hparams", "{sizes}"], r"sizes\.csv:2: the hyperparameter law needs 'lr'"),
        (["hparams", "{sweep}", "--form", "kaplan"], r"unknown form 'kaplan'"),
        (["plan", "--flops", "1e20"], r"pass --scaling"),
        (["plan", "--flops", "1e20", "--scaling", "{bad}"], r"bad\.csv: not valid JSON"),
    ],
)
def test_user_errors_exit_2_one_line(files, tmp_path, args, pattern) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("final_loss,x\n3,1\n")
    args = [a.format(bad=bad, sizes=files["sizes"], sweep=files["sweep"]) for a in args]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.output
    import re

    assert re.search(pattern, errors[0]), errors[0]


def test_hparams_params_column_predict_and_target_alias(files, tmp_path) -> None:
    """--params-column reads N from another column (a mixture-of-experts grid's active parameters); --predict N,D
    prints lr* and B* with intervals; --loss-column is a hidden alias of --target."""
    N, D, lr, b, loss = sweep()
    rows = "".join(f"{n * 8:.6g},{n:.6g},{t:.6g},{x:.6g},{y:.6g},{z:.6f}\n" for n, t, x, y, z in
                   zip(N, D, lr, b, loss))
    (tmp_path / "moe.csv").write_text("params,active_params,tokens,lr,batch_size_tokens,final\n" + rows)
    args = ["hparams", str(tmp_path / "moe.csv"), "--params-column", "active_params", "--bootstrap", "50",
            "--predict", "3e8,1e10", "--json"]
    r = runner.invoke(app, args + ["--target", "final"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["lr"]["exponents"]["N"] == pytest.approx(-0.75, abs=0.03) and d["holdout"]["n_cells"] == 9
    (q,) = d["predictions"]
    assert q["params"] == 3e8 and q["lr_lower"] < q["lr"] < q["lr_upper"] and q["extrapolated"] == []
    assert q["lr"] == pytest.approx(50 * 3e8**-0.75 * 1e10**0.2, rel=0.1)
    alias = runner.invoke(app, args + ["--loss-column", "final"])
    assert alias.exit_code == 0 and json.loads(alias.stdout) == d
    text = runner.invoke(app, args[:-1] + ["--target", "final"])
    assert "at params = 3e+08, tokens = 1e+10, flops = 1.8e+19: lr* = " in text.stdout
    assert "leave-one-cell-out" in text.stdout
    r = runner.invoke(app, args[:-1] + ["--target", "final", "--predict", "3e8"])
    assert r.exit_code == 2 and "--predict '3e8': give N,D" in r.stderr
    assert "--params-column" in runner.invoke(app, ["hparams", "--help"]).output


def test_hparams_predict_command(files, tmp_path) -> None:
    """``scalefit hparams-predict FIT.json --params N --tokens D`` (registered here as the lead registers it)."""
    import typer

    from scalefit.commands.hparams import hparams_predict

    hp = tmp_path / "hp.json"
    assert runner.invoke(app, ["hparams", str(files["sweep"]), "--bootstrap", "50", "--out", str(hp)]).exit_code == 0
    mini = typer.Typer()
    mini.command("hparams-predict")(hparams_predict)
    mini.command("noop")(lambda: None)
    r = runner.invoke(mini, ["hparams-predict", str(hp), "--params", "3e8", "--tokens", "1e10", "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.stdout)
    assert q["lr_lower"] < q["lr"] < q["lr_upper"] and q["batch_size_lower"] < q["batch_size"] < q["batch_size_upper"]
    r = runner.invoke(mini, ["hparams-predict", str(hp), "--params", "1e11", "--tokens", "1e10"])
    assert r.exit_code == 0 and "extrapolated in params" in r.stdout and "outside the fitted range" in r.stderr
    r = runner.invoke(mini, ["hparams-predict", str(hp), "--params", "-1", "--tokens", "1e10"])
    assert r.exit_code == 2 and "--params is -1.0" in r.stderr
