"""An adversarial corpus of run files (issue 14): malformed or odd files in every format the readers accept (CSV,
HF trainer_state.json, Lightning metrics.csv, TensorBoard, W&B chart and history exports, JSON lines), each with
what scalefit must do with it.

Every case ends in one of two ways: ``ok`` (exit 0, and the facts given, such as the rows read and the last loss,
are exactly what the file holds) or ``error`` (exit 2 and one line naming the file, and the line or key when given).

Usage: ``python tests/adversarial/make_runs.py OUT_DIR`` writes the files and ``cases.json``; the test builds them
in a temporary folder at test time (:func:`make_all`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class Case:
    name: str
    fmt: str
    path: str
    expect: str  # "ok", "error", or "read" (inspect reads it; a fit is an error: too little to fit)
    facts: dict[str, Any] = field(default_factory=dict)  # inspect --json facts an ok case must show exactly
    where: str | None = None  # for an error: text its line must hold besides the file (':LINE', a key)


# ---- the good curve every mutation starts from ----------------------------------------------------------------
N = 60
STEPS = np.arange(0, N * 10, 10)
LR = np.where(STEPS < 100, 1e-3 * (STEPS + 10) / 110, 1e-3 * 0.5 * (1 + np.cos(np.pi * (STEPS - 100) / 500)) + 1e-5)
LOSS = np.round(2.5 + 3.0 * (1 + np.cumsum(LR) * 10 / 1e-3 / 50) ** -0.5, 6)


def rows(steps=STEPS, lr=LR, loss=LOSS, sep: str = ",", fmt: str = "{!r}") -> str:
    return "".join(sep.join([str(int(s)), fmt.format(float(a)), fmt.format(float(b))]) + "\n"
                   for s, a, b in zip(steps, lr, loss))


def good_csv(header: str = "step,lr,loss\n") -> str:
    return header + rows()


def ok_facts(n: int = N, last_loss: float = float(LOSS[-1]), **more: Any) -> dict[str, Any]:
    return {"rows": n, "loss_last": last_loss, **more}


# ---- writers ----------------------------------------------------------------------------------------------------
def _csv_cases() -> list[tuple[str, Any, str, dict | None, str | None]]:
    """(name, content, expect, facts, where) of the CSV cases."""
    H = "step,lr,loss\n"
    body = rows()
    lines = body.splitlines(keepends=True)
    cases: list[tuple[str, Any, str, dict | None, str | None]] = [
        ("good", good_csv(), "ok", ok_facts(), None),
        ("good_crlf", good_csv().replace("\n", "\r\n"), "ok", ok_facts(), None),
        ("good_bom", "\ufeff" + good_csv(), "ok", ok_facts(), None),
        ("good_tab", good_csv().replace(",", "\t"), "ok", ok_facts(), None),
        ("good_semicolon", good_csv().replace(",", ";"), "ok", ok_facts(), None),
        ("good_quoted", '"step","lr","loss"\n' + "".join(
            ",".join(f'"{c}"' for c in ln.strip().split(",")) + "\n" for ln in lines), "ok", ok_facts(), None),
        ("good_no_final_newline_complete", good_csv().rstrip("\n"), "ok", ok_facts(), None),
        ("good_metadata", "# params: 1.2e8\n# seq_len: 1024\n# weird: [1, 2]\n" + good_csv(), "ok", ok_facts(), None),
        ("good_comments_and_blank_lines", H + "".join(ln + ("\n# note\n" if k % 7 == 0 else "")
                                                      for k, ln in enumerate(lines)), "ok", ok_facts(), None),
        ("good_extra_columns_with_nan_inf", "step,lr,loss,grad_norm,note\n" + "".join(
            ln.strip() + (",nan,x\n" if k % 2 else ",inf,\n") for k, ln in enumerate(lines)), "ok", ok_facts(), None),
        ("good_float_steps", H + body.replace(",", ".0,", 1), "ok", ok_facts(), None),
        ("good_exp_steps", H + "".join(f"{int(s / 10)}e1," + ln.split(",", 1)[1] for s, ln in zip(STEPS, lines)
                                       if s), "ok", ok_facts(N - 1), None),
        ("good_LOSS_and_loss", "step,lr,LOSS,loss\n" + "".join(
            f"{s},{a!r},99,{b!r}\n" for s, a, b in zip(STEPS.tolist(), LR.tolist(), LOSS.tolist())), "ok",
         ok_facts(), None),
        ("good_ansi_and_markup_column", "step,lr,loss,\x1b[31m[bold]red[/bold]\n" + "".join(
            ln.strip() + ",1\n" for ln in lines), "ok", ok_facts(), None),
        ("good_1000_columns", "step,lr,loss," + ",".join(f"c{j}" for j in range(997)) + "\n" + "".join(
            ln.strip() + "," + ",".join("1" for _ in range(997)) + "\n" for ln in lines), "ok", ok_facts(), None),
        ("good_large_loss", H + rows(loss=LOSS * 1e6), "ok", ok_facts(last_loss=float(LOSS[-1] * 1e6)), None),
        ("good_small_loss", H + rows(loss=LOSS * 1e-3), "ok", ok_facts(last_loss=float(LOSS[-1] * 1e-3)), None),
        ("good_run_column", "run,step,lr,loss\n" + "".join(f"{r},{ln}" for r in ("a", "b") for ln in lines), "ok",
         None, None),
        ("good_restart_appended", H + "".join(lines[:20]) + body, "ok", None, None),
        ("good_last_line_cut", good_csv() + "600,0.0003", "ok", ok_facts(), None),
        ("good_last_line_cut_in_number", good_csv() + f"600,{LR[-1]!r},2.5", "ok", ok_facts(), None),
        ("good_val_loss_sparse", "step,lr,loss,val_loss\n" + "".join(
            ln.strip() + ("," + str(LOSS[k] + 0.1) if k % 10 == 0 else ",") + "\n" for k, ln in enumerate(lines)),
         "ok", ok_facts(), None),
        ("good_cr_line_ends", good_csv().replace("\n", "\r"), "ok", ok_facts(), None),
        ("good_trailing_comma_everywhere", "step,lr,loss,\n" + "".join(ln.strip() + ",\n" for ln in lines), "ok",
         ok_facts(), None),
        ("good_json_lines_named_csv", "".join(json.dumps({"step": int(s), "lr": float(a), "loss": float(b)}) + "\n"
                                               for s, a, b in zip(STEPS, LR, LOSS)), "ok", ok_facts(), None),
        ("good_trailing_eval_rows", "step,lr,loss,val_loss\n" + "".join(ln.strip() + ",\n" for ln in lines)
         + "1000,,,2.6\n1010,,,2.5\n", "ok", ok_facts(), None),
        # ---- errors
        ("empty", "", "error", None, None),
        ("whitespace_only", " \n\t\n\n", "error", None, None),
        ("bom_only", "\ufeff", "error", None, None),
        ("header_only", H, "error", None, ":1"),
        ("metadata_only", "# params: 5\n", "error", None, None),
        ("binary_png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "error", None, None),
        ("nul_in_body", (good_csv()[:200] + "\x00" + good_csv()[200:]).encode(), "error", None, None),
        ("utf16", good_csv().encode("utf-16"), "error", None, ":1"),
        ("latin1", (H + "0,0.001,3\n1,0.001,2.9\xe9\n").encode("latin-1"), "error", None, ":3"),
        ("headerless_numbers", body, "error", None, ":1"),
        ("text_log_llmc", "s:0 trl:10.99 norm:15.3\ns:1 trl:10.95 norm:15.2\n", "error", None, ":1"),  # no LR
        ("text_log_nanogpt", "step 0: train loss 10.98, val loss 10.99\niter 0: loss 10.97, time 22ms\n", "error",
         None, ":1"),
        ("whitespace_separated", good_csv().replace(",", " "), "error", None, ":1"),
        ("decimal_comma", "step;lr;loss\n0;0,001;3,5\n1;0,001;3,4\n", "error", None, ":2"),
        ("duplicate_header", "step,lr,loss,loss\n0,1,3,3\n", "error", None, ":1"),
        ("case_only_duplicates", "step,lr,Loss,LOSS\n0,1,3,3\n", "error", None, ":1"),
        ("missing_loss", "step,lr,acc\n0,1,0.5\n", "error", None, ":1"),
        ("missing_lr", "step,loss\n0,3\n", "error", None, ":1"),
        ("missing_step", "lr,loss\n1,3\n", "error", None, ":1"),
        ("ragged_long", H + "".join(lines[:5]) + "50,1,2,3\n" + "".join(lines[6:]), "error", None, ":7"),
        ("ragged_short_mid", H + "".join(lines[:5]) + "50,1\n" + "".join(lines[6:]), "error", None, ":7"),
        ("quoted_newline", H + '0,"0.001\n",3\n1,0.001,2.9\n', "error", None, None),
        ("negative_step", H + "-10,0.001,3\n" + body, "error", None, ":2"),
        ("fractional_step", H + "0.5,0.001,3\n" + "".join(lines[1:]), "error", None, ":2"),
        ("nan_step", H + "nan,0.001,3\n" + "".join(lines[1:]), "error", None, ":2"),
        ("inf_step", H + "".join(lines[:3]) + "inf,0.001,3\n", "error", None, ":5"),
        ("step_1e300", H + "".join(lines[:3]) + "1e300,0.001,3\n", "error", None, ":5"),
        ("step_2_63", H + "".join(lines[:3]) + f"{2 ** 63},0.001,3\n", "error", None, ":5"),
        ("step_2_64_plus", H + "".join(lines[:3]) + f"{2 ** 64 + 7},0.001,3\n", "error", None, ":5"),
        ("step_tokens_3e8", H + "".join(lines) + "300000000,0.0001,2.4\n", "error", None, f":{N + 2}"),
        ("step_1e15", H + "".join(lines) + "1000000000000000,0.0001,2.4\n", "error", None, f":{N + 2}"),
        ("step_hex", H + "0x10,0.001,3\n", "error", None, ":2"),
        ("steps_backwards", H + "".join(lines[:30]) + "".join(lines[25:]), "error", None, ":32"),
        ("steps_repeat", H + "".join(lines[:30]) + lines[29] + "".join(lines[30:]), "error", None, ":32"),
        ("all_same_step", H + "".join(f"5,0.001,{3 - k / 100}\n" for k in range(10)), "error", None, ":3"),
        ("negative_lr", H + "".join(lines[:10]) + "100,-0.001,2.9\n", "error", None, ":12"),
        ("nan_lr", H + "".join(lines[:10]) + "100,nan,2.9\n", "error", None, ":12"),
        ("text_lr", H + "".join(lines[:10]) + "100,fast,2.9\n", "error", None, ":12"),
        ("empty_lr_everywhere", H + "".join(f"{s},,{b}\n" for s, b in zip(STEPS.tolist(), LOSS.tolist())),
         "error", None, ":1"),
        ("zero_loss", H + "".join(lines[:10]) + "100,0.001,0\n", "error", None, ":12"),
        ("negative_loss", H + "".join(lines[:10]) + "100,0.001,-2\n", "error", None, ":12"),
        ("nan_loss", H + "".join(lines[:10]) + "100,0.001,NaN\n", "error", None, ":12"),
        ("inf_loss", H + "".join(lines[:10]) + "100,0.001,inf\n", "error", None, ":12"),
        ("overflow_loss", H + "".join(lines[:10]) + "100,0.001,1e400\n", "error", None, ":12"),
        ("text_loss", H + "".join(lines[:10]) + "100,0.001,diverged\n", "error", None, ":12"),
        ("empty_loss_everywhere", H + "".join(f"{s},{a},\n" for s, a in zip(STEPS.tolist(), LR.tolist())),
         "error", None, ":1"),
        ("empty_step_cell", H + "".join(lines[:10]) + ",0.001,2.9\n", "error", None, ":12"),
        ("wandb_runs_table", "Name,State,Notes,User,Tags,Created,Runtime,Sweep,lr,train/loss\n" + "".join(
            f"run{k},finished,,me,,2024-01-01,100,,1e-3,{2 + k / 10}\n" for k in range(6)), "error", None, ":1"),
        ("one_row_per_run", "run_name,step,lr,loss\n" + "".join(f"r{k},100,1e-3,{2 + k / 10}\n" for k in range(5)),
         "error", None, ":1"),
        ("only_lr_after_loss", H + "0,,3\n10,,2.9\n20,0.001,\n", "error", None, None),
        ("cell_over_the_csv_limit", H.rstrip("\n") + ",note\n0,0.001,3," + "x" * 200_000 + "\n1,0.001,\"2,9\",y\n",
         "error", None, ":2"),
        ("header_over_the_csv_limit", 'step,lr,loss,"' + "x" * 200_000 + '"\n' + body, "error", None, ":1"),
        ("excel_sep_line", "sep=,\n" + good_csv(), "error", None, ":1"),
        ("trailing_comma_rows_only", H + "".join(ln.strip() + ",\n" for ln in lines), "error", None, ":2"),
        ("single_row", H + "0,0.001,3\n", "read", ok_facts(1, 3.0), None),
        ("three_rows", H + "0,0.001,3\n1,0.001,2.9\n2,0.001,2.8\n", "read", ok_facts(3, 2.8), None),
    ]
    return cases


def _hf_cases() -> list[tuple[str, Any, str, dict | None, str | None]]:
    hist = [{"epoch": round(s / 600, 4), "learning_rate": float(a), "loss": float(b), "step": int(s)}
            for s, a, b in zip(STEPS[1:], LR[1:], LOSS[1:])]

    def state(h: Any, **kw: Any) -> str:
        return json.dumps({"log_history": h, "global_step": 590, **kw})

    deep = "[" * 100_000 + "]" * 100_000
    cases: list[tuple[str, Any, str, dict | None, str | None]] = [
        ("good", state(hist), "ok", ok_facts(N - 1), None),
        ("good_eval_and_summary", state([*hist, {"eval_loss": 2.6, "step": 590},
                                         {"train_runtime": 5.0, "train_loss": 2.7, "step": 590}]), "ok",
         ok_facts(N - 1), None),
        ("good_predict_without_step", state([*hist, {"predict_loss": 2.5, "predict_runtime": 1}]), "ok",
         ok_facts(N - 1), None),
        ("good_eval_at_step_0", state([{"eval_loss": 11.0, "step": 0}, *hist]), "ok", ok_facts(N - 1), None),
        ("good_nested_values", state([{**r, "extra": {"a": [1, 2]}} for r in hist]), "ok", ok_facts(N - 1), None),
        ("good_final_eval_later", state([*hist, {"eval_loss": 2.6, "step": 700}]), "ok", ok_facts(N - 1), None),
        ("not_json", "{log_history: [", "error", None, ":1"),
        ("truncated", state(hist)[:-40], "error", None, ":1"),
        ("json_array", json.dumps(hist), "error", None, None),
        ("log_history_not_list", json.dumps({"log_history": {"a": 1}}), "error", None, None),
        ("entry_not_object", state([*hist[:3], 5, *hist[3:]]), "error", None, "log_history[3]"),
        ("step_as_string", state([*hist[:3], {**hist[3], "step": "40"}, *hist[4:]]), "error", None, "log_history[3]"),
        ("negative_step", state([{**hist[0], "step": -10}, *hist[1:]]), "error", None, "log_history[0]"),
        ("nan_loss", state(hist).replace(f'"loss": {hist[5]["loss"]!r}', '"loss": NaN'), "error", None,
         "log_history[5]"),
        ("infinity_lr", state(hist).replace(f'"learning_rate": {hist[5]["learning_rate"]!r}',
                                            '"learning_rate": Infinity'), "error", None, "log_history[5]"),
        ("bool_loss", state([*hist[:4], {**hist[4], "loss": True}, *hist[5:]]), "error", None, "log_history[4]"),
        ("huge_int_5000_digits", '{"log_history": [{"step": ' + "9" * 5000 + ', "loss": 2, "learning_rate": 1}]}',
         "error", None, None),
        ("huge_int_step", state([*hist, {**hist[-1], "step": 10 ** 30}]), "error", None, f"log_history[{N - 1}]"),
        ("deep_nesting", '{"log_history": ' + deep + "}", "error", None, None),
        ("empty_history", state([]), "error", None, None),
        ("only_summary", state([{"train_runtime": 1, "step": 10}]), "error", None, None),
        ("conflicting_lr_same_step", state([*hist[:5], {**hist[4], "learning_rate": 0.5}, *hist[5:]]), "error",
         None, "log_history[5]"),
        ("no_loss_key", state([{k: v for k, v in r.items() if k != "loss"} for r in hist]), "error", None, None),
    ]
    return cases


def _lightning_cases() -> list[tuple[str, Any, str, dict | None, str | None]]:
    H = "epoch,lr-AdamW,step,train_loss_step,val_loss\n"
    merged = "".join(f",{a!r},{s},,\n0,,{s},{b!r},\n" for s, a, b in zip(STEPS.tolist(), LR.tolist(),
                                                                         LOSS.tolist()))
    return [
        ("good", H + merged, "ok", ok_facts(), None),
        ("good_test_rows_at_end", H.rstrip("\n") + ",test_loss\n" + merged.replace("\n", ",\n")
         + "0,,700,,,2.6\n", "ok", ok_facts(), None),
        ("good_two_lr_columns", "epoch,lr-AdamW,lr-AdamW/pg2,step,train_loss_step\n" + "".join(
            f"0,{a!r},{a!r},{s},{b!r}\n" for s, a, b in zip(STEPS.tolist(), LR.tolist(), LOSS.tolist())), "ok",
         ok_facts(), None),
        ("conflicting_loss", H + merged + f"0,,{STEPS[-1]},2.0,\n", "error", None, None),
        ("no_loss_columns", "epoch,lr-AdamW,step\n0,0.001,0\n0,0.001,10\n", "error", None, ":1"),
        ("ragged", H + merged[:60] + "0,1,2,3,4,5,6\n" + merged[60:], "error", None, None),
    ]


def _wandb_cases() -> list[tuple[str, Any, str, dict | None, str | None]]:
    chart_h = '"Step","a - train/loss","a - train/loss__MIN","a - train/loss__MAX","a - lr","b - train/loss","b - lr"\n'
    chart = "".join(f"{s},{b!r},{b!r},{b!r},{a!r},{b + 0.1!r},{a!r}\n"
                    for s, a, b in zip(STEPS.tolist(), LR.tolist(), LOSS.tolist()))
    hist = "_step,_runtime,train/loss,learning_rate,eval/loss\n" + "".join(
        f"{s},{s / 10},{b!r},{a!r},\n" for s, a, b in zip(STEPS.tolist(), LR.tolist(), LOSS.tolist()))
    return [
        ("chart_good", chart_h + chart, "ok", None, None),
        ("chart_no_lr", '"Step","a - train/loss"\n' + "".join(f"{s},{b!r}\n" for s, b in zip(STEPS.tolist(),
                                                                                              LOSS.tolist())),
         "error", None, ":1"),
        ("chart_only_bands", '"Step","a - loss__MIN","a - loss__MAX"\n0,1,2\n', "error", None, ":1"),
        ("chart_one_run_empty", chart_h + "".join(f"{s},{b!r},{b!r},{b!r},{a!r},,\n" for s, a, b in zip(
            STEPS.tolist(), LR.tolist(), LOSS.tolist())), "error", None, None),
        ("history_good", hist, "ok", ok_facts(), None),
        ("history_text_in_loss", hist.replace(f",{float(LOSS[7])!r},", ",oops,"), "error", None, ":9"),
    ]


def _jsonl_cases() -> list[tuple[str, Any, str, dict | None, str | None]]:
    recs = [json.dumps({"step": int(s), "lr": float(a), "loss": float(b)}) + "\n"
            for s, a, b in zip(STEPS, LR, LOSS)]
    return [
        ("good", "".join(recs), "ok", ok_facts(), None),
        ("good_nested_and_eval_lines", "".join(json.dumps({"step": int(s), "train": {"loss": float(b)},
                                                           "lr": float(a)}) + "\n"
                                               for s, a, b in zip(STEPS, LR, LOSS))
         + json.dumps({"step": 590, "eval": {"loss": 2.7}}) + "\n", "ok", ok_facts(), None),
        ("good_blank_lines", "\n".join(recs), "ok", ok_facts(), None),
        ("good_last_line_cut", "".join(recs) + '{"step": 600, "lr": 0.0', "ok", ok_facts(), None),
        ("good_named_json", "".join(recs), "ok", ok_facts(), None),
        ("bad_line", "".join(recs[:5]) + "{not json}\n" + "".join(recs[5:]), "error", None, ":6"),
        ("array_line", "".join(recs[:5]) + "[1, 2]\n" + "".join(recs[5:]), "error", None, ":6"),
        ("empty", "\n\n", "error", None, None),
        ("nan_loss", "".join(recs[:5]) + '{"step": 50, "lr": 0.001, "loss": NaN}\n' + "".join(recs[6:]), "error",
         None, ":6"),
    ]


def _tensorboard(path: Path, kind: str) -> None:
    """Event files of one run: scalars, plus what ``kind`` adds or breaks."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    path.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        (path / "events.out.tfevents.1.host").write_bytes(b"\x00garbage" * 50)
        return
    if kind == "empty_file":
        (path / "events.out.tfevents.1.host").write_bytes(b"")
        return
    w = EventFileWriter(str(path))

    def scalar(tag: str, step: int, value: float) -> None:
        w.add_event(event_pb2.Event(wall_time=1.0, step=step, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])))

    if kind in ("text", "histogram", "good"):
        text = summary_pb2.Summary.Value(
            tag="args/text_summary", metadata=summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")),
            tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b'{"warmup_steps": 10}']))
        w.add_event(event_pb2.Event(wall_time=1.0, step=0, summary=summary_pb2.Summary(value=[text])))
    if kind == "histogram":
        histo = summary_pb2.HistogramProto(min=0, max=1, num=2, sum=1, sum_squares=1, bucket_limit=[1],
                                           bucket=[2])
        w.add_event(event_pb2.Event(wall_time=1.0, step=5, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="weights", histo=histo)])))
    steps = STEPS.tolist()
    for s, a, b in zip(steps, LR.tolist(), LOSS.tolist()):
        if kind == "huge_step" and s == steps[-1]:
            s = 10 ** 12
        if kind == "negative_step" and s == 0:
            s = -5
        scalar("train/lr", s, a)
        scalar("train/loss", s, float("nan") if kind == "nan_loss" and s == 300 else b)
    if kind == "no_scalars":
        pass
    w.close()


