"""Schedules: hand-checked values, properties (hypothesis), the spec parser and its error corpus, CSV I/O."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalefit import schedules as S
from scalefit.errors import ScheduleSpecError

PROPS = settings(derandomize=True, max_examples=50, deadline=None)


# ---------------------------------------------------------------------------------------------------------
# hand-checked values on tiny arrays
# ---------------------------------------------------------------------------------------------------------
C4 = (1 + math.cos(math.pi / 4)) / 2  # 0.8536: cosine factor at progress 1/4
C34 = (1 - math.cos(math.pi / 4)) / 2  # 0.1464: cosine factor at progress 3/4


def test_constant_values() -> None:
    assert S.constant(2.0, 6, warmup=4).tolist() == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert S.constant(2.0, 3).tolist() == [2.0, 2.0, 2.0]


def test_cosine_values() -> None:
    np.testing.assert_allclose(S.cosine(1.0, 5), [1.0, C4, 0.5, C34, 0.0], rtol=0, atol=1e-15)
    # warmup 3: ramp 1/3, 2/3, 1 then p = (s - 2) / 7, final 0.1 exactly at the end
    lr = S.cosine(1.0, 10, warmup=3, final=0.1)
    expect = [1 / 3, 2 / 3, 1.0] + [0.1 + 0.9 * (1 + math.cos(math.pi * k / 7)) / 2 for k in range(1, 8)]
    np.testing.assert_allclose(lr, expect, rtol=1e-15)
    assert lr[2] == 1.0 and lr[-1] == 0.1


def test_linear_values() -> None:
    np.testing.assert_allclose(
        S.linear(1.0, 10, warmup=2), [0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0], atol=1e-15
    )
    np.testing.assert_allclose(S.linear(2.0, 3, final=1.0), [2.0, 1.5, 1.0])


@pytest.mark.parametrize(
    ("shape", "cooldown"),
    [
        ("linear", [0.75, 0.5, 0.25, 0.0]),
        ("cosine", [C4, 0.5, C34, 0.0]),
        ("1-sqrt", [0.5, 1 - math.sqrt(0.5), 1 - math.sqrt(0.75), 0.0]),
        ("exp", [0.01**0.25, 0.1, 0.01**0.75, 0.01]),  # default final = peak / 100
    ],
)
def test_wsd_values_each_shape(shape: str, cooldown: list[float]) -> None:
    lr = S.wsd(1.0, 10, warmup=2, decay=0.4, shape=shape)
    np.testing.assert_allclose(lr, [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, *cooldown], rtol=1e-14, atol=1e-15)
    assert lr[-1] == (0.01 if shape == "exp" else 0.0)


def test_wsd_decay_one_equals_linear_and_final_floor() -> None:
    np.testing.assert_array_equal(S.wsd(1.0, 10, decay=1.0), S.linear(1.0, 10))
    np.testing.assert_allclose(S.wsd(1.0, 4, decay=0.5, final=0.5), [1.0, 1.0, 0.75, 0.5])


def test_multistep_values() -> None:
    lr = S.multistep(1.0, 10, warmup=2)
    np.testing.assert_allclose(lr, [0.5] + [1.0] * 7 + [0.316, 0.316**2])
    assert S.multistep(1.0, 4, milestones=[0.5], factor=0.1).tolist() == [1.0, 1.0, 0.1, 0.1]


def test_cyclic_values() -> None:
    np.testing.assert_allclose(S.cyclic(1.0, 6, cycles=2), [1.0, 0.5, 0.0, 1.0, 0.5, 0.0], atol=1e-15)
    # warmup 2 per cycle; the second cycle re-warms from final (0.1); cycles of 6 steps, p = (k - 1) / 4
    lr = S.cyclic(1.0, 12, warmup=2, cycles=2, final=0.1)
    decay = [1.0, 0.1 + 0.9 * C4, 0.55, 0.1 + 0.9 * C34, 0.1]
    np.testing.assert_allclose(lr, [0.5, *decay, 0.55, *decay], rtol=1e-14)


def test_inverse_sqrt_values() -> None:
    lr = S.inverse_sqrt(1.0, 8, warmup=4)
    np.testing.assert_allclose(lr, [0.25, 0.5, 0.75, 1.0] + [math.sqrt(4 / (s + 1)) for s in range(4, 8)])
    np.testing.assert_allclose(S.inverse_sqrt(1.0, 3), [1.0, math.sqrt(0.5), math.sqrt(1 / 3)])
    np.testing.assert_allclose(S.inverse_sqrt(1.0, 3, timescale=2.0), [1.0, math.sqrt(2 / 3), math.sqrt(0.5)])


def test_single_step_and_types() -> None:
    for lr in (S.constant(1e-3, 1), S.cosine(1e-3, 1), S.linear(1e-3, 1), S.wsd(1e-3, 1, decay=1.0)):
        assert lr.dtype == np.float64 and lr.shape == (1,)
    assert S.cosine(1e-3, 1).tolist() == [1e-3]


# ---------------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------------
peaks = st.floats(1e-6, 10.0)
frac = st.floats(0.0, 1.0)


@st.composite
def any_schedule(draw: st.DrawFn) -> tuple[str, dict, np.ndarray]:
    """(family, kwargs, lr) for a valid random schedule of any family."""
    family = draw(st.sampled_from(["constant", "cosine", "linear", "wsd", "multistep", "cyclic", "inverse_sqrt"]))
    peak = draw(peaks)
    total = draw(st.integers(2, 400))
    warmup = draw(st.integers(0, total - 1))
    kw: dict = {"peak": peak, "total": total, "warmup": warmup}
    if family in ("cosine", "linear", "cyclic"):
        kw["final"] = peak * draw(frac)
    if family == "wsd":
        kw["shape"] = draw(st.sampled_from(S.WSD_SHAPES))
        kw["decay"] = draw(st.integers(1, total - warmup)) / total
        kw["final"] = peak * draw(st.floats(1e-4, 1.0) if kw["shape"] == "exp" else frac)
    if family == "multistep":
        if warmup >= total - 1:
            kw["warmup"] = warmup = total - 2 if total > 2 else 0
        lo = max(warmup, 1)
        steps = draw(st.lists(st.integers(lo, total - 1), min_size=1, max_size=3, unique=True))
        kw["milestones"] = tuple(s / total for s in sorted(steps))
        kw["factor"] = draw(st.floats(0.01, 1.0))
    if family == "cyclic":
        kw["cycles"] = cycles = draw(st.integers(1, 5))
        kw["total"] = total = max(total, cycles * (warmup + 2))
    if family == "inverse_sqrt" and draw(st.booleans()):
        kw["timescale"] = draw(st.floats(0.5, 1000.0))
    return family, kw, getattr(S, family)(**kw)


@PROPS
@given(any_schedule())
def test_every_schedule_is_finite_nonneg_with_length_total(case: tuple[str, dict, np.ndarray]) -> None:
    _, kw, lr = case
    assert lr.shape == (kw["total"],) and lr.dtype == np.float64
    assert np.all(np.isfinite(lr)) and np.all(lr >= 0)
    assert lr.max() <= kw["peak"]


@PROPS
@given(any_schedule())
def test_warmup_ends_at_peak_and_is_detected(case: tuple[str, dict, np.ndarray]) -> None:
    _, kw, lr = case
    w = kw["warmup"]
    if w > 0:
        assert lr[w - 1] == kw["peak"]
        np.testing.assert_allclose(lr[:w], kw["peak"] * np.arange(1, w + 1) / w, rtol=1e-15)
    # warmup=1 is indistinguishable from no warmup: lr[0] is already the peak
    assert S.detect_warmup(lr) == (w if w >= 2 else 0)


@PROPS
@given(peaks, st.integers(2, 400), st.data())
def test_wsd_constant_until_decay_start(peak: float, total: int, data: st.DataObject) -> None:
    warmup = data.draw(st.integers(0, total - 1))
    n_cool = data.draw(st.integers(1, total - warmup))
    shape = data.draw(st.sampled_from(S.WSD_SHAPES))
    lr = S.wsd(peak, total, warmup=warmup, decay=n_cool / total, shape=shape)
    start = total - n_cool
    assert np.all(lr[warmup:start] == peak)
    cool = lr[max(start, 1):]
    assert np.all(cool < peak) and np.all(np.diff(lr[max(start - 1, warmup):]) <= 0)


@PROPS
@given(st.sampled_from([S.cosine, S.linear]), peaks, st.integers(2, 400), frac, st.data())
def test_cosine_linear_monotone_after_warmup(fn, peak: float, total: int, f: float, data) -> None:  # noqa: ANN001
    warmup = data.draw(st.integers(0, total - 1))
    lr = fn(peak, total, warmup=warmup, final=peak * f)
    post = lr[max(warmup - 1, 0):]
    assert post[0] == peak and post[-1] == peak * f
    assert np.all(np.diff(post) <= 0)


@PROPS
@given(st.floats(0.05, 1.0), st.integers(2, 300), st.integers(2, 50))
def test_detect_warmup_on_mpl_reference_ramp(peak: float, after: int, warm: int) -> None:
    """The MPL reference schedules ramp as peak*s/(W-1); the peak step counts as warmup, so this gives W."""
    s = np.arange(warm)
    lr = np.concatenate([peak * s / (warm - 1), S.cosine(peak, after + 1)[1:]])
    assert S.detect_warmup(lr) == warm


# ---------------------------------------------------------------------------------------------------------
# shapes and describe
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "label"),
    [
        (lambda: S.constant(1e-3, 500, warmup=50), "constant"),
        (lambda: S.cosine(1e-3, 500, warmup=50, final=1e-4), "cosine"),
        (lambda: S.cosine(1e-3, 500), "cosine"),
        (lambda: S.linear(1e-3, 500, warmup=50), "linear"),
        (lambda: S.wsd(1e-3, 500, warmup=50, decay=0.2, shape="1-sqrt"), "wsd"),
        (lambda: S.wsd(1e-3, 500, warmup=50, decay=0.1, shape="exp"), "wsd"),
        (lambda: S.multistep(1e-3, 500, warmup=50), "step"),
        (lambda: S.cyclic(1e-3, 600, warmup=20, cycles=3), "cyclic"),
        (lambda: S.inverse_sqrt(1e-3, 2000, warmup=100), "inverse-sqrt"),
        # long schedules: per-step changes are tiny, the labels must not depend on T
        (lambda: S.cosine(1e-3, 1_000_000, warmup=1000), "cosine"),
        (lambda: S.linear(1e-3, 1_000_000, warmup=1000, final=1e-5), "linear"),
        (lambda: S.wsd(1e-3, 1_000_000, warmup=1000, decay=0.1, shape="cosine"), "wsd"),
        (lambda: S.cyclic(1e-3, 1_000_000, warmup=5000, cycles=4, final=1e-4), "cyclic"),
        (lambda: S.multistep(1e-3, 1_000_000, warmup=1000), "step"),
        (lambda: S.inverse_sqrt(1e-3, 1_000_000, warmup=1000), "inverse-sqrt"),
        (lambda: S.constant(1e-3, 1_000_000, warmup=1000), "constant"),
        (lambda: np.abs(np.sin(np.arange(300) / 7.0)) * 1e-3 * np.linspace(1, 0.2, 300), "cyclic"),
        (lambda: 1e-3 * np.exp(-np.linspace(0, 1, 300) ** 0.3 * 3), "unknown"),
        (lambda: np.array([]), "unknown"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_guess_shape(make: Callable[[], np.ndarray], label: str) -> None:
    assert S.guess_shape(make()) == label  # arrays built lazily: some have 1e6 steps


def test_describe() -> None:
    d = S.describe(S.wsd(3e-4, 1000, warmup=100, decay=0.2, final=3e-5))
    assert {k: v for k, v in d.items() if k != "sum"} == {
        "total": 1000, "warmup": 100, "peak": 3e-4, "final": 3e-5, "shape": "wsd"}
    assert d["sum"] == pytest.approx(3e-4 * (50.5 + 700) + 200 * (3e-4 + 3e-5) / 2 - (3e-4 - 3e-5) / 2, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------
# the spec parser
# ---------------------------------------------------------------------------------------------------------
#: a valid text and its parsed value for every key of every schedule (a new key must be added here)
KEY_VALUES: dict[str, tuple[str, object]] = {
    "peak": ("2e-3", 2e-3),
    "total": ("2.4e3", 2400),
    "warmup": ("240", 240),
    "final": ("1e-5", 1e-5),
    "decay": ("0.25", 0.25),
    "shape": ("1-SQRT", "1-sqrt"),
    "milestones": ("0.5/0.75", (0.5, 0.75)),
    "factor": ("0.5", 0.5),
    "cycles": ("3", 3),
    "timescale": ("100", 100.0),
    "path": ("lr.csv", "lr.csv"),
}
ALL_KEYS = sorted({(name, key) for name, kind in S.SCHEDULES.items() for key in kind.keys})


def test_key_table_covers_every_key() -> None:
    assert {key for _, key in ALL_KEYS} == set(KEY_VALUES)


@pytest.mark.parametrize(("name", "key"), ALL_KEYS, ids=[f"{n}.{k}" for n, k in ALL_KEYS])
def test_every_key_parses(name: str, key: str) -> None:
    text, value = KEY_VALUES[key]
    spec = S.parse_spec(f"{name}:{key}={text}")
    assert spec.name == name and spec.params == {key: value} and spec.text == f"{name}:{key}={text}"
    assert key in S.SCHEDULES[name].keys_help()


@pytest.mark.parametrize(("name", "kind"), list(S.SCHEDULES.items()))
def test_every_example_builds_and_uses_every_key(name: str, kind: S.ScheduleKind, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    S.to_csv("lr.csv", S.cosine(1e-3, 50))
    assert S.parse_spec(kind.example).name == name
    lr = S.from_spec(kind.example)
    assert lr.ndim == 1 and lr.size > 0
    # a spec that gives every key builds, and the keys change the result
    full = {k: KEY_VALUES[k][0] for k in kind.keys}
    if name == "inverse_sqrt":
        full["timescale"] = "100"
    spec = f"{name}:" + ",".join(f"{k}={v}" for k, v in full.items())
    lr = S.from_spec(spec)
    if name != "file":
        assert lr.size == 2400 and lr.max() == 2e-3 and S.detect_warmup(lr) == 240


def test_spec_values_match_direct_calls() -> None:
    cases = {
        "wsd:peak=3e-4,total=24000,warmup=2160,decay=0.2,shape=1-sqrt": S.wsd(3e-4, 24000, 2160, 0.2, "1-sqrt"),
        "cosine:peak=1e-3,total=2000,final=1e-4": S.cosine(1e-3, 2000, final=1e-4),
        "multistep:peak=1e-3,total=1000,milestones=0.8/0.9,factor=0.316": S.multistep(1e-3, 1000),
        "cyclic:peak=1e-3,total=300,cycles=3,final=1e-5": S.cyclic(1e-3, 300, cycles=3, final=1e-5),
        "inverse-sqrt:peak=1e-3,total=100,warmup=10": S.inverse_sqrt(1e-3, 100, 10),
        " Constant : peak = 1e-3 , total = 10 ": S.constant(1e-3, 10),
    }
    for spec, expect in cases.items():
        np.testing.assert_array_equal(S.from_spec(spec), expect)


def test_caller_defaults_and_spec_wins() -> None:
    np.testing.assert_array_equal(S.from_spec("linear", peak=1.0, total=5), S.linear(1.0, 5))
    np.testing.assert_array_equal(S.from_spec("wsd:total=10", peak=2.0, total=99, warmup=3), S.wsd(2.0, 10, 3))
    with pytest.raises(ScheduleSpecError, match="missing total") as err:
        S.from_spec("cosine:peak=1e-3")
    assert err.value.column == "total"


def test_canonical_round_trip() -> None:
    spec = S.parse_spec("multistep:peak=1e-3,total=1000,milestones=0.8/0.9,factor=0.316")
    again = S.parse_spec(spec.canonical())
    assert again.params == spec.params and again.name == spec.name
    np.testing.assert_array_equal(spec.build(), S.from_spec(spec.canonical()))


@pytest.mark.parametrize("name", list(S.SCHEDULES))
def test_canonical_round_trip_every_key(name: str) -> None:
    params = {k: KEY_VALUES[k][1] for k in S.SCHEDULES[name].keys}
    spec = S.ScheduleSpec(name, params)
    assert spec.text == spec.canonical() and S.parse_spec(spec.text).params == params


NAMES = "constant, cosine, linear, wsd, multistep, cyclic, inverse_sqrt, file"
WSD_KEYS = ["peak (", "total (", "warmup (", "decay (", "shape (", "final ("]

BAD_SPECS: list[tuple[str, list[str]]] = [
    ("", ["empty schedule spec", NAMES]),
    ("   ", ["empty schedule spec", NAMES]),
    ("foo:peak=1", ["unknown schedule 'foo'", NAMES]),
    ("__import__('os')", ["unknown schedule", NAMES]),
    ("__import__('os').system('ls'):peak=1", ["unknown schedule", NAMES]),
    ("constant:peak=__import__('os'),total=10", ["peak=", "is not a number"]),
    ("wsd:peak=1e-3,total=100,bogus=3", ["unknown key 'bogus'", *WSD_KEYS]),
    ("wsd:peak=1e-3,total=100,decay", ["'decay' ", "is not key=value", *WSD_KEYS]),
    ("wsd:peak=1e-3,,total=100", ["is not key=value"]),
    ("wsd:peak=1e-3,total=100,peak=2e-3", ["given twice"]),
    ("wsd:peak=1e-3,total=100,decay=", ["decay= has no value"]),
    ("wsd:peak=abc,total=100", ["peak='abc' is not a number"]),
    ("wsd:peak=nan,total=100", ["must be finite"]),
    ("wsd:peak=inf,total=100", ["must be finite"]),
    ("wsd:peak=-1e-3,total=100", ["peak=-0.001 must be > 0"]),
    ("wsd:peak=0,total=100", ["must be > 0"]),
    ("wsd:peak=1e-3,total=100.5", ["total='100.5' must be a whole number"]),
    ("wsd:peak=1e-3,total=0", ["total=0 must be >= 1"]),
    ("wsd:peak=1e-3,total=100,warmup=-1", ["warmup=-1 must be >= 0"]),
    ("wsd:peak=1e-3,total=100,warmup=100", ["warmup=100 must be < total=100"]),
    ("cosine:peak=1e-3,total=100,warmup=150", ["must be < total=100"]),
    ("wsd:peak=1e-3,total=100,decay=0", ["decay=0.0 must be in (0, 1]"]),
    ("wsd:peak=1e-3,total=100,decay=1.5", ["decay=1.5 must be in (0, 1]"]),
    ("wsd:peak=1e-3,total=100,decay=-0.2", ["must be in (0, 1]"]),
    ("wsd:peak=1e-3,total=100,warmup=50,decay=0.6", ["60-step cooldown", "Use decay <= 0.5"]),
    ("wsd:peak=1e-3,total=100,shape=square", ["shape='square' is not one of linear, cosine, 1-sqrt, exp"]),
    ("wsd:peak=1e-3,total=100,shape=exp,final=0", ["must be > 0 for shape=exp"]),
    ("cosine:peak=1e-3,total=100,final=2e-3", ["final=0.002 must be in [0, peak=0.001]"]),
    ("linear:peak=1e-3,total=100,final=-1", ["must be in [0, peak"]),
    ("multistep:peak=1e-3,total=100,milestones=0.9/0.8", ["increasing fractions"]),
    ("multistep:peak=1e-3,total=100,milestones=1.5", ["in (0, 1)"]),
    ("multistep:peak=1e-3,total=100,milestones=0.8/x", ["milestones='x' is not a number"]),
    ("multistep:peak=1e-3,total=10,milestones=0.80/0.81", ["must be distinct"]),
    ("multistep:peak=1e-3,total=100,warmup=90,milestones=0.8", ["after the warmup"]),
    ("multistep:peak=1e-3,total=100,factor=2", ["factor=2.0 must be in (0, 1]"]),
    ("cyclic:peak=1e-3,total=10,cycles=0", ["cycles=0 must be >= 1"]),
    ("cyclic:peak=1e-3,total=10,warmup=4,cycles=3", ["gives cycles of 3 steps"]),
    ("inverse_sqrt:peak=1e-3,total=10,timescale=0", ["timescale=0.0 must be > 0"]),
    ("cosine:total=100", ["missing peak", "peak (", "total (", "final ("]),
    ("file:", ["missing path"]),
    ("file:path=does/not/exist.csv", ["does/not/exist.csv", "not found"]),
    ("file:path=x.csv,peak=1", ["unknown key 'peak'", "path ("]),
]


@pytest.mark.parametrize(("spec", "needles"), BAD_SPECS, ids=[s or "<empty>" for s, _ in BAD_SPECS])
def test_bad_specs_raise_helpful_errors(spec: str, needles: list[str]) -> None:
    with pytest.raises(ScheduleSpecError) as err:
        S.from_spec(spec)
    text = str(err.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"


def test_parse_spec_rejects_non_string() -> None:
    with pytest.raises(ScheduleSpecError, match="must be a string"):
        S.parse_spec(3)  # type: ignore[arg-type]


def test_spec_error_fields() -> None:
    with pytest.raises(ScheduleSpecError) as err:
        S.from_spec("wsd:peak=1e-3,total=100,decay=1.5")
    assert err.value.column == "decay" and err.value.value == 1.5


# ---------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------
def test_csv_round_trip_exact(tmp_path: Path) -> None:
    lr = S.wsd(3e-4, 1000, warmup=100, decay=0.3, shape="cosine", final=3e-5)
    path = S.to_csv(tmp_path / "sub" / "lr.csv", lr)
    text = path.read_text()
    assert text.startswith("step,lr\n0,") and text.endswith("\n999,3e-05\n")  # shortest exact repr
    np.testing.assert_array_equal(S.from_file(path), lr)
    np.testing.assert_array_equal(S.from_spec(f"file:path={path}"), lr)


def test_from_file_accepts_comments_extra_columns_any_order(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("# schedule: test\nLoss,LR,Step\n\n3.1,0.5,0\n3.0,1.0,1\n# note\n2.9,0.25,2\n")
    assert S.from_file(path).tolist() == [0.5, 1.0, 0.25]


@pytest.mark.parametrize(
    ("content", "line", "needles"),
    [
        ("", 1, ["is empty"]),
        ("# only a comment\n", 1, ["is empty"]),
        ("step,lr\n", 1, ["no rows"]),
        ("step,loss\n0,3.0\n", 1, ["missing column 'lr'", "found: step, loss"]),
        ("lr\n0.1\n", 1, ["missing column 'step'"]),
        ("step,lr\n0,0.1\n1,abc\n", 3, ["column 'lr' is 'abc', not a number"]),
        ("step,lr\n0,0.1\n1,\n", 3, ["column 'lr' is empty"]),
        ("step,lr\n0,0.1\n1\n", 3, ["row has 1 cells"]),
        ("step,lr\n0,0.1\n2,0.1\n", 3, ["column 'step' is 2 but 1 was expected", "0, 1, ..., T-1"]),
        ("step,lr\n1,0.1\n2,0.1\n", 2, ["column 'step' is 1 but 0 was expected"]),
        ("step,lr\n0,0.1\n0.5,0.1\n", 3, ["column 'step' is 0.5"]),
        ("step,lr\n# c\n0,0.1\n1,-0.1\n", 4, ["column 'lr' is -0.1", "finite and >= 0"]),
        ("step,lr\n0,0.1\n1,nan\n", 3, ["column 'lr' is nan"]),
        ("step,lr\n0,inf\n", 2, ["column 'lr' is inf"]),
    ],
)
def test_from_file_errors_name_file_and_line(tmp_path: Path, content: str, line: int, needles: list[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ScheduleSpecError) as err:
        S.from_file(path)
    text = str(err.value)
    assert err.value.path == str(path) and err.value.line == line
    assert text.startswith(f"{path}:{line}: ")
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"


def test_from_file_missing_and_binary(tmp_path: Path) -> None:
    with pytest.raises(ScheduleSpecError, match="not found"):
        S.from_file(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScheduleSpecError, match="cannot read schedule file"):
        S.from_file(tmp_path / "bin.csv")


def test_to_csv_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ScheduleSpecError, match=r"lr\[1\] is -1.0"):
        S.to_csv(tmp_path / "x.csv", [0.1, -1.0])
    with pytest.raises(ScheduleSpecError, match="1-D"):
        S.to_csv(tmp_path / "x.csv", np.ones((2, 2)))
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------------------------------------------------
# published schedules (certified values)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.reference
def test_mpl_reference_schedules(reference_dir: Path) -> None:
    """MPL's cosine starts its decay one step later (p = (s-W)/(T-W)); ours equals it shifted by one step."""
    folder = reference_dir / "curves" / "mpl" / "schedules"
    ref = S.from_file(folder / "cosine_24000.csv")
    assert S.detect_warmup(ref) == 2160 and S.guess_shape(ref) == "cosine"
    ours = S.cosine(3e-4, 24000, warmup=2160, final=3e-5)
    np.testing.assert_allclose(ours[2159:23999], ref[2160:], rtol=0, atol=1e-13)  # file has 10 digits
    assert S.describe(S.from_file(folder / "constant_24000.csv"))["shape"] == "constant"
    assert S.guess_shape(S.from_file(folder / "wsdld_20000_24000.csv")) == "wsd"
    assert S.guess_shape(S.from_file(folder / "wsdcon_9.csv")) == "step"


def test_plot_schedule_labels_and_warmup_band() -> None:
    from scalefit import plots

    plt = plots._pyplot()
    fig, ax = plt.subplots()
    try:
        out = plots.plot_schedule(S.cosine(1e-3, 200, warmup=20), ax=ax, label="cosine")
        assert out is ax
        assert ax.get_xlabel() == "optimizer step" and "learning rate" in ax.get_ylabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["cosine", "warmup (20 steps)"]
        ax2 = plots.plot_schedule(S.constant(1e-3, 10))
        assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["schedule"]
        plt.close(ax2.figure)
    finally:
        plt.close(fig)


def test_docstring_examples() -> None:
    import doctest

    from scalefit.schedules import constructors, detect, files, spec

    modules = (constructors, detect, files, spec)
    results = [doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE) for m in modules]
    assert sum(r.attempted for r in results) >= 9 and sum(r.failed for r in results) == 0
