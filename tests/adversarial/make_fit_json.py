"""An adversarial corpus of damaged result JSON (issue 14.8): fit results (``scalefit fit --out``), and the
hyperparameter- and scaling-law results ``scalefit plan`` reads (``hparams --out``, ``scaling --out``). Each file is
a real result of the bundled runs with one kind of damage, and says what scalefit must do with it.

Every case ends in one of two ways: ``ok`` (exit 0 and, as ``same`` says, every number ("all") or every predicted
final loss ("loss") exactly as from the intact file) or ``error`` (exit 2 and one line naming the file and, when
``where`` is given, the key: ``(key 'params.alpha.value')``).

Classes (fit): the JSON text (truncations, encodings, BOM, nesting, huge numbers and files, duplicate keys, other
documents), the schema, NaN / Infinity / true / null in every numeric field (one element stands for each list and
each run), wrong types, values outside their bounds or meaningless together, the law and its options, another law's
parameters, the covariance (shape, symmetry, positive semidefiniteness, scale), missing keys, extra keys.

The intact fits keep every 40th point of their curves (a fit keeps up to 2,000 per run, for plots; predictions do
not use them), so that the corpus stays small.

Usage: ``python tests/adversarial/make_fit_json.py OUT_DIR`` fits the bundled runs, writes the files and
``cases.json``; the test builds them in a temporary folder once per session (:func:`make_all`).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
RUNS = [REPO / "data" / "runs" / "curves" / f"tiny_{s}_lr0.003_bs16.csv"
        for s in ("cosine", "constant", "wsd-decay0.2")]
GRID = sorted((REPO / "data" / "runs" / "grid").glob("*/*.csv"))
SIZES = sorted((REPO / "data" / "runs" / "curves").glob("*_cosine_*.csv")) + \
    sorted((REPO / "data" / "runs" / "scaling").glob("*/*.csv"))
#: The largest file the readers accept (scalefit.results.validate.MAX_BYTES); the huge-file case is a sparse file
#: just over it (no disk used).
MAX_BYTES = 256 * 2**20


@dataclass
class Case:
    name: str
    kind: str  # "fit", "hparams" or "scaling"
    path: str
    expect: str  # "ok" or "error"
    where: tuple[str, ...] = ()  # error: the key the line names, in fragments (see key_of); () for no key
    text: str = ""  # error: other text the line must hold
    same: str | None = None  # ok: "all" or "loss" (see the module docstring)
    base: str = "mpl"  # the intact result it was made from: mpl, tissue, hparams or scaling
    parse: bool = False  # refused while parsing the JSON (needs no check of the values)


# ---------------------------------------------------------------------------------------------------------------
# the intact results
# ---------------------------------------------------------------------------------------------------------------
def base_results(out: Path) -> dict[str, Path]:
    """Fit the bundled runs through the CLI: MPL (with its law error), Tissue (without), the hyperparameter laws of
    the LR x batch grid and the two scaling laws of the sizes (Chinchilla's and the over-training law)."""
    from typer.testing import CliRunner

    from scalefit.cli import app

    paths = {k: out / f"base_{k}.json" for k in ("mpl", "tissue", "hparams", "scaling", "overtrain")}
    jobs = {
        "mpl": ["fit", *RUNS, "--law", "mpl", "--out", paths["mpl"]],
        "tissue": ["fit", *RUNS, "--law", "tissue", "--no-law-error", "--out", paths["tissue"]],
        "hparams": ["hparams", *GRID, "--bootstrap", "20", "--out", paths["hparams"]],
        "scaling": ["scaling", *SIZES, "--law", "chinchilla", "--bootstrap", "10", "--out", paths["scaling"]],
        "overtrain": ["scaling", *SIZES, "--law", "overtrain", "--bootstrap", "10", "--out", paths["overtrain"]],
    }
    runner = CliRunner()
    for name, args in jobs.items():
        r = runner.invoke(app, [str(a) for a in args])
        if r.exit_code != 0:
            raise RuntimeError(f"the intact {name} result could not be made: {r.output[-2000:]}")
    for name in ("mpl", "tissue"):  # keep every 40th point of each curve (and the last): a small corpus
        fit = json.loads(paths[name].read_text(encoding="utf-8"))
        for curve in fit["curves"]:
            keep = sorted(set(range(0, len(curve["steps"]), 40)) | {len(curve["steps"]) - 1})
            for key in ("steps", "loss", "fitted"):
                curve[key] = [curve[key][i] for i in keep]
        paths[name].write_text(json.dumps(fit, indent=2), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------------------------------------------
# writing a damaged copy
# ---------------------------------------------------------------------------------------------------------------
class Raw:
    """JSON text put in place of a value (NaN, a 5,000-digit integer, ...)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dump(obj: Any) -> str:
    """``obj`` as JSON text, with each :class:`Raw` written as its text."""
    raws: list[str] = []

    def swap(o: Any) -> Any:
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(o, dict):
            return {k: swap(v) for k, v in o.items()}
        if isinstance(o, list):
            return [swap(v) for v in o]
        return o

    text = json.dumps(swap(obj), indent=2)
    return re.sub(r'"@@RAW(\d+)@@"', lambda m: raws[int(m.group(1))], text)


def get(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def put(obj: Any, path: tuple, value: Any) -> Any:
    """A deep copy of ``obj`` with the value at ``path`` replaced (``DELETE`` removes the key)."""
    out = copy.deepcopy(obj)
    parent = get(out, path[:-1])
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


DELETE = object()
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def key_of(path: tuple) -> tuple[str, ...]:
    """The fragments of the key an error names for ``path`` (a name that is not an identifier is shown quoted,
    and may be cut short: only the text around it is required)."""
    frags, cur = [], ""
    for p in path:
        if isinstance(p, int):
            cur += f"[{p}]"
        elif IDENT.match(p):
            cur += f".{p}" if cur else p
        else:
            frags.append(cur + "[")
            cur = "]"
    frags.append(cur)
    return tuple(f for f in frags if f)


def numeric_leaves(obj: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every number of a result (and the strings scalefit writes for non-finite ones), one element standing for
    each list and the first run for the per-run objects (metrics, curves)."""
    if isinstance(obj, dict):
        items = list(obj.items())
        if path and path[-1] == "metrics":
            items = items[:1]
        for k, v in items:
            yield from numeric_leaves(v, path + (k,))
    elif isinstance(obj, list):
        if obj:
            i = min(1, len(obj) - 1)
            yield from numeric_leaves(obj[i], path + (i,))
    elif (isinstance(obj, (int, float)) and not isinstance(obj, bool)) or obj in ("inf", "-inf", "nan"):
        yield path, obj


# ---------------------------------------------------------------------------------------------------------------
# the fit corpus
# ---------------------------------------------------------------------------------------------------------------
#: Numeric fields the reader does not use (mean_metrics is recomputed; a note's data is kept as is).
IGNORED = (("mean_metrics",), ("notes",))
#: Numeric fields where null is allowed, with the result: "ok" (harmless), or the key the error then names.
NULL = {("params", "*", "stderr"): "covariance", ("metrics", "*", "r2"): "ok", ("metrics", "*", "mae"): "ok",
        ("metrics", "*", "rmse"): "ok", ("metrics", "*", "pred_e"): "ok", ("metrics", "*", "worst_e"): "ok",
        ("metrics", "*", "final_true"): "ok", ("metrics", "*", "final_pred"): "ok", ("n_evals",): "ok",
        ("residual_rho",): "ok", ("variance_factor",): "ok", ("context", "irreducible_loss"): "ok",
        ("options", "max_points"): "ok"}


def _null_rule(path: tuple) -> Any:
    for pattern, rule in NULL.items():
        if len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path)):
            return rule
    return None


