"""The CSV text reader's two parsers give the same table: the streaming one (pandas' C parser in blocks, after a
vectorised scan of the bytes) and the exact one (Python's csv module). Small blocks make every file cross block
boundaries, so the streaming code paths run on small files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalefit.readers import source, text
from scalefit.readers.source import Source

TEXTS = {
    "plain": "step,lr,loss\n0,0.001,3.5\n1,0.001,3.25\n2,0.0009,3.125\n",
    "crlf": "step,lr,loss\r\n0,0.001,3.5\r\n1,0.001,3.25\r\n",
    "comments_blanks": "# params: 10\nstep,lr,loss\n0,0.001,3.5\n\n# a note\n1,0.001,3.25\n\n2,,3.1\n",
    "empties_text_nan": "step,lr,loss,note\n0,0.001,,x\n1,,nan,\n2,inf,-1e-3,yy\n3,1e400,2,x\n",
    "spaces": "step, lr ,loss\n0 , 0.001,3.5 \n1,0.001 ,  3.25\n",
    "quoted_plain": '"step","lr","loss"\n"0","0.001","3.5"\n"1","0.001","3.25"\n',
    "big_ints_and_bools": "step,lr,loss,flag\n0,1,3,True\n18446744073709551617,1,2,False\n5,1,2,\n",
    "tab": "step\tlr\tloss\n0\t0.001\t3.5\n1\t0.001\t3.25\n",
    "no_final_newline": "step,lr,loss\n0,0.001,3.5\n1,0.001,3.25",
    "many_rows": "step,lr,loss\n" + "".join(f"{s},{1e-3 / (s + 1)!r},{3 + 1 / (s + 1)!r}\n" for s in range(200)),
}


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "BLOCK_BYTES", 16)
    monkeypatch.setattr(text, "PARSE_ROWS", 3)


def _parse(path: Path, fast: bool):
    if not fast:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(text, "_fast_body", lambda *a, **k: None)
            return text.parse_csv(path)
    return text.parse_csv(path)


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_the_streaming_and_the_exact_parser_agree(tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / f"{key}.csv"
    p.write_text(TEXTS[key])
    took: list[bool] = []
    real = text._fast_body
    monkeypatch.setattr(text, "_fast_body", lambda *a, **k: (took.append(True), real(*a, **k))[1])
    a = text.parse_csv(p)
    assert took, "the streaming parser was not tried"
    monkeypatch.setattr(text, "_fast_body", lambda *a, **k: None)
    b = text.parse_csv(p)
    assert a.names() == b.names() and a.header_line == b.header_line
    np.testing.assert_array_equal(a.line, b.line)
    for ca, cb in zip(a.columns, b.columns):
        np.testing.assert_array_equal(ca.values, cb.values, err_msg=ca.name)
        np.testing.assert_array_equal(ca.empty, cb.empty, err_msg=ca.name)
        np.testing.assert_array_equal(ca.text, cb.text, err_msg=ca.name)
        assert [ca.cell(i) for i in range(a.n)] == [cb.cell(i) for i in range(b.n)], ca.name


def test_the_streaming_parser_is_used_for_plain_files_and_not_for_quoted_line_breaks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[bool] = []
    real = text._fast_body
    monkeypatch.setattr(text, "_fast_body", lambda *a, **k: (lambda r: (used.append(r is not None), r)[1])(
        real(*a, **k)))
    p = tmp_path / "p.csv"
    p.write_text(TEXTS["many_rows"])
    assert text.parse_csv(p).n == 200 and used == [True]
    q = tmp_path / "q.csv"
    q.write_text('step,lr,loss,note\n0,1,3,"a, b"\n1,1,2.9,c\n')
    t = text.parse_csv(q)
    assert used[-1] is False and t.columns[3].cell(0) == "a, b"


def test_line_numbers_count_every_line_as_an_editor_does(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_text("# a: 1\n\nstep,lr,loss\n# c\n0,1,3\n\n\n1,1,2\n")
    t = text.parse_csv(p)
    np.testing.assert_array_equal(t.line, [5, 8])
    assert t.header_line == 3 and t.meta == {"a": 1}


def test_a_source_reads_a_regular_file_in_blocks_and_a_pipe_once(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text(TEXTS["many_rows"])
    src = Source(p)
    assert src.raw is None  # never held whole
    blocks = list(src.blocks())
    assert len(blocks) > 10 and b"".join(b for _, b in blocks) == p.read_bytes()
    assert all(b.endswith(b"\n") for _, b in blocks)
    assert src.line(3) == TEXTS["many_rows"].splitlines()[2]


def test_a_summary_table_reads_through_the_same_reader_with_its_own_error(tmp_path: Path) -> None:
    """How tables.py can use this reader: its error class, editor lines, cells as written."""
    from scalefit.errors import TableError
    from scalefit.readers.table import raise_problems

    p = tmp_path / "t.csv"
    p.write_text("# a summary\nparams,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,2.9,extra\n")
    t = text.parse_csv(p, fmt="table", error=TableError)
    with pytest.raises(TableError, match=r"t\.csv:4: row has 4 cells but the header \(line 2\) has 3 columns"):
        raise_problems(t, t.problems, error=TableError)
    assert t.names() == ["params", "tokens", "loss"] and t.line.tolist() == [3, 4]
    assert t.columns[0].cell(0) == "1e8" and t.columns[2].values[0] == 3.1
    with pytest.raises(TableError, match="the file is empty"):
        text.parse_csv(_empty(tmp_path), error=TableError)


def _empty(tmp_path: Path) -> Path:
    p = tmp_path / "e.csv"
    p.write_text("")
    return p


def test_unique_labels_of_runs_of_one_file() -> None:
    from scalefit.runs import unique_labels

    class R:
        def __init__(self, path: str) -> None:
            self.path = path

    assert unique_labels([R("a.csv"), R("b.csv"), R("a.csv"), R("a.csv")]) == ["a.csv", "b.csv", "a.csv#2",
                                                                              "a.csv#3"]