_TB_OK = ok_facts(last_loss=float(np.float32(LOSS[-1])))  # event files hold float32
TB_CASES = [("good", "ok", _TB_OK), ("text", "ok", _TB_OK), ("histogram", "ok", _TB_OK),
            ("corrupt", "error", None), ("empty_file", "error", None), ("nan_loss", "error", None),
            ("negative_step", "error", None), ("huge_step", "error", None)]


def make_all(out: Path) -> list[Case]:
    """Write every case under ``out``; return them."""
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    groups: list[tuple[str, str, Callable[[], list]]] = [
        ("csv", ".csv", _csv_cases), ("hf", ".json", _hf_cases), ("lightning", ".csv", _lightning_cases),
        ("wandb", ".csv", _wandb_cases), ("jsonl", ".jsonl", _jsonl_cases)]
    for fmt, suffix, make in groups:
        for name, content, expect, facts, where in make():
            d = out / f"{fmt}_{name}"
            d.mkdir(exist_ok=True)
            fname = {"hf": "trainer_state.json", "lightning": "metrics.csv"}.get(fmt, f"{name}{suffix}")
            if name == "good_named_json":
                fname = "metrics.json"
            p = d / fname
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_bytes(content.encode("utf-8"))
            cases.append(Case(f"{fmt}_{name}", fmt, str(p), expect, facts or {}, where))
    try:
        import tensorboard  # noqa: F401
    except ImportError:  # pragma: no cover - the test extra installs it
        return cases
    for kind, expect, facts in TB_CASES:
        d = out / f"tensorboard_{kind}"
        _tensorboard(d / "run", kind)
        cases.append(Case(f"tensorboard_{kind}", "tensorboard", str(d), expect, facts or {}, None))
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "adversarial_runs")
    made = make_all(target)
    (target / "cases.json").write_text(json.dumps([asdict(c) for c in made], indent=1, default=float) + "\n")
    counts = {k: sum(c.expect == k for c in made) for k in ("ok", "read", "error")}
    print(f"wrote {len(made)} cases to {target}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
