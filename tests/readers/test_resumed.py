"""``resumed=True`` / ``--resumed``: a log holding a resumed or shard-concatenated run.

Each step keeps its rows from the latest segment that logged it and the rows go in step order, so a row is left
out only when a later segment logged its step again: nothing is lost that was not logged again. Checked against a
replay of the log (property test); every change is said.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.errors import AssumptionWarning, RunFileError
from scalefit.readers import read_run


def _write(path: Path, segments: list[tuple[int, int]], every: int = 1) -> Path:
    """Segment k logs steps start, start+every, ... < stop with loss 10 + k + step/1000 (the row says who wrote it)."""
    rows = [f"{s},0.001,{10 + k + s / 1000:.6f}\n" for k, (a, b) in enumerate(segments) for s in range(a, b, every)]
    path.write_text("step,lr,loss\n" + "".join(rows))
    return path


def _latest(segments: list[tuple[int, int]], every: int = 1) -> dict[int, int]:
    """step -> the last segment that logged it (a replay of the log, one segment after the other)."""
    out: dict[int, int] = {}
    for k, (a, b) in enumerate(segments):
        out.update({s: k for s in range(a, b, every)})
    return out


def _read_saying(path: Path, pattern: str):
    """read_run(path, resumed=True), asserting one warning matches ``pattern`` (others, such as the sparse-LR
    notes, are allowed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = read_run(path, resumed=True)
    said = [str(w.message) for w in caught if issubclass(w.category, AssumptionWarning)]
    assert any(re.search(pattern, m) for m in said), said
    return run


def _check(run, want: dict[int, int]) -> None:
    steps = sorted(want)
    np.testing.assert_array_equal(run.steps, steps)
    np.testing.assert_allclose(run.loss, [10 + want[s] + s / 1000 for s in steps])


def test_a_restart_mid_run_keeps_the_later_rows_and_says_which_lines_it_left_out(tmp_path) -> None:
    path = _write(tmp_path / "r.csv", [(0, 40), (30, 60)])  # crashed after step 39, resumed from step 30
    with pytest.raises(RunFileError, match=r"r\.csv:42: 'step' goes 39 -> 30.*pass --resumed"):
        read_run(path)
    with pytest.warns(AssumptionWarning, match=r"--resumed: 2 segments \(the steps go back at line 42\); left out "
                                               r"10 row\(s\) logged again by a later segment \(lines 32, 33, 34, 35, "
                                               r"36, \.\.\.\), 0 of them identical to the later row; rows put in step "
                                               r"order"):
        run = read_run(path, resumed=True)
    _check(run, _latest([(0, 40), (30, 60)]))
    np.testing.assert_array_equal(run.line[29:31], [31, 42])  # file lines survive, for later messages
    assert any(n.startswith("--resumed: 2 segments") for n in run.notes)


def test_shards_saved_out_of_order_with_overlapping_identical_rows(tmp_path) -> None:
    """What the Schaipp et al. logs hold: [35050..50000] then [30050..35300], the overlap logged identically."""
    path = tmp_path / "s.csv"
    a = [f"{s},0.001,{3 + s / 1e5:.6f}\n" for s in range(35050, 50001, 50)]
    b = [f"{s},0.001,{3 + s / 1e5:.6f}\n" for s in range(30050, 35301, 50)]
    path.write_text("step,lr,loss\n" + "".join(a + b))
    run = _read_saying(path, r"left out 6 row\(s\) .*, 6 of them identical to the later row")
    np.testing.assert_array_equal(run.steps, np.arange(30050, 50001, 50))  # every step once, nothing lost
    np.testing.assert_allclose(run.loss, 3 + run.steps / 1e5)


def test_out_of_order_shards_whose_overlap_differs_are_flagged(tmp_path) -> None:
    path = _write(tmp_path / "o.csv", [(20, 30), (10, 22)])  # the later shard first; steps 20, 21 differ
    run = _read_saying(path, r"left out 2 row\(s\) .*, 0 of them identical .*a segment starts before the one above "
                             r"it \(shards saved out of order\?\)")
    np.testing.assert_array_equal(run.steps, np.arange(10, 30))


def test_nested_restarts_a_full_rerun_and_a_restart_that_did_not_relog_every_step(tmp_path) -> None:
    segments = [(0, 36), (30, 33), (31, 50)]  # resumed at 30, crashed again at 32, resumed at 31
    with pytest.warns(AssumptionWarning, match=r"3 segments .*left out 8 row\(s\)"):
        _check(read_run(_write(tmp_path / "n.csv", segments), resumed=True), _latest(segments))
    with pytest.warns(AssumptionWarning, match=r"left out 20 row\(s\)"):  # the whole run logged twice
        _check(read_run(_write(tmp_path / "f.csv", [(0, 20), (0, 20)]), resumed=True), _latest([(0, 20), (0, 20)]))
    # the restart logs every 2nd step: the old odd steps inside its range are kept, and named
    path = tmp_path / "m.csv"
    path.write_text("step,lr,loss\n" + "".join(f"{s},0.001,{10 + s / 1000}\n" for s in range(0, 10))
                    + "".join(f"{s},0.001,{11 + s / 1000}\n" for s in range(4, 20, 2)))
    run = _read_saying(path, r"3 kept row\(s\) from an earlier segment lie inside a later one's steps but were not "
                             r"logged again \(lines 7, 9, 11\): check them")
    np.testing.assert_array_equal(run.steps, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 25)), min_size=1, max_size=5))
