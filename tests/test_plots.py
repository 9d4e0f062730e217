"""Image smoke tests for every figure in scalefit.plots: each draws from small synthetic inputs, saves a non-empty
PNG through ``plots.save``, and carries the labels and legend a reader needs (checked on the matplotlib objects,
not on pixels)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from scalefit import plots, schedules
from scalefit.fitting import fit
from scalefit.laws import get_law
from scalefit.runs import Run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TISSUE = {"L0": 2.5, "A": 0.6, "alpha": 0.5, "C": 0.4}
T, W, PEAK = 1000, 100, 1e-3


def _saved(fig, path: Path) -> None:
    out = plots.save(fig, path)
    data = out.read_bytes()
    assert out == path and data.startswith(PNG_MAGIC) and len(data) > 5000


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "no legend"
    return [t.get_text() for t in legend.get_texts()]


def _colorbar_labels(fig) -> list[str]:
    return [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"]


def _sim_run(name: str, lr: np.ndarray, seed: int) -> Run:
    steps = np.arange(W, lr.size, 20, dtype=np.int64)
    clean = get_law("tissue").predict(TISSUE, lr, warmup=W, at=steps)
    loss = clean * np.exp(1e-3 * np.random.default_rng(seed).standard_normal(steps.size))
    return Run(path=f"{name}.csv", steps=steps, loss=loss, lr=lr, step0=0, warmup=W,
               line=np.arange(steps.size) + 2, meta={})


@pytest.fixture(scope="module")
def runs() -> list[Run]:
    return [_sim_run("constant", schedules.constant(PEAK, T, warmup=W), 0),
            _sim_run("cosine", schedules.cosine(PEAK, T, warmup=W, final=PEAK / 10), 1)]


@pytest.fixture(scope="module")
def tissue_fit(runs):
    return fit(runs, "tissue", seed=0, n_starts=16)


def test_plot_schedule(tmp_path: Path) -> None:
    lr = schedules.wsd(PEAK, T, warmup=W, decay=0.2, final=0.0)
    ax = plots.plot_schedule(lr, label="wsd", title="a WSD schedule")
    assert ax.get_xlabel() == "optimizer step" and ax.get_ylabel() == "learning rate"
    assert ax.get_title() == "a WSD schedule"
    assert _legend(ax) == ["wsd", f"warmup ({W} steps)"]
    assert ax.get_ylim()[0] == 0
    _saved(ax.figure, tmp_path / "schedule.png")


def test_plot_fit_with_residuals(tissue_fit, tmp_path: Path) -> None:
    ax = tissue_fit.plot()
    fig = ax.figure
    assert len(fig.axes) == 2  # loss panel and residual panel
    res_ax = next(a for a in fig.axes if a is not ax)
    assert ax.get_ylabel() == "loss" and "tissue fit" in ax.get_title()
    assert res_ax.get_xlabel() == "optimizer step" and "% of loss" in res_ax.get_ylabel()
    labels = _legend(ax)
    assert {"constant (data)", "constant (tissue fit)", "cosine (data)", "cosine (tissue fit)"} <= set(labels)
    _saved(fig, tmp_path / "fit.png")


def test_plot_fit_on_given_axes(tissue_fit) -> None:
    plt = plots._pyplot()
    fig, ax = plt.subplots()
    assert plots.plot_fit(tissue_fit, ax=ax) is ax
    assert len(fig.axes) == 1 and ax.get_xlabel() == "optimizer step"
    plt.close(fig)


def test_plot_predictions(tissue_fit, runs, tmp_path: Path) -> None:
    preds = [tissue_fit.predict(s, interval=0.9) for s in ("cosine", "wsd:decay=0.2", "constant")]
    ax = plots.plot_predictions(preds, data=runs)
    assert ax.get_xlabel() == "optimizer step" and ax.get_ylabel() == "loss"
    assert "90% band" in ax.get_title()
    labels = _legend(ax)
    assert len(labels) == 3 and all(": final " in t for t in labels)
    assert labels[0] == f"cosine: final {preds[0].final_loss:.4f}"
    twins = [a for a in ax.figure.axes if a is not ax]
    assert len(twins) == 1 and twins[0].get_ylabel() == "learning rate (dashed)"
    assert len(ax.collections) == 3  # one interval band per prediction
    _saved(ax.figure, tmp_path / "predict.png")


def test_plot_predictions_without_lr_axis(tissue_fit) -> None:
    ax = plots.plot_predictions([tissue_fit.predict("cosine")], show_lr=False)
    assert len(ax.figure.axes) == 1
    plots._pyplot().close(ax.figure)


def test_the_y_axis_names_the_target_and_nats_only_when_known(tissue_fit) -> None:
    import dataclasses

    val = dataclasses.replace(tissue_fit, context=dataclasses.replace(tissue_fit.context, target="val_loss"))
    nats = dataclasses.replace(val, context=dataclasses.replace(val.context, target_unit="nats"))
    ppl = dataclasses.replace(val, context=dataclasses.replace(val.context, target="ppl", target_unit="perplexity"))
    for res, label in ((val, "val_loss"), (nats, "val_loss (nats)"), (ppl, "ppl")):
        ax = res.plot(log_y=res is ppl)
        assert ax.get_ylabel() == label
        assert ax.get_yscale() == ("log" if res is ppl else "linear")
        plots._pyplot().close(ax.figure)


def test_fit_context_takes_the_runs_target_and_unit(runs) -> None:
    import dataclasses

    from scalefit.fitting.inputs import fit_context

    assert (fit_context(runs).target, fit_context(runs).target_unit) == ("loss", None)
    ctx = fit_context([dataclasses.replace(r, target="val_loss") for r in runs])
    assert ctx.target == "val_loss" and ctx.target_label == "val_loss"
    nats = [dataclasses.replace(r, target_unit="nats") for r in runs]
    assert fit_context(nats).target_label == "loss (nats)"
    mixed = [nats[0], dataclasses.replace(runs[1], target_unit="bits")]
    assert fit_context(mixed).target_unit is None and fit_context(mixed).target_label == "loss"


def test_plot_predictions_with_a_differences_panel_and_log_y(tissue_fit, tmp_path: Path) -> None:
    from scalefit.results.difference import differences

    preds = [tissue_fit.predict(s) for s in ("cosine", "wsd:decay=0.2", "constant")]
    diffs = differences(tissue_fit, preds)
    ax = plots.plot_predictions(preds, differences=diffs, ylabel="val_loss (nats)", log_y=True)
    panels = [a for a in ax.figure.axes if a.get_ylabel() == "minus cosine"]
    assert len(panels) == 1 and ax.get_yscale() == "log" and ax.get_ylabel() == "val_loss (nats)"
    assert "difference to cosine" in panels[0].get_title()
    assert [t.get_text().split(":")[0] for t in panels[0].get_legend().get_texts()] == [
        "wsd", "constant", "cosine (baseline)"]
    assert len(panels[0].collections) == 2  # one band per difference
    _saved(ax.figure, tmp_path / "predict_diff.png")


def test_plot_evaluation(runs, tmp_path: Path) -> None:
    from scalefit.fitting import evaluate

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one run cannot fix C: at its bound
        ev = evaluate(runs[:1], runs[1:], "tissue", n_starts=8, law_error=False)
    ax = ev.plot()
    inside = sum(ev.final_inside().values())
    assert ax.get_ylabel() == "loss" and f"{inside} of 1 finals inside" in ax.get_title()
    assert _legend(ax)[0].startswith("cosine: final ")
    _saved(ax.figure, tmp_path / "eval.png")


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"), ("", PNG_MAGIC)])
def test_save_writes_the_suffixs_format_atomically(tissue_fit, tmp_path: Path, suffix: str, magic: bytes) -> None:
    path = tmp_path / f"fit{suffix}"
    path.write_bytes(b"old")
    assert plots.save(tissue_fit.plot().figure, path) == path
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_check_plot_path(tmp_path: Path) -> None:
    from scalefit.jsonio import OutputFileError

    assert plots.check_plot_path(tmp_path / "a.png") == tmp_path / "a.png"
    with pytest.raises(OutputFileError, match=r"--plot: matplotlib cannot write a '\.csv' image"):
        plots.check_plot_path(tmp_path / "a.csv")
    with pytest.raises(OutputFileError, match=r"--plot is a folder"):
        plots.check_plot_path(tmp_path)


@pytest.fixture(scope="module")
def sweep():
    """A 2 x 2 grid of (N, D) cells, each a 4 x 3 grid of (lr, batch size) around a known optimum."""
    from scalefit.scaling.hparams import fit_hparams
    from scalefit.tables import Table

    rows = []
    for n in (2e4, 1e5):
        for d in (5e5, 1e6):
            lr_opt, b_opt = 0.5 * n**-0.3 * d**0.05, 0.4 * d**0.5
            for lr in lr_opt * np.array([0.3, 1.0, 3.0, 9.0]):
                for b in b_opt * np.array([0.5, 1.0, 2.0]):
                    x, y = np.log(lr / lr_opt), np.log(b / b_opt)
                    rows.append((n, d, lr, b, 2.0 * (1 + 0.02 * x * x + 0.01 * y * y)))
    n, d, lr, b, loss = (np.array(c) for c in zip(*rows))
    table = Table(params=n, tokens=d, loss=loss, lr=lr, batch_size=b, flops=6 * n * d,
                  source=("sweep.csv",) * n.size, line=np.arange(n.size) + 2)
    return table, fit_hparams(n, d, lr, b, loss, bootstrap=0, seed=0)


def test_hparam_heatmap(sweep, tmp_path: Path) -> None:
    table, hp = sweep
    ax = plots.hparam_heatmap(table, hp, cell=0)
    assert ax.get_xlabel() == "peak learning rate" and ax.get_ylabel() == "batch size (tokens)"
    assert ax.get_title().startswith("N=2e+04, D=5e+05 (12 runs)")
    assert _colorbar_labels(ax.figure) == ["final loss (nats/token)"]
    assert {"best run", "steplaw law optimum"} <= set(_legend(ax))
    # a small grid: ticks at the swept values, each run's loss printed in its cell
    assert len(ax.get_xticks()) == 4 and len(ax.get_yticks()) == 3
    assert len(ax.texts) == 12
    _saved(ax.figure, tmp_path / "heatmap.png")


def test_hparam_heatmaps(sweep, tmp_path: Path) -> None:
    table, hp = sweep
    fig = plots.hparam_heatmaps(table, hp)
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>" and a.get_visible()]
    assert len(panels) == 4 and len(_colorbar_labels(fig)) == 4
    assert fig.get_suptitle().startswith("loss over (LR, batch size) per cell; steplaw law: lr = ")
    assert sum(a.get_legend() is not None for a in panels) == 1  # one legend for the grid
    _saved(fig, tmp_path / "heatmaps.png")


def test_scaling_contours(tmp_path: Path) -> None:
    from scalefit.laws import chinchilla as ch
    from scalefit.scaling.fit import fit_scaling
    from scalefit.tables import Table

    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e8, 3), np.geomspace(1e8, 1e10, 3)))
    L = ch.loss({"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}, N, D)
    sc = fit_scaling(N, D, L, law="chinchilla")
    table = Table(params=N, tokens=D, loss=L, lr=np.full(N.size, np.nan), batch_size=np.full(N.size, np.nan),
                  flops=6 * N * D, source=("runs.csv",) * N.size, line=np.arange(N.size) + 2)
    ax = plots.scaling_contours(sc, table)
    assert ax.get_xlabel() == "parameters N (non-embedding)" and ax.get_ylabel() == "training tokens D"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title().startswith("L = 1.8") and "nats/token" in ax.get_title()
    assert _legend(ax) == ["compute-optimal frontier (C = 6ND)", "runs", "constant compute"]
    assert _colorbar_labels(ax.figure) == ["final loss (nats/token)"]
    assert ax.texts, "contour lines carry loss labels"
    _saved(ax.figure, tmp_path / "contours.png")


def test_plot_schedules_compare(tmp_path: Path) -> None:
    opt = schedules.wsd(PEAK, T, warmup=W, decay=0.05, final=0.0)
    rows = [("optimized", opt, 2.501),
            SimpleNamespace(name="cosine to 0", lr=schedules.cosine(PEAK, T, warmup=W, final=0.0), final_loss=2.52),
            ("constant", schedules.constant(PEAK, T, warmup=W))]
    ax = plots.plot_schedules_compare(rows)
    assert ax.get_xlabel() == "optimizer step" and "learning rate" in ax.get_ylabel()
    assert "predicted final loss" in ax.get_title()
    assert _legend(ax) == ["optimized (predicted 2.5010)", "cosine to 0 (predicted 2.5200)", "constant"]
    widths = [line.get_linewidth() for line in ax.get_lines()]
    assert widths[0] == max(widths) and widths.count(widths[0]) == 1  # the optimised schedule stands out
    _saved(ax.figure, tmp_path / "compare.png")