def _ignored(path: tuple) -> bool:
    return any(path[: len(p)] == p for p in IGNORED)


def fit_cases(base: dict[str, Any], tissue: dict[str, Any]) -> Iterator[tuple[str, str | bytes, dict[str, Any]]]:
    """(name, file content, Case fields) for every damaged fit."""
    text = dump(base)
    run0 = next(iter(base["metrics"]))
    ok_all = dict(expect="ok", same="all")

    def err(*where: str, **kw: Any) -> dict[str, Any]:
        return dict(expect="error", where=tuple(where), **kw)

    # ---- the JSON text ----
    yield "intact", text, ok_all
    yield "truncated_half", text[: len(text) // 2], err(parse=True)
    yield "truncated_last_brace", text.rstrip()[:-1], err(parse=True)
    cut = text.index('"value": ') + len('"value": ') + 3
    yield "truncated_inside_a_number", text[:cut], err(parse=True)
    yield "empty", "", err(parse=True)
    yield "only_whitespace", "\n \n", err(parse=True)
    yield "utf8_bom", "\ufeff" + text, ok_all
    yield "utf16", text.encode("utf-16"), err(parse=True)
    yield "latin1_byte", text.replace('"mpl"', '"mpl\u00e9"', 1).encode("latin-1"), err(parse=True)
    yield "nul_bytes_appended", text + "\x00" * 16, err(parse=True)
    yield "two_documents", text + text, err(parse=True)
    yield "top_level_list", f"[{text}]", err(parse=True)
    yield "top_level_string", '"scalefit.fit/1"', err(parse=True)
    yield "nested_100000_deep", "[" * 100_000 + "]" * 100_000, err(parse=True)
    yield "nested_40_deep_in_extra_key", dump({**base, "extra": Raw("[" * 40 + "]" * 40)}), \
        err(text="(key 'extra[0][0][0]", parse=True)
    yield "nested_600_deep_in_notes", dump(put(base, ("notes", 0, "data"), Raw('{"a":' * 600 + "1" + "}" * 600))), \
        err(text="(key 'notes[0].data.a.a.a", parse=True)
    yield "integer_5000_digits", dump(put(base, ("n_points",), Raw("9" * 5000))), err("n_points", parse=True)
    yield "integer_5000_digits_in_extra_key", dump({**base, "pad": Raw("-" + "7" * 5000)}), err("pad", parse=True)
    yield "exponent_overflow", dump(put(base, ("params", "alpha", "value"), Raw("1e999"))), \
        err("params.alpha.value", parse=True)
    yield "long_decimal", dump(put(base, ("params", "alpha", "value"), Raw(repr(get(base, ("params", "alpha", "value")))
                                                                          + "0" * 5000))), ok_all
    yield "duplicate_key", text.replace('"law": "mpl",', '"law": "mpl",\n  "law": "tissue",', 1), \
        err("law", parse=True)
    yield "huge_file_whitespace_8MB", text[:-1] + " " * (8 * 2**20) + "}", ok_all
    yield "huge_file_over_the_limit", b"", err(text="bytes; scalefit reads results of at most", parse=True,
                                                  sparse=MAX_BYTES + 1)
    n = 200_000
    yield "huge_curve_200k_points", dump(put(base, ("curves", 0), {
        "path": "x.csv", "steps": list(range(n)), "loss": [4.5] * n, "fitted": [4.5] * n})), ok_all
    yield "huge_message_2MB", dump(put(base, ("messages", 0), "x" * (2 * 2**20))), err("messages[0]")

    # ---- the schema ----
    for name, value in (("other_family", "scalefit.hparams/1"), ("version_2", "scalefit.fit/2"),
                        ("version_text", "scalefit.fit/one"), ("number", 1), ("null", None)):
        yield f"schema_{name}", dump(put(base, ("schema",), value)), err(text="schema", parse=True)
    yield "schema_missing", dump(put(base, ("schema",), DELETE)), err(text="schema is missing", parse=True)

    # ---- NaN, Infinity, true and null in every numeric field ----
    for path, _ in numeric_leaves(base):
        key = key_of(path)
        label = "_".join(str(p) if not isinstance(p, str) or IDENT.match(p) else "run" for p in path)
        yield f"nan_{label}", dump(put(base, path, float("nan"))), err(*key, parse=True)
        yield f"infinity_{label}", dump(put(base, path, float("-inf" if "lower" in path else "inf"))), \
            err(*key, parse=True)
        yield f"true_{label}", dump(put(base, path, True)), (ok_all if _ignored(path) else err(*key))
        rule = _null_rule(path)
        if rule == "covariance":  # a null stderr reads as NaN: then it disagrees with the covariance's diagonal
            i = base["param_order"].index(path[1])
            rule = (f"covariance[{i}][{i}]",)
        yield f"null_{label}", dump(put(base, path, None)), (
            ok_all if _ignored(path) or rule == "ok" else err(*(rule or key)))

    # ---- wrong types ----
    for path, value in ((("params",), []), (("params", "alpha"), 0.5), (("params", "alpha", "value"), "0.49"),
                        (("params", "alpha", "linear"), 0), (("params", "alpha", "fixed"), "false"),
                        (("param_order",), "L0,A,B"), (("param_order", 0), 1), (("covariance",), {"L0": 1.0}),
                        (("covariance", 0), 1.0), (("metrics",), []), (("metrics", run0), 4.2),
                        (("context",), [1, 2]), (("context", "total_steps"), 3000), (("curves",), {}),
                        (("curves", 0, "steps"), "0-3000"), (("messages",), "fit"), (("messages", 0), 7),
                        (("law_error",), []), (("law_error", "folds"), {}), (("notes",), {}),
                        (("notes", 0, "kind"), 5), (("options",), "defaults"), (("options", "law_error"), 1),
                        (("prior",), [1.0, 0.01]), (("status",), 0), (("objective",), 0.07), (("seed",), "0"),
                        (("seed",), 1.5), (("data_hash",), 12), (("law_options",), []), (("law",), 3),
                        (("context", "target"), 5), (("context", "target_unit"), ["nats"])):
        yield f"type_{'_'.join(map(str, path)).replace(run0, 'run')}_{type(value).__name__}", \
            dump(put(base, path, value)), err(*key_of(path))
    yield "type_n_points_integral_float", dump(put(base, ("n_points",), float(base["n_points"]))), ok_all

    # ---- values outside their bounds, or meaningless together ----
    for path, value, where in (
            (("params", "alpha", "value"), -1.5, None), (("params", "alpha", "value"), 2.5, None),
            (("params", "C", "value"), 1e-9, None), (("params", "L0", "value"), -1.0, None),
            (("params", "L0", "value"), 1e308, None), (("params", "A", "value"), 1e308, ("params",)),
            (("params", "B", "value"), 1e300, ("params",)), (("params", "alpha", "stderr"), -0.1, None),
            (("params", "alpha", "lower"), 3.0, ("params.alpha",)), (("params", "alpha", "upper"), "-inf", None),
            (("params", "alpha", "lower"), "inf", None), (("params", "alpha", "at_bound"), 2, None),
            (("params", "alpha", "linear"), True, None), (("covariance", 0, 0), -1e-4, None),
            (("context", "max_step"), -1, None), (("context", "max_step"), 10**12, None),
            (("context", "max_step"), 10**6, None), (("context", "lr_max"), 0.0, None),
            (("context", "lr_max"), -0.003, None), (("context", "lr_min"), 1.0, None),
            (("context", "warmup"), 3000, None), (("context", "total_steps", 0), 10**15, None),
            (("context", "total_steps", 0), 0, None), (("context", "max_s1"), 1e300, None),
            (("context", "n_params", 0), -5.0, None), (("context", "irreducible_loss"), 0.0, None),
            (("n_points",), 0, None), (("n_starts",), -3, None), (("fit_seconds",), -1.0, None),
            (("residual_rho",), 1.5, None), (("variance_factor",), 0.0, None), (("law_error", "scale"), -1.0, None),
            (("law_error", "folds"), [], ("law_error",)), (("law_error", "folds", 0, "horizon"), 0.0, None),
            (("law_error", "model"), "relative sd = 1", ("law_error",)), (("status",), "FINE", None),
            (("errors",), "student", None), (("options", "loss"), "l1", None), (("options", "delta"), 0.0, None),
            (("options", "bounds"), {"alpha": [0.5, 1.0]}, ("params.alpha",)),
            (("options", "bounds"), {"alpha": [1.0, 0.5]}, ("options.bounds.alpha",)),
            (("options", "fixed"), {"alpha": 0.3}, ("params.alpha",)), (("prior", "C"), [-1.0, 0.01], ("prior.C[0]",)),
            (("prior", "zeta"), [1.0, 0.01], None), (("metrics", run0, "n"), -1, None),
            (("metrics", run0, "final_true"), -4.4, None), (("curves", 0, "loss", 3), -1.0, None),
            (("notes", 0, "warning"), "NotAWarning", ("notes[0]",)),
            (("notes", 0, "warning"), "__class__", ("notes[0]",)),
            (("metrics",), {}, None)):
        label = "_".join(map(str, path)).replace(run0, "run")
        yield f"bad_{label}_{re.sub(r'[^A-Za-z0-9.+-]', '', str(value))[:12]}", dump(put(base, path, value)), \
            err(*(where or key_of(path)))
    cov = base["covariance"]
    scaled = [[x * 1e300 for x in row] for row in cov]
    yield "covariance_scaled_1e300", dump(put(base, ("covariance",), scaled)), err("covariance[0][0]")
    yield "covariance_6x7", dump(put(base, ("covariance",), cov[:-1])), err("covariance")
    yield "covariance_7x6", dump(put(base, ("covariance",), [row[:-1] for row in cov])), err("covariance[0]")
    yield "covariance_1x1", dump(put(base, ("covariance",), [[cov[0][0]]])), err("covariance")
    asym = copy.deepcopy(cov)
    asym[1][2] += 10 * (cov[1][1] * cov[2][2]) ** 0.5
    yield "covariance_not_symmetric", dump(put(base, ("covariance",), asym)), err("covariance[1][2]")
    beyond = copy.deepcopy(cov)
    beyond[0][1] = beyond[1][0] = 2 * (cov[0][0] * cov[1][1]) ** 0.5
    yield "covariance_correlation_2", dump(put(base, ("covariance",), beyond)), err("covariance")
    neg = copy.deepcopy(cov)  # correlations 0.9, 0.9, -0.9 among L0, A, B: each in [-1, 1], the matrix not PSD
    for i, j, r in ((0, 1, 0.9), (0, 2, 0.9), (1, 2, -0.9)):
        neg[i][j] = neg[j][i] = r * (cov[i][i] * cov[j][j]) ** 0.5
    yield "covariance_not_psd", dump(put(base, ("covariance",), neg)), err("covariance")
    yield "covariance_null", dump(put(base, ("covariance",), None)), dict(expect="ok", same="loss")

    # ---- the law and its options; another law's parameters ----
    yield "law_unknown", dump(put(base, ("law",), "chinchilla")), err("law")
    yield "law_with_escape_codes", dump(put(base, ("law",), "\x1b[31mmpl[/red]")), err("law")
    yield "law_lone_surrogate", dump(put(base, ("law",), "mpl\ud800")), err("law", text="'mpl\\ud800'")
    yield "nan_under_a_key_with_a_newline", dump({**base, "a\nb": float("nan")}), err(text="(key '['a\\nb']')")
    yield "law_tissue_mpl_parameters", dump(put(base, ("law",), "tissue")), err("param_order")
    yield "law_options_unknown", dump(put(base, ("law_options",), {"variants": "paper"})), err("law_options.variants")
    yield "law_options_bad_value", dump(put(base, ("law_options",), {"variant": "bogus"})), \
        err("law_options", text="unknown MPL variant")
    yield "law_options_wrong_type", dump(put(base, ("law_options",), {"near": "64"})), err("law_options.near")
    yield "law_options_negative", dump(put(base, ("law_options",), {"near": -1})), err("law_options")
    yield "params_of_tissue", dump({**base, "params": tissue["params"]}), err("params.lam")
    yield "param_order_of_tissue", dump({**base, "param_order": tissue["param_order"]}), err("param_order")
    yield "param_order_reversed", dump(put(base, ("param_order",), base["param_order"][::-1])), err("param_order")
    yield "param_missing", dump(put(base, ("params", "beta"), DELETE)), err("params.beta")
    yield "param_extra", dump(put(base, ("params", "zeta"), base["params"]["beta"])), err("params.zeta")
    yield "tissue_as_tissue_n", dump(put(tissue, ("law",), "tissue-n")), err("param_order", base="tissue")
    lam = put(tissue, ("params", "lam", "value"), 5.0)
    yield "tissue_fixed_lam_5", dump(lam), err("params.lam.value", base="tissue")
    yield "tissue_intact", dump(tissue), dict(expect="ok", same="all", base="tissue")
    yield "tissue_fit_lam_option", dump(put(tissue, ("law_options",), {"fit_lam": "yes"})), \
        err("law_options.fit_lam", base="tissue")

    # ---- missing keys ----
    for key in ("law", "status", "params", "param_order", "metrics", "objective", "objective_value", "n_points",
                "n_starts", "seed", "data_hash", "scalefit_version", "fit_seconds", "context", "covariance",
                "law_error"):
        yield f"missing_{key}", dump(put(base, (key,), DELETE)), err(key)
    for path in (("context", "lr_max"), ("params", "alpha", "stderr"), ("metrics", run0, "final_pred"),
                 ("law_error", "folds"), ("options", "seed"), ("curves", 0, "fitted")):
        yield f"missing_{'_'.join(map(str, path)).replace(run0, 'run')}", dump(put(base, path, DELETE)), \
            err(*key_of(path))
    for path in (("curves",), ("messages",), ("mean_metrics",), ("n_evals",), ("law_options",), ("errors",),
                 ("residual_rho",), ("variance_factor",), ("notes",), ("options",), ("prior",),
                 ("context", "irreducible_loss")):  # these change the report only
        yield f"missing_{'_'.join(path)}_harmless", dump(put(base, path, DELETE)), ok_all
    old = {k: v for k, v in base.items() if k not in ("errors", "residual_rho", "variance_factor", "law_error",
                                                       "notes", "options", "prior")}
    old["context"] = {k: v for k, v in base["context"].items() if k != "irreducible_loss"}
    yield "as_written_before_the_newer_keys", dump(old), dict(expect="ok", same="loss")

    # ---- extra keys ----
    for path in (("extra",), ("params", "alpha", "note"), ("context", "gpu"), ("metrics", run0, "bleu"),
                 ("law_error", "comment"), ("options", "future_option"), ("notes", 0, "tag"), ("curves", 0, "color")):
        yield f"extra_{'_'.join(map(str, path)).replace(run0, 'run')}", dump(put(base, path, {"any": [1, "x"]})), \
            ok_all


# ---------------------------------------------------------------------------------------------------------------
# hyperparameter- and scaling-law results
# ---------------------------------------------------------------------------------------------------------------
def hparams_cases(base: dict[str, Any]) -> Iterator[tuple[str, str | bytes, dict[str, Any]]]:
    text = dump(base)

    def err(*where: str, parse: bool = False, text: str = "") -> dict[str, Any]:
        return dict(expect="error", where=tuple(where), parse=parse, base="hparams", text=text)

    ok = dict(expect="ok", same="all", base="hparams")
    yield "hp_intact", text, ok
    yield "hp_truncated", text[: len(text) // 3], err(parse=True, text="not valid JSON")
    yield "hp_utf8_bom", "\ufeff" + text, ok
    yield "hp_nan_coef", dump(put(base, ("lr", "coef"), float("nan"))), err("lr.coef", parse=True)
    yield "hp_infinity_exponent", dump(put(base, ("lr", "exponents", "N"), float("inf"))), \
        err("lr.exponents.N", parse=True)
    yield "hp_integer_5000_digits", dump(put(base, ("n_runs",), Raw("1" * 5000))), err("n_runs", parse=True)
    yield "hp_nested_100000_deep", "{" + '"a":[' * 50_000 + "]" * 50_000 + "}", err(parse=True)
    yield "hp_schema_fit", dump(put(base, ("schema",), "scalefit.fit/1")), err(text="schema is", parse=True)
    yield "hp_extra_key", dump({**base, "extra": [1, 2]}), ok
    yield "hp_coef_negative", dump(put(base, ("lr", "coef"), -0.01)), err("lr.coef")
    yield "hp_coef_true", dump(put(base, ("lr", "coef"), True)), err("lr.coef")
    yield "hp_exponent_missing", dump(put(base, ("lr", "exponents", "D"), DELETE)), err("lr.exponents.D")
    yield "hp_exponent_extra", dump(put(base, ("lr", "exponents", "C"), 0.1)), err("lr.exponents.C")
    yield "hp_exponent_1e300", dump(put(base, ("batch_size", "exponents", "D"), 1e300)), err("batch_size")
    yield "hp_lr_coef_1e30", dump(put(base, ("lr", "coef"), 1e30)), err("lr")
    yield "hp_range_zero", dump(put(base, ("range", "params"), [0, 98624.0])), err("range.params[0]")
    yield "hp_range_missing_tokens", dump(put(base, ("range", "tokens"), DELETE)), err("range.tokens")
    yield "hp_form_unknown", dump(put(base, ("form",), "kaplan")), err("form")
    yield "hp_tol_null", dump(put(base, ("tol",), None)), err("tol")
    yield "hp_runs_used_above_runs", dump(put(base, ("n_runs_used",), 99)), err("n_runs_used")
    yield "hp_bootstrap_row_short", dump(put(base, ("lr", "bootstrap", 0), [0.1])), err("lr.bootstrap[0]")
    yield "hp_bootstrap_row_null", dump(put(base, ("lr", "bootstrap", 0, 1), None)), err("lr.bootstrap[0][1]")
    yield "hp_cell_value_true", dump(put(base, ("cells", 0, "best_lr"), True)), err("cells[0].best_lr")
    yield "hp_lr_missing", dump(put(base, ("lr",), DELETE)), err("lr")


def scaling_cases(base: dict[str, Any]) -> Iterator[tuple[str, str | bytes, dict[str, Any]]]:
    text = dump(base)

    def err(*where: str, parse: bool = False, text: str = "") -> dict[str, Any]:
        return dict(expect="error", where=tuple(where), parse=parse, base="scaling", text=text)

    ok = dict(expect="ok", same="all", base="scaling")
    yield "sc_intact", text, ok
    yield "sc_truncated", text[:-5], err(parse=True)
    yield "sc_utf8_bom", "\ufeff" + text, ok
    yield "sc_nan_E", dump(put(base, ("E",), float("nan"))), err("E", parse=True)
    yield "sc_infinity_alpha", dump(put(base, ("alpha",), float("inf"))), err("alpha", parse=True)
    yield "sc_nan_bootstrap", dump(put(base, ("bootstrap", 2, 3), float("nan"))), err("bootstrap[2][3]", parse=True)
    yield "sc_integer_5000_digits", dump(put(base, ("n_points",), Raw("9" * 5000))), err("n_points", parse=True)
    yield "sc_nested_100000_deep", "[" * 100_000, err(parse=True)
    yield "sc_schema_other", dump(put(base, ("schema",), "scalefit.hparams/1")), err(text="schema is", parse=True)
    yield "sc_extra_key", dump({**base, "extra": {"a": 1}}), ok
    yield "sc_alpha_negative", dump(put(base, ("alpha",), -0.5)), err("alpha")
    yield "sc_E_null", dump(put(base, ("E",), None)), err("E")
    yield "sc_A_true", dump(put(base, ("A",), True)), err("A")
    yield "sc_A_1e308", dump(put(base, ("A",), 1e308)), dict(expect="error", text="A = 1e+308", base="scaling")
    yield "sc_stderr_text", dump(put(base, ("stderr", "E"), "x")), err("stderr.E")
    yield "sc_bootstrap_row_short", dump(put(base, ("bootstrap", 0), [1.0, 2.0])), err("bootstrap[0]")
    yield "sc_bootstrap_order_reversed", dump(put(base, ("bootstrap_order",), base["bootstrap_order"][::-1])), \
        err("bootstrap_order")
    yield "sc_range_reversed", dump(put(base, ("range", "params"), base["range"]["params"][::-1])), \
        err("range.params")
    yield "sc_law_unknown", dump(put(base, ("law",), "kaplan")), err("law")
    yield "sc_E_missing", dump(put(base, ("E",), DELETE)), err("E")


def overtrain_cases(base: dict[str, Any]) -> Iterator[tuple[str, str | bytes, dict[str, Any]]]:
    """The default scaling law (Gadre et al.'s over-training law): its own parameters and bounds."""
    def err(*where: str, text: str = "") -> dict[str, Any]:
        return dict(expect="error", where=tuple(where), base="overtrain", text=text)

    yield "ot_intact", dump(base), dict(expect="ok", same="all", base="overtrain")
    yield "ot_eta_negative", dump(put(base, ("eta",), -0.1)), err("eta")
    yield "ot_eta_above_bound", dump(put(base, ("eta",), 2.0)), err("eta")
    yield "ot_a_1e308", dump(put(base, ("a",), 1e308)), err(text="a = 1e+308")
    yield "ot_named_chinchilla", dump(put(base, ("law",), "chinchilla")), err("A")
    yield "ot_stderr_text", dump(put(base, ("stderr", "eta"), "0.1")), err("stderr.eta")


# ---------------------------------------------------------------------------------------------------------------
def make_all(out: Path, bases: dict[str, Path] | None = None) -> list[Case]:
    """Write every case under ``out`` (the intact results too, made here unless ``bases`` gives them)."""
    out.mkdir(parents=True, exist_ok=True)
    bases = bases or base_results(out)
    loaded = {k: json.loads(Path(p).read_text(encoding="utf-8")) for k, p in bases.items()}
    made: list[Case] = []
    groups: list[tuple[str, Callable[[], Iterator]]] = [
        ("fit", lambda: fit_cases(loaded["mpl"], loaded["tissue"])),
        ("hparams", lambda: hparams_cases(loaded["hparams"])),
        ("scaling", lambda: scaling_cases(loaded["scaling"])),
        ("scaling", lambda: overtrain_cases(loaded["overtrain"])),
    ]
    for kind, cases in groups:
        for name, content, spec in cases():
            spec = dict(spec)
            sparse = spec.pop("sparse", None)
            path = out / kind / f"{name}.json"
            path.parent.mkdir(exist_ok=True)
            if sparse:
                with open(path, "wb") as fh:
                    fh.truncate(sparse)
            else:
                path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
            made.append(Case(name=name, kind=kind, path=str(path), **spec))
    names = [c.name for c in made]
    assert len(names) == len(set(names)), "case names must be unique"
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "adversarial_fit_json")
    cases = make_all(target)
    (target / "cases.json").write_text(json.dumps([asdict(c) for c in cases], indent=1), encoding="utf-8")
    counts = {k: sum(c.kind == k for c in cases) for k in ("fit", "hparams", "scaling")}
    print(f"wrote {len(cases)} cases under {target}: {counts}")
