"""Read training logs into :class:`~scalefit.runs.Run` objects, whatever wrote them.

Formats (detected from the content and the name; ``fmt=`` overrides):

========================  =====================================================================================
``csv``                   scalefit's run file (``step,lr,loss`` + ``# key: value`` metadata; :mod:`.csv`)
``wandb-history``         W&B history export (``_step`` + metric columns); read like ``csv`` with aliases
``wandb-chart``           W&B chart export (``Step`` + ``<run> - <metric>``): one Run per W&B run (:mod:`.wandb`)
``lightning``             Lightning ``metrics.csv``: rows merged by step (:mod:`.lightning`)
``hf``                    Hugging Face ``trainer_state.json`` (:mod:`.hf`)
``jsonl``                 JSON lines: one object of metrics per line (:mod:`.jsonl`)
``tensorboard``           a directory of ``events.out.tfevents.*`` files (extra ``[tensorboard]``; :mod:`.tensorboard`)
``text``                  a trainer's printed log: nanoGPT, llm.c, modded-nanogpt, torchtitan, Megatron-LM, fairseq
                          lines (:mod:`.textlog`)
========================  =====================================================================================

A directory is read as TensorBoard when it holds event files (each sub-directory holding them is one run);
otherwise every ``*.csv``, ``*.jsonl`` and ``trainer_state.json`` directly in it is read, in name order. A file is
read once, from its start, so pipes and FIFOs work (``scalefit inspect <(cat run.csv)``).

How the parts fit: :mod:`.source` reads the bytes, :mod:`.text` parses CSV text (streaming, line numbers kept),
the format adapters make a :class:`~.table.Table`, :mod:`.multirun` splits files that hold several runs, and
:mod:`.contract` checks each table (every problem collected, then one :class:`~scalefit.errors.RunFileError`
naming the first precisely) and builds the run, with :mod:`.lr` (the per-step LR and where it starts),
:mod:`.resume` (rows sharing a step), :mod:`.meta` and :mod:`.caveats` (what the laws assume that a log breaks).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from scalefit.errors import RunFileError
from scalefit.runs import Run
from scalefit.wording import listed

FORMATS = ("csv", "wandb-history", "wandb-chart", "lightning", "hf", "jsonl", "tensorboard", "text")

PathLike = str | os.PathLike[str]


def detect_format(path: PathLike, source: Any = None) -> str:
    """The format of ``path`` (one of :data:`FORMATS`, or ``dir``), from its name and first bytes (``source``:
    its :class:`~scalefit.readers.source.Source` when already open; a pipe can be read only once)."""
    from scalefit.readers import hf, jsonl, lightning, tensorboard, textlog, wandb
    from scalefit.readers.source import Source, head_text
    from scalefit.readers.text import sniff_header

    p = Path(path)
    if p.is_dir():
        return "tensorboard" if tensorboard.event_dirs(p) else "dir"
    if p.name.startswith("events.out.tfevents"):
        return "tensorboard"
    text = head_text((source or Source(p)).head())
    if hf.looks_like(text):
        return "hf"
    if jsonl.looks_like(p.name, text):
        return "jsonl"
    if p.suffix.lower() == ".json":
        return "hf"
    if textlog.looks_like(text):
        return "text"
    sniffed = sniff_header(text)
    if sniffed is None:
        return "csv"  # the csv reader reports an empty file or a missing header
    header = sniffed[0]
    if wandb.is_chart_export(header):
        return "wandb-chart"
    if "_step" in header:
        return "wandb-history"
    if lightning.looks_like(str(path), header):
        return "lightning"
    return "csv"


def expand(paths: Iterable[PathLike]) -> list[str]:
    """Files and event directories named by ``paths`` (a plain directory gives its CSV and JSON logs)."""
    from scalefit.readers import tensorboard

    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not tensorboard.event_dirs(p):
            found = sorted([*p.glob("*.csv"), *p.glob("*.jsonl"), *p.glob("trainer_state.json")])
            if not found:
                raise RunFileError("this directory holds no *.csv, *.jsonl, trainer_state.json or TensorBoard event "
                                   "files.", path=str(raw))
            out.extend(str(f) for f in found)
        else:
            out.append(str(raw))
    return out


def read_runs(
    paths: PathLike | Iterable[PathLike],
    *,
    target: str = "loss",
    warmup: int | None = None,
    schedule_file: PathLike | Sequence[PathLike | None] | None = None,
    fmt: str = "auto",
    resumed: bool = False,
    runs: Sequence[str] | str | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    schedule: str | None = None,
) -> list[Run]:
    """Read training logs into runs, validating each file fully before building its run.

    Parameters
    ----------
    paths
        Files or directories (see the module docstring). One path may give several runs (a W&B chart export, a
        TensorBoard log directory with several runs, a CSV with a ``run`` column, restarts appended to one file).
    target
        The loss column to fit (``loss``, ``val_loss`` or any column name). Aliases apply to ``loss`` and
        ``val_loss`` (``train/loss``, ``eval_loss``, ...); an exact name wins over one that differs in case.
    warmup
        Number of linear-warmup steps (0: no warmup). Sets :attr:`Run.warmup`; when the first logged LR comes after
        step 0, the steps before it are filled with the warmup ``peak * min(s + 1, W) / W`` up to the first logged
        LR (W = 0: the first logged LR). Without it, the warmup comes from the metadata (``warmup_steps``, HF's
        arguments) or the LR: a rising logged LR implies a linear warmup from 0 (see :mod:`scalefit.readers.lr`).
        A value that contradicts the LR or the metadata gets a note naming both.
    schedule_file
        A per-step ``step,lr`` CSV (steps 0..T-1) giving the LR of every step; it must cover the last step and
        agree with a logged lr column within 1e-6 (relative). A list gives one per path, in order.
    schedule
        A schedule spec giving the LR of every step instead (``"cosine:peak=6e-4,warmup=2000"``,
        ``"constant:peak=0.0018"``; see :func:`scalefit.schedules.parse_spec`), for logs that print no LR; its
        ``total`` defaults to each run's last step + 1. Checked like a schedule file.
    fmt
        ``"auto"`` (detect) or one of :data:`FORMATS`.
    resumed
        The log may hold a resumed run appended after its earlier segment(s), or shards saved out of order: each
        step keeps its row from the latest segment that logged it (formats with one metric per row: each step and
        column its last value), the rows go in step order, and a warning names the lines left out. Off by
        default: a step that goes back is then an error, because it may also be two runs logged into one file.
    runs
        Names of the runs to keep from files that hold several (:attr:`Run.name`; files holding one run are kept
        whole); a name that no file holds is an error listing the runs there are.
    min_step, max_step
        The fit window (inclusive steps; :attr:`Run.window`): rows outside it are not fitted, while the LR history
        stays whole. Without either, a run whose first loss is far above its final level and that logs no warmup
        gets a default window that leaves out the initial transient (a note says so; ``min_step=0`` fits it).

    Returns
    -------
    list of Run
        In the order of ``paths``.

    Raises
    ------
    RunFileError
        The first problem of the first bad file, naming file, line, column, value, rule and fix.
    """
    from scalefit.readers.contract import ReadOptions

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if schedule_file is None or isinstance(schedule_file, (str, os.PathLike)):
        scheds: list[PathLike | None] = [schedule_file] * len(paths)
    else:
        scheds = list(schedule_file)
        if len(scheds) != len(paths):
            raise RunFileError(f"{len(scheds)} schedule files for {len(paths)} paths: give one for all or one per "
                               "path.", column="schedule_file")
    if fmt != "auto" and fmt not in FORMATS:
        raise RunFileError(f"unknown format '{fmt}'. Use one of: auto, {', '.join(FORMATS)}.", column="fmt",
                           value=fmt)
    for name, v in (("--min-step", min_step), ("--max-step", max_step)):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 0):
            raise RunFileError(f"{name} is {v}; it must be a step >= 0. Example: {name} 200.", column=name, value=v)
    if min_step is not None and max_step is not None and min_step > max_step:
        raise RunFileError(f"--min-step {min_step} is after --max-step {max_step}; the fit window would be empty.",
                           column="--min-step", value=min_step)
    if schedule is not None:
        _check_spec(schedule, schedule_file)
    wanted = (runs,) if isinstance(runs, str) else tuple(runs or ())
    opts = ReadOptions(target=target, warmup=warmup, resumed=resumed, min_step=min_step, max_step=max_step,
                       runs=wanted, schedule=schedule)
    out: list[Run] = []
    for given, sched in zip(paths, scheds):
        each = opts if sched is None else replace(opts, schedule_file=str(sched))
        for path in expand([given]):
            out.extend(_read_one(path, each, fmt))
    unknown = [n for n in wanted if n not in opts.seen and n not in {r.name for r in out}]
    if unknown or (wanted and not out):
        names = sorted(opts.seen)
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise RunFileError(f"--run {(unknown or list(wanted))[0]}: no run of that name in the files given (their "
                           f"runs: {shown or 'none'}). Pass --run with one of those names.", column="run",
                           value=(unknown or list(wanted))[0])
    return out


def read_run(
    path: PathLike,
    *,
    target: str = "loss",
    warmup: int | None = None,
    schedule_file: PathLike | None = None,
    fmt: str = "auto",
    resumed: bool = False,
    runs: Sequence[str] | str | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    schedule: str | None = None,
) -> Run:
    """Read one run (see :func:`read_runs`); a file holding several runs is an error naming them."""
    found = read_runs([path], target=target, warmup=warmup, schedule_file=schedule_file, fmt=fmt, resumed=resumed,
                      runs=runs, min_step=min_step, max_step=max_step, schedule=schedule)
    if len(found) != 1:
        names = listed((r.name for r in found), 5)
        raise RunFileError(f"holds {len(found)} runs ({names}); read_run reads "
                           "one. Use read_runs, or pick one with runs=NAME.", path=str(path))
    return found[0]


def _check_spec(spec: Any, schedule_file: Any) -> None:
    """A --schedule spec parses and names its peak, and comes without a --schedule-file (one source of the LR)."""
    from scalefit.errors import ScheduleSpecError
    from scalefit.schedules import SCHEDULES, parse_spec

    if schedule_file is not None and (isinstance(schedule_file, (str, os.PathLike)) or any(
            f is not None for f in schedule_file)):
        raise ScheduleSpecError("pass either --schedule or --schedule-file, not both: each gives the LR of every step.",
                                column="schedule", value=spec)
    try:
        parsed = parse_spec(spec)
    except ScheduleSpecError as exc:
        raise ScheduleSpecError(f"--schedule: {exc.message}", column="schedule", value=spec) from None
    if "peak" in SCHEDULES[parsed.name].required and "peak" not in parsed.params:
        raise ScheduleSpecError(f"--schedule {spec} gives no peak LR: add peak=..., e.g. --schedule "
                                f"{parsed.name}:peak=6e-4{',' + spec.partition(':')[2] if ':' in spec else ''}.",
                                column="peak", value=spec)


def _read_one(path: str, opts: Any, fmt: str) -> list[Run]:
    from scalefit.readers import csv as csv_reader
    from scalefit.readers import hf, jsonl, lightning, tensorboard, textlog, wandb
    from scalefit.readers.source import Source

    p = Path(path)
    if fmt == "tensorboard" or (fmt == "auto" and (p.is_dir() or p.name.startswith("events.out.tfevents"))):
        if not p.exists():
            raise RunFileError("not found. Check the path.", path=path)
        return tensorboard.read(p, opts)
    src = Source(p)  # a pipe is read once, here; a file in blocks as the parser asks
    kind = detect_format(p, src) if fmt == "auto" else fmt
    if kind == "hf":
        return hf.read(src, opts)
    if kind == "jsonl":
        return jsonl.read(src, opts)
    if kind == "wandb-chart":
        return wandb.read_chart(src, opts)
    if kind == "lightning":
        return lightning.read(src, opts)
    if kind == "text":
        return textlog.read(src, opts)
    return csv_reader.read(src, opts, fmt=kind)


__all__ = ["FORMATS", "detect_format", "expand", "read_run", "read_runs"]