def test_every_step_comes_from_the_last_segment_that_logged_it(tmp_path_factory, spans) -> None:
    segments = [(a, a + n) for a, n in spans]
    path = _write(tmp_path_factory.mktemp("h") / "h.csv", segments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = read_run(path, resumed=True)
    _check(run, _latest(segments))


def test_lightning_rows_of_one_step_still_merge_and_a_restart_supersedes(tmp_path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,lr-AdamW,train_loss\n"
                 "0,0,0.001,\n0,0,,3.0\n0,1,0.001,\n0,1,,2.9\n0,2,0.001,\n0,2,,2.8\n"
                 "0,1,0.001,\n0,1,,2.7\n0,2,0.001,\n0,2,,2.6\n")  # resumed from step 1
    with pytest.warns(AssumptionWarning, match=r"2 row\(s\) with a different value \(lines 5, 7\); the steps go "
                                               r"back 1 time\(s\)"):
        run = read_run(p, resumed=True)
    np.testing.assert_array_equal(run.steps, [0, 1, 2])
    np.testing.assert_allclose(run.loss, [3.0, 2.7, 2.6])


def test_lightning_restart_that_relogs_the_step_it_crashed_at(tmp_path) -> None:
    """No step goes back, but step 2 holds two losses (logged, crashed before the checkpoint, logged again)."""
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,lr-AdamW,train_loss\n0,0,0.001,\n0,0,,3.0\n0,1,0.001,\n0,1,,2.9\n0,2,0.001,\n"
                 "0,2,,2.8\n0,2,0.001,\n0,2,,2.75\n0,3,0.001,\n0,3,,2.7\n")
    with pytest.raises(RunFileError, match="for the same step 2"):
        read_run(p)
    with pytest.warns(AssumptionWarning, match=r"1 row\(s\) with a different value \(line 7\)"):
        run = read_run(p, resumed=True)
    np.testing.assert_allclose(run.loss, [3.0, 2.9, 2.75, 2.7])


def test_cli_inspect_and_fit_take_resumed(tmp_path) -> None:
    runner = CliRunner()
    path = _write(tmp_path / "r.csv", [(0, 40), (30, 60)])
    bad = runner.invoke(app, ["inspect", str(path)])
    assert bad.exit_code == 2 and "pass --resumed" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(app, ["inspect", str(path), "--resumed", "--json"])
    assert ok.exit_code == 0, ok.output
    assert "--resumed: 2 segments" in ok.stderr
    fit = runner.invoke(app, ["fit", str(path), "--law", "tissue", "--resumed", "--json"])
    assert "--resumed: 2 segments" in fit.stderr and "Traceback" not in fit.output


def test_every_command_that_suggests_resumed_takes_it(tmp_path) -> None:
    """The strict error says 'pass --resumed'; each command that reads run files must then accept it."""
    runner = CliRunner()
    path = tmp_path / "r.csv"
    head = "# params: 1000\n# tokens_per_step: 100\n"
    path.write_text(head + "step,lr,loss\n" + "".join(f"{s},0.001,{5 - s / 100}\n" for s in range(0, 40))
                    + "".join(f"{s},0.001,{4.9 - s / 100}\n" for s in range(30, 60)))
    for command in ("inspect", "fit", "evaluate", "hparams", "scaling"):
        args = [command, str(path)]
        if command == "evaluate":
            args = ["evaluate", "--train", str(path), "--test", str(path)]
        strict = runner.invoke(app, args)
        assert strict.exit_code == 2 and "pass --resumed" in strict.output, (command, strict.output)
        again = runner.invoke(app, [*args, "--resumed"])
        assert "No such option" not in again.output and "--resumed: 2 segments" in again.output, (command, again.output)
