"""Summary tables: explicit units, stated compute definition, one-line errors naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, TableError
from scalefit.tables import final_loss, read_table, read_tables, table_from_runs

GOOD = "params,tokens,lr,batch_size_tokens,loss\n1e8,2e9,1e-3,262144,3.1\n2e8,4e9,8e-4,524288,2.9\n"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def read(path: Path, **kw):  # the compute note is always warned
    with pytest.warns(AssumptionWarning):
        return read_table(path, **kw)


def test_good_table_states_6nd(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    with pytest.warns(AssumptionWarning, match=r"compute C = 6 N D"):
        t = read_table(p)
    assert len(t) == 2 and t.compute == "6ND"
    np.testing.assert_allclose(t.flops, 6 * t.params * t.tokens)
    np.testing.assert_allclose(t.batch_size, [262144, 524288])
    assert t.line.tolist() == [2, 3]
    assert any("6 N D" in n for n in t.notes)


def test_flops_column_is_used_and_stated(tmp_path: Path) -> None:
    p = write(tmp_path, "params,tokens,flops,loss\n1e8,2e9,1.3e18,3.1\n")
    with pytest.warns(AssumptionWarning, match=r"'flops' column"):
        t = read_table(p)
    assert t.compute == "flops column" and t.flops[0] == 1.3e18


def test_tokens_imputed_from_flops(tmp_path: Path) -> None:
    p = write(tmp_path, "params,flops,loss\n1e8,6e18,3.1\n")
    with pytest.warns(AssumptionWarning, match=r"imputed"):
        t = read_table(p)
    assert t.tokens[0] == pytest.approx(1e10)


def test_sequences_times_seq_len(tmp_path: Path) -> None:
    p = write(tmp_path, "params,tokens,lr,batch_size,seq_len,loss\n1e8,2e9,1e-3,128,2048,3.1\n")
    t = read(p)
    assert t.batch_size[0] == 128 * 2048


def test_batch_unit_tokens_option(tmp_path: Path) -> None:
    p = write(tmp_path, "params,tokens,lr,batch_size,loss\n1e8,2e9,1e-3,262144,3.1\n")
    assert read(p, batch_unit="tokens").batch_size[0] == 262144
    assert read(p, batch_unit="sequences", seq_len=1024).batch_size[0] == 262144 * 1024


def test_comment_lines_count_in_line_numbers(tmp_path: Path) -> None:
    p = write(tmp_path, "# sweep of 2025\nparams,tokens,loss\n\n1e8,2e9,3.1\n1e8,-2e9,3.0\n")
    with pytest.raises(TableError, match=r"t\.csv:5: column 'tokens' is -2e9") as exc:
        read_table(p)
    assert exc.value.line == 5 and exc.value.column == "tokens"


def test_exclude_column_drops_visibly(tmp_path: Path) -> None:
    p = write(tmp_path, "params,tokens,loss,epoch_excluded\n1e8,2e9,3.1,0\n1e8,4e9,5.0,1\n")
    with pytest.warns(AssumptionWarning) as rec:
        t = read_table(p)
    assert len(t) == 1
    assert any("dropped 1 row(s) marked epoch_excluded=1 (lines 3)" in str(w.message) for w in rec)


@pytest.mark.parametrize(
    ("text", "kw", "pattern", "line", "column"),
    [
        ("params,tokens,final_loss\n1e8,2e9,3\n", {}, r"t\.csv:1: missing column 'loss'.*--target final_loss",
         1, "loss"),
        ("tokens,loss\n2e9,3\n", {}, r"t\.csv:1: missing column 'params'", 1, "params"),
        ("params,loss\n1e8,3\n", {}, r"t\.csv:1: missing column 'tokens'", 1, "tokens"),
        ("params,tokens,loss\n1e8,2e9,abc\n", {}, r"t\.csv:2: column 'loss' is 'abc', not a number", 2, "loss"),
        ("params,tokens,loss\n120,2e9,3\n", {}, r"t\.csv:2: column 'params' is 120, which looks scaled", 2,
         "params"),
        ("params,tokens,loss\n1e8,2e9,0\n", {}, r"column 'loss' is 0; it must be positive", 2, "loss"),
        ("params,tokens,lr,loss\n1e8,2e9,-6.9,3\n", {}, r"column 'lr' is -6.9.*not its log", 2, "lr"),
        ("params,tokens,lr,loss\n1e8,2e9,30,3\n", {}, r"column 'lr' is 30 > 10", 2, "lr"),
        ("params,tokens,lr,batch_size,loss\n1e8,2e9,1e-3,128,3\n", {}, r"'batch_size' has no unit", 1,
         "batch_size"),
        ("params,tokens,lr,batch_size_seqs,loss\n1e8,2e9,1e-3,128,3\n", {}, r"no 'seq_len'.*--seq-len", 1,
         "seq_len"),
        ("params,tokens,lr,batch_size_tokens,loss\n1e8,2e9,1e-3,32,3\n", {}, r"looks like a count of sequences", 2,
         "batch_size"),
        ("params,tokens,lr,batch_size_tokens,batch_size_seqs,seq_len,loss\n1e8,2e9,1e-3,1000,8,128,3\n", {},
         r"batch_size_tokens is 1000 but batch_size_seqs x seq_len is 1024", 2, "batch_size_tokens"),
        ("params,tokens,loss\n1e8,2e9,3\n", {"batch_unit": "bytes"}, r"batch unit 'bytes'", None, "batch_size"),
        ("params,tokens,loss,exclude\n1e8,2e9,3,maybe\n", {}, r"column 'exclude' is 'maybe'", 2, "exclude"),
        ("params,tokens,loss\n1e8,2e9\n", {}, r"t\.csv:2: has 2 cells but the header has 3", 2, None),
        ("params,tokens,loss\n", {}, r"has a header but no rows", 1, None),
    ],
)
def test_rejections_are_one_line(tmp_path: Path, text, kw, pattern, line, column) -> None:
    p = write(tmp_path, text)
    with pytest.raises(TableError, match=pattern) as exc:
        read_table(p, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg
    assert exc.value.line == line and exc.value.column == column


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_require_names_missing_quantity(tmp_path: Path) -> None:
    t = read(write(tmp_path, "params,tokens,loss\n1e8,2e9,3\n"))
    with pytest.raises(TableError, match=r"t\.csv:2: the hyperparameter law needs 'lr'"):
        t.require("lr", purpose="the hyperparameter law")


class FakeRun:
    def __init__(self, path, meta, loss, val=None, steps=None):
        self.path, self.meta, self.target = path, meta, "loss"
        self.steps = np.arange(len(loss)) * 10 if steps is None else steps
        self.loss = np.asarray(loss, float)
        self.lr = np.full(int(self.steps[-1]) + 1, 1e-3)
        self.line = np.arange(2, len(loss) + 2)
        self.extra = {} if val is None else {"val_loss": np.asarray(val, float)}


def test_final_loss_rule() -> None:
    r = FakeRun("a.csv", {}, [4.0, 3.5, 3.0], val=[np.nan, 3.6, np.nan])
    assert final_loss(r) == (3.6, "last observed val_loss")
    r = FakeRun("a.csv", {}, [4.0, 3.5, 3.0])
    assert final_loss(r, k=2) == (3.25, "mean of the last 2 observed loss values")


def test_table_from_runs() -> None:
    r = FakeRun("a.csv", {"params": 1e6, "batch_size": 8, "seq_len": 128, "peak_lr": 2e-3}, [4.0, 3.5, 3.0])
    with pytest.warns(AssumptionWarning, match="final loss = last observed loss"):
        t = table_from_runs([r])
    assert t.params[0] == 1e6 and t.batch_size[0] == 1024 and t.lr[0] == 2e-3
    assert t.tokens[0] == (20 + 1) * 1024 and t.line[0] == 4


def test_run_without_params_is_rejected() -> None:
    with pytest.raises(TableError, match=r"a\.csv:1: has no 'params' metadata"):
        table_from_runs([FakeRun("a.csv", {"tokens_per_step": 1024}, [3.0])])


def test_read_tables_mixes_run_files(tmp_path: Path) -> None:
    pytest.importorskip("scalefit.readers")
    table = write(tmp_path, GOOD)
    run = write(tmp_path, "# params: 1000000\n# tokens_per_step: 4096\nstep,lr,loss\n0,0.001,5.0\n1,0.001,4.0\n"
                          "2,0.001,3.5\n", name="run.csv")
    with pytest.warns(AssumptionWarning):
        t = read_tables([table, run])
    assert len(t) == 3
    assert t.source[-1] == str(run) and t.loss[-1] == 3.5 and t.tokens[-1] == 3 * 4096


def test_an_unfinished_run_file_is_refused(tmp_path) -> None:
    """A run still training (or killed) has no final loss: using its last value would bias the laws."""
    from scalefit.readers import read_runs
    from scalefit.tables import table_from_runs

    f = tmp_path / "partial.csv"
    f.write_text("# params: 1000\n# batch_size: 8\n# seq_len: 64\n# tokens_per_step: 512\n# peak_lr: 0.01\n"
                 "# total_steps: 100\nstep,lr,loss,val_loss\n0,0.01,3.0,3.1\n1,0.01,2.9,\n2,0.01,2.8,2.85\n")
    runs = read_runs([str(f)])
    with pytest.raises(TableError, match=r"partial\.csv: the run stopped at step 2 of its 100 planned steps"):
        table_from_runs(runs)
