"""CLI: exit codes of fits and predictions that are not results (1), output paths checked before any work (2),
evaluate --out/--plot/--json, predict's baseline differences, --log-y."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalefit.cli import app

from test_cli_fit import write_run
from test_fitting import TISSUE_TRUTH, sim_run, three_schedules
from test_not_a_result import diving, rising_run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    out = {name: write_run(folder / f"{name}.csv", sim_run("tissue", TISSUE_TRUTH, lr, seed=i, name=name))
           for i, (name, lr) in enumerate(three_schedules().items())}
    out["rising"] = write_run(folder / "rising.csv", rising_run())
    fit_json = folder / "fit.json"
    assert invoke("fit", out["constant"], out["cosine"], "--law", "tissue", "--starts", "8", "--out",
                  fit_json).exit_code == 0
    out["fit"] = fit_json
    out["diving"] = diving().to_json(folder / "diving.json")
    return out


def one_error_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert res.stdout == ""
    return lines[0]


# ---- exit 1: the fit ran but failed, or a prediction cannot be true ----
def test_a_failed_fit_exits_1_and_says_what_to_try(files) -> None:
    res = invoke("fit", files["rising"], "--law", "tissue", "--starts", "8")
    assert res.exit_code == 1, res.output
    assert ": FAILED" in res.stdout and "FAILED: the law does not describe these runs" in res.stdout
    assert "--min-step" in res.stdout and "Traceback" not in res.output
    js = invoke("fit", files["rising"], "--law", "tissue", "--starts", "8", "--json")
    assert js.exit_code == 1 and json.loads(js.stdout)["status"] == "FAILED"
    help_text = invoke("fit", "--help").stdout
    assert "Exit codes: 0 done; 1 the fit ran but FAILED" in " ".join(help_text.split())


def test_law_all_exits_1_only_when_every_law_failed(files) -> None:
    res = invoke("fit", files["constant"], files["cosine"], "--law", "all", "--starts", "8", "--no-law-error")
    assert res.exit_code == 0, res.output


def test_evaluate_of_a_failed_fit_exits_1(files) -> None:
    res = invoke("evaluate", "--train", files["rising"], "--test", files["wsd"], "--law", "tissue", "--starts", "8")
    assert res.exit_code == 1, res.output
    assert "NOT A RESULT" in res.stdout and "the fit FAILED" in res.stdout


def test_predict_flags_a_negative_loss_never_ranks_it_first_and_exits_1(files) -> None:
    res = invoke("predict", files["diving"], "--schedule", "cosine", "--schedule", "constant",
                 "--schedule", "wsd:decay=0.2")
    assert res.exit_code == 1, res.output
    rows = [ln.split() for ln in res.stdout.splitlines() if ln[:4].strip() in ("1", "2", "-")]
    assert [r[:2] for r in rows] == [["1", "wsd:decay=0.2"], ["2", "constant"], ["-", "cosine"]]
    assert "NOT A RESULT: loss -0.4458 <= 0 at step 23936" in res.stdout
    assert "best: wsd:decay=0.2" in res.stdout and "is not a result" in res.stderr
    js = invoke("predict", files["diving"], "--schedule", "cosine", "--schedule", "constant", "--json")
    assert js.exit_code == 1
    data = json.loads(js.stdout)
    assert [p["schedule"] for p in data["predictions"]] == ["constant", "cosine"]
    assert data["predictions"][1]["impossible"].startswith("loss -0.4458 <= 0")
    assert data["predictions"][1]["lower"] is None  # NaN: no band below 0
    assert data["best_gap"] is None and data["baseline"] == "cosine"


# ---- predict: differences to a baseline ----
def test_predict_compares_with_the_baseline(files, tmp_path: Path) -> None:
    res = invoke("predict", files["fit"], "--schedule", "cosine", "--schedule", "constant", "--schedule",
                 "wsd:decay=0.2", "--baseline", "constant", "--plot", tmp_path / "p.png", "--log-y")
    assert res.exit_code == 0, res.output
    assert "vs constant (90%)" in res.stdout and "baseline" in res.stdout and "best: cosine (0.0" in res.stdout
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    js = json.loads(invoke("predict", files["fit"], "--schedule", "cosine", "--schedule", "constant", "--json",
                           "--baseline", "constant").stdout)
    by = {p["schedule"]: p for p in js["predictions"]}
    assert js["baseline"] == "constant" and by["constant"]["difference"] is None
    d = by["cosine"]["difference"]
    assert d["lower"] < d["difference"] < d["upper"]
    assert d["difference"] == pytest.approx(by["cosine"]["final_loss"] - by["constant"]["final_loss"], abs=1e-12)
    assert js["best_gap"]["best"] == "cosine" and js["best_gap"]["gap"] > 0
    bad = invoke("predict", files["fit"], "--schedule", "cosine", "--baseline", "linear")
    assert "--baseline 'linear' is none of the predicted schedules" in one_error_line(bad)


# ---- evaluate --out / --plot / --json ----
def test_evaluate_writes_its_json_and_plot(files, tmp_path: Path) -> None:
    out, png = tmp_path / "new" / "eval.json", tmp_path / "eval.svg"
    res = invoke("evaluate", "--train", files["constant"], "--train", files["cosine"], "--test", files["wsd"],
                 "--law", "tissue", "--starts", "8", "--out", out, "--plot", png, "--json")
    assert res.exit_code == 0, res.output
    printed, written = json.loads(res.stdout), json.loads(out.read_text())
    assert written.pop("schema") == "scalefit.evaluation/1" and written == printed
    run = printed["runs"][0]
    assert printed["coverage"]["inside"] == int(run["inside"]) and printed["coverage"]["runs"] == 1
    assert png.read_text().lstrip().startswith("<?xml")
    text = invoke("evaluate", "--train", files["constant"], "--train", files["cosine"], "--test", files["wsd"],
                  "--law", "tissue", "--starts", "8")
    assert f"{printed['coverage']['inside']} of 1 held-out runs" in text.stdout


# ---- output paths: checked before any work, one line, exit 2 ----
def _blocked(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("x")
    return tmp_path / "afile" / "out.json"


@pytest.mark.parametrize("flag", ["--out", "--plot"])
@pytest.mark.parametrize("where", ["folder", "blocked"])
@pytest.mark.parametrize("command", ["fit", "evaluate", "predict", "schedule"])
def test_a_bad_output_path_is_one_line_before_any_work(files, tmp_path: Path, command: str, where: str,
                                                       flag: str) -> None:
    target = tmp_path if where == "folder" else _blocked(tmp_path)
    if flag == "--plot" and where == "blocked":
        target = target.with_suffix(".png")
    args = {"fit": ["fit", files["constant"], "--law", "tissue"],
            "evaluate": ["evaluate", "--train", files["constant"], "--test", files["wsd"], "--law", "tissue"],
            "predict": ["predict", files["fit"], "--schedule", "cosine"],
            "schedule": ["schedule", "cosine:peak=1e-3,total=100"]}[command]
    line = one_error_line(invoke(*args, flag, target))
    assert flag in line
    assert ("folder" in line) if where == "folder" else ("is a file, so the folder" in line)


def test_each_per_law_file_of_law_all_is_checked(files, tmp_path: Path) -> None:
    (tmp_path / "fit_tissue.json").mkdir()
    line = one_error_line(invoke("fit", files["constant"], "--law", "all", "--out", tmp_path / "fit.json"))
    assert "fit_tissue.json" in line and "--out is a folder" in line


def test_a_plot_suffix_matplotlib_cannot_write_is_refused(files, tmp_path: Path) -> None:
    line = one_error_line(invoke("fit", files["constant"], "--law", "tissue", "--plot", tmp_path / "fit.txt"))
    assert "--plot: matplotlib cannot write a '.txt' image" in line


def test_a_missing_folder_is_created(files, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "lr.csv"
    res = invoke("schedule", "cosine:peak=1e-3,total=100", "--out", out, "--plot", tmp_path / "c" / "lr.png")
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("step,lr") and (tmp_path / "c" / "lr.png").is_file()


def test_fit_plot_labels_and_log_y(files, tmp_path: Path) -> None:
    png = tmp_path / "fit.png"
    res = invoke("fit", files["constant"], files["cosine"], "--law", "tissue", "--starts", "8", "--no-law-error",
                 "--plot", png, "--log-y")
    assert res.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_plan_exits_1_when_its_curve_law_predicts_no_result(files, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "laws"))
    from test_hyperparams import sweep

    n, d, lr, b, loss = sweep()
    (tmp_path / "sweep.csv").write_text("params,tokens,lr,batch_size,seq_len,loss\n" + "\n".join(
        f"{x:.6g},{t:.6g},{y:.6g},{int(round(z / 1024))},1024,{w:.6f}" for x, t, y, z, w in zip(n, d, lr, b, loss)))
    hp = tmp_path / "hp.json"
    assert invoke("hparams", tmp_path / "sweep.csv", "--bootstrap", "5", "--out", hp).exit_code == 0
    res = invoke("plan", "--flops", "1e16", "--params", "1e8", "--hparams", hp, "--curve", files["diving"])
    assert res.exit_code == 1, res.output
    assert "NOT A RESULT: the curve law's loss cannot be true" in res.stdout and "is not a result" in res.stderr
    js = invoke("plan", "--flops", "1e16", "--params", "1e8", "--hparams", hp, "--curve", files["diving"], "--json")
    assert js.exit_code == 1 and "is not a result" in json.loads(js.stdout)["not_a_result"][0]
    fine = invoke("plan", "--flops", "1e16", "--params", "1e8", "--hparams", hp, "--curve", files["fit"])
    assert fine.exit_code == 0, fine.output
