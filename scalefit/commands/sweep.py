"""``scalefit sweep``: a grid of ``scalefit train`` runs (models x LRs x batch sizes x schedules), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalefit.commands._common import console, escape, user_command


def _split(text: str, sep: str, kind: type, flag: str) -> list:
    from scalefit.errors import ScalefitError

    out = []
    for item in (p.strip() for p in text.split(sep)):
        if not item:
            continue
        try:
            out.append(kind(item))
        except ValueError:
            raise ScalefitError(f"{flag}: {item!r} is not a {kind.__name__}. Example: {flag} 1e-3{sep}3e-3") from None
    return out


@user_command
def sweep(
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", help="Folder for the run files (one per grid point) and sweep.json. "
                          "Example: --out-dir runs/grid")],
    models: Annotated[str, typer.Option(help="Comma-separated presets. Example: --models tiny,s1")] = "tiny",
    lrs: Annotated[str, typer.Option(help="Comma-separated peak LRs. Example: --lrs 1e-3,3e-3,1e-2")] = "3e-3",
    batch_sizes: Annotated[str, typer.Option(
        help="Comma-separated batch sizes (sequences). Example: --batch-sizes 8,16")] = "16",
    schedules: Annotated[str, typer.Option(
        help="Semicolon-separated schedule specs (specs contain commas). "
             "Example: --schedules \"cosine;wsd:decay=0.2\"")] = "cosine",
    steps: Annotated[int, typer.Option(help="Optimizer steps per run. Example: --steps 500")] = 200,
    warmup: Annotated[Optional[int], typer.Option(help="Warmup steps for every run. Example: --warmup 50")] = None,
    data: Annotated[str, typer.Option(
        help="synthetic[:...], shakespeare or a text file. Example: --data shakespeare")] = "synthetic",
    seq_len: Annotated[int, typer.Option(help="Tokens per sequence. Example: --seq-len 128")] = 128,
    eval_every: Annotated[int, typer.Option(help="Validation loss every N steps. Example: --eval-every 50")] = 50,
    eval_batches: Annotated[int, typer.Option(
        help="Fixed validation batches per evaluation. Example: --eval-batches 16")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of every run. Example: --seed 0")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps. Example: --device cpu")] = "auto",
    threads: Annotated[Optional[int], typer.Option(
        help="torch CPU threads per run (default: cores // jobs). Example: --threads 1")] = None,
    jobs: Annotated[int, typer.Option(help="Runs at the same time. Example: --jobs 2")] = 1,
    executor: Annotated[str, typer.Option(
        help="local (process pool) or slurm (submitit, pip install 'scalefit-lm\\[slurm]'). "
             "Example: --executor slurm")] = "local",
    slurm_partition: Annotated[Optional[str], typer.Option(
        help="Slurm partition. Example: --slurm-partition gpu")] = None,
    slurm_time: Annotated[int, typer.Option(help="Slurm time limit per run, minutes. Example: --slurm-time 120")] = 60,
    slurm_gpus: Annotated[int, typer.Option(help="GPUs per Slurm job. Example: --slurm-gpus 1")] = 0,
) -> None:
    """Train every combination of models, peak LRs, batch sizes and schedules; one run file each.

    Re-running the same command finishes what is missing: complete runs are skipped, partial ones resume from
    their checkpoints. Files are named MODEL_SCHEDULE_lrLR_bsB_stepsN.csv (with _seedS and _wuW when given);
    sweep.json records each run's outcome. Exit code 1 when a run failed or diverged.

    Example: scalefit sweep --models tiny,s1 --lrs 1e-3,3e-3 --batch-sizes 8,16 --schedules "cosine;constant" \
--steps 300 --out-dir runs/grid
    """
    import sys

    from scalefit.errors import require

    require("torch", "train", "scalefit sweep")
    from scalefit.jsonio import check_out_dir, check_out_path
    from scalefit.train import sweep as sw

    check_out_dir(out_dir)  # before any work: a file in the way or a folder we cannot write is one line
    check_out_path(Path(out_dir) / "sweep.json", special=False, flag="--out-dir's sweep.json")

    configs = sw.grid(
        _split(models, ",", str, "--models"), _split(lrs, ",", float, "--lrs"),
        _split(batch_sizes, ",", int, "--batch-sizes"), _split(schedules, ";", str, "--schedules"), out_dir,
        steps=steps, warmup=warmup, data=data, seq_len=seq_len, eval_every=eval_every, eval_batches=eval_batches,
        seed=seed, device=device,
        threads=threads,
    )
    todo = sw.plan(configs)
    con = console()
    n_skip = sum(a == "skip" for _, a in todo)
    n_resume = sum(a == "resume" for _, a in todo)
    con.print(f"sweep: {len(configs)} runs in {escape(str(out_dir))}: {n_skip} complete (skipped), "
              f"{n_resume} to resume, {len(configs) - n_skip - n_resume} new; executor {executor}, jobs {jobs}")
    for c, action in todo:
        if action == "skip":
            con.print(f"  skip {escape(Path(c.out).name)}: already holds all {steps} steps")

    def show(run: "sw.SweepRun", done: int, total: int) -> None:
        if run.status == "skipped":
            return
        tail = f"final loss {run.final_loss:.4f}" if run.final_loss is not None else (run.error or "")
        secs = f" ({run.seconds:.0f} s)" if run.seconds else ""
        con.print(f"  [{done}/{total}] {run.status} {escape(Path(run.out).name)}: {escape(tail)}{secs}")
        sys.stdout.flush()  # a sweep's log is often a file: show each finished run at once

    slurm = {"timeout_min": slurm_time}
    if slurm_partition:
        slurm["slurm_partition"] = slurm_partition
    if slurm_gpus:
        slurm["gpus_per_node"] = slurm_gpus
    runs = sw.run_sweep(configs, jobs=jobs, executor=executor, slurm=slurm, on_result=show)
    sw.write_summary(Path(out_dir) / "sweep.json", runs)
    bad = [r for r in runs if r.status in ("failed", "diverged")]
    con.print(f"sweep done: {len(runs) - len(bad)} ok, {len(bad)} failed or diverged; summary in "
              f"{escape(str(Path(out_dir) / 'sweep.json'))}")
    if bad:
        raise typer.Exit(1)  # scripts (cli/make_data.sh) must see that the grid is incomplete
