"""A corpus of malformed run files: each gives one RunFileError with the right line, column and fix, and through
the CLI exit code 2, one line naming the file, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.errors import RunFileError
from scalefit.readers import read_runs

H = "step,lr,loss\n"

#: id -> (file content, expected line, expected column, regex the message must contain)
CORPUS: dict[str, tuple[str | bytes, int | None, str | None, str]] = {
    "empty": ("", None, None, r"the file is empty"),
    "blank_lines_only": ("\n\n  \n", None, None, r"the file is empty"),
    "header_only": (H, 1, None, r"no data rows after the header"),
    "metadata_only": ("# params: 10\n# seed: 1\n", 2, None, r"no header line"),
    "missing_loss": ("step,lr,ppl,val_ce\n0,1,20,3\n", 1, "loss",
                     r"missing column 'loss' \(found: step, lr, ppl, val_ce\)\. Pass --target"),
    "missing_lr": ("step,loss\n0,3\n", 1, "lr", r"missing column 'lr' \(found: step, loss\).*--schedule-file"),
    "missing_step": ("lr,loss\n1,3\n", 1, "step", r"missing column 'step'"),
    "text_in_lr": (H + "0,1e-4,3\n1,abc,2.9\n", 3, "lr", r"column 'lr' is 'abc'; expected a number"),
    "text_in_loss": (H + "0,1e-4,3\n1,1e-4,2.9x\n", 3, "loss", r"column 'loss' is '2\.9x'; expected a number"),
    "nan_lr": (H + "0,1e-4,3\n1,nan,2.9\n", 3, "lr", r"column 'lr' is nan; learning rates must be finite"),
    "inf_step": (H + "0,1e-4,3\ninf,1e-4,2.9\n", 3, "step", r"column 'step' is inf; steps must be finite"),
    "negative_lr": ("# params: 5\n" + H + "0,1e-4,3\n1,-3e-05,2.9\n", 4, "lr",
                    r"column 'lr' is -3e-05; learning rates must be >= 0\. Fix the log, or pass --schedule-file"),
    "negative_loss": (H + "0,1e-4,3\n1,1e-4,-2.9\n", 3, "loss", r"column 'loss' is -2\.9; losses must be > 0"),
    "zero_loss": (H + "0,1e-4,0\n", 2, "loss", r"column 'loss' is 0; losses must be > 0"),
    "inf_loss": (H + "0,1e-4,3\n1,1e-4,inf\n", 3, "loss", r"column 'loss' is inf; losses must be finite\. "
                                                          r"Leave the cell empty"),
    "nan_loss": (H + "0,1e-4,NaN\n1,1e-4,3\n", 2, "loss", r"column 'loss' is NaN; losses must be finite"),
    "duplicate_step": (H + "0,1,3\n1,1,2.9\n1,1,2.8\n", 4, "step",
                       r"'step' 1 repeats the step of line 3; steps must strictly increase\. "
                       r"Was a resumed run appended to its earlier segment\? "
                       r"Then pass --resumed to keep the later rows\."),
    "backwards_step": (H + "1100,1,3\n1200,1,2.9\n1100,1,2.8\n", 4, "step",
                       r"'step' goes 1200 -> 1100; steps must strictly increase\. Was a resumed run appended to its "
                       r"earlier segment\? Then pass --resumed"),
    "out_of_order": (H + "10,1,3\n20,1,2.9\n0,1,3.1\n", 4, "step",
                     r"'step' goes 20 -> 0; steps must strictly increase\. No step repeats.*sort the file by step"),
    "fractional_step": (H + "0,1,3\n1.5,1,2.9\n", 3, "step", r"column 'step' is 1\.5; steps must be whole numbers"),
    "negative_step": (H + "-1,1,3\n0,1,2.9\n", 2, "step", r"column 'step' is -1; steps must be >= 0"),
    "empty_step": (H + "0,1,3\n,1,2.9\n", 3, "step", r"column 'step' is empty"),
    "ragged_long": (H + "0,1,3\n1,1,2.9,7\n", 3, None, r"row has 4 cells but the header \(line 1\) has 3 columns"),
    "ragged_mid_file": (H + "0,1,3\n1,1\n2,1,2.8\n", 3, None, r"row has 2 cells but the header \(line 1\) has 3 "
                                                              r"columns.*Fix or delete that row"),
    "binary_garbage": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, None, r"binary data \(a NUL byte"),
    "undecodable": (b"step,lr,loss\n0,1,3\n1,1,2.9\xe9\n", 3, None, r"byte 0xe9 .* is not valid UTF-8.*CSV UTF-8"),
    "utf16": ("step,lr,loss\n0,1,3\n".encode("utf-16"), 1, None, r"UTF-16"),
    "decimal_comma": ("step;lr;loss\n0;0,001;3,5\n", 2, "lr", r"column 'lr' is '0,001'.*'\.' as the decimal mark"),
    "whitespace_separated": ("step lr loss\n0 1 3\n", 1, None, r"looks whitespace-separated.*comma-separated"),
    "semicolon_rows_under_comma_header": (H + "0;1;3\n", 2, None, r"looks ';'- or tab-separated"),
    "duplicated_column": ("step,lr,loss,loss\n0,1,3,3\n", 1, "loss",
                          r"column 'loss' appears twice in the header \(columns 3 and 4\)"),
    "all_empty_loss": (H + "0,1,\n1,1,\n", 1, "loss", r"column 'loss' is empty on every row \(2 rows\)"),
    "all_empty_lr": (H + "0,,3\n1,,2.9\n", 1, "lr", r"column 'lr' is empty on every row.*--schedule-file"),
    "lr_only_after_every_loss": (H + "0,,3\n1,,2.9\n5,1,\n", 1, "lr",
                                 r"no row with a target value lies where the LR is known \(steps 5\.\.5\)"),
    "step_beyond_cap": (H + "0,1,3\n300000000,1,2.9\n", 3, "step",
                        r"'step' is 300000000; scalefit keeps the LR of every step and reads at most 10,000,000 "
                        r"steps\. Steps this large look like tokens or samples"),
    "step_beyond_int64": (H + "0,1,3\n18446744073709551616,1,2.9\n", 3, "step", r"look like tokens or samples"),
    "loss_and_LOSS_differ_only_in_case": ("step,lr,Loss,LOSS\n0,1,3,4\n", 1, "loss",
                                          r"columns 'Loss' and 'LOSS' differ only in case"),
    "wandb_runs_table": ("Name,State,Notes,User,Tags,Created,Runtime,lr,loss\na,finished,,u,,2024,10,1e-3,2.5\n"
                         "b,finished,,u,,2024,10,2e-3,2.4\n", 1, None,
                         r"a W&B runs table: a summary of 2 runs \(a, b\), one row each, not a training curve"),
    "one_row_per_run": ("run,step,lr,loss\na,100,1e-3,2.5\nb,100,2e-3,2.4\n", 1, None,
                        r"one row per run \(column 'run'\).*scalefit scaling"),
    "many_problems": (H + "0,1,3\n1,-1,2.9\n2,1,nan\n3,1,2.7\n3,1,2.6\n", 3, "lr",
                      r"column 'lr' is -1; .* And 2 more rows with problems: lines 4, 6\.$"),
    "hf_bad_json": ('{"log_history": [ {"step": 1,, } ]}', 1, None, r"not valid JSON"),
}


def _write(tmp_path: Path, key: str) -> Path:
    content = CORPUS[key][0]
    suffix = ".json" if key.startswith("hf_") else ".csv"
    path = tmp_path / f"{key}{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("key", sorted(CORPUS))
def test_library_error_fields(tmp_path: Path, key: str) -> None:
    _, line, column, pattern = CORPUS[key]
    path = _write(tmp_path, key)
    with pytest.raises(RunFileError, match=pattern) as info:
        read_runs([path])
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    if column is not None:
        assert err.column == column
    text = str(err)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: " if line is not None else f"{path}: ")


@pytest.mark.parametrize("key", sorted(CORPUS))
def test_cli_exit_2_one_line_no_traceback(tmp_path: Path, key: str) -> None:
    path = _write(tmp_path, key)
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and path.name in lines[0]
    assert result.stdout == ""


def test_error_lists_problem_lines_structurally(tmp_path: Path) -> None:
    path = _write(tmp_path, "many_problems")
    with pytest.raises(RunFileError) as info:
        read_runs([path])
    assert info.value.lines == [3, 4, 6]  # type: ignore[attr-defined]
    assert info.value.value == "-1"
