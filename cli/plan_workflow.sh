#!/usr/bin/env bash
# Plan a compute budget from small sweeps: sweep -> hparams -> scaling -> plan.
#
#   1. sweep    the LR x batch-size grid of cli/make_data.sh, with exactly its arguments, into a copy of the
#               bundled grid ($OUT/grid): every run there is complete, so the sweep trains nothing and says so
#               (re-running a sweep skips complete runs and resumes partial ones). Point GRID at an empty or
#               partial folder to really train it (~25 CPU-minutes for the whole grid).
#   2. hparams  optimal peak LR and batch size as power laws of N and D (Step Law form) on that grid.
#   3. scaling  L(N, D) = E + A/N^alpha + B/D^beta on the cosine runs of three sizes x three lengths.
#   4. plan     N, D, batch size, peak LR, schedule and predicted loss for $FLOPS, with the curve-law fit
#               (MPL on the tiny constant + cosine runs) for the schedule.
#
# The sweep works on a copy so that re-running it never rewrites the bundled data/runs/grid/*/sweep.json (a
# sweep rewrites its sweep.json with this run's outcome: "skipped" and no timings).
#
# Usage: bash cli/plan_workflow.sh     (OUT=folder for the outputs, SCALEFIT=/path/to/scalefit, FLOPS=budget,
#                                       GRID=grid to copy and re-run, default data/runs/grid)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
OUT="${OUT:-out}"
GRID="${GRID:-data/runs/grid}"
FLOPS="${FLOPS:-1e12}"
CURVES=data/runs/curves
mkdir -p "$OUT/grid"
say() { echo; echo "== $*"; }
step() { local name=$1; shift; "$SCALEFIT" "$@" | tee "$OUT/$name.txt"; }

say "1. sweep: the LR x batch-size grid of cli/make_data.sh (in a copy of $GRID: complete runs are skipped)"
if [[ -d "$GRID" ]]; then cp -R "$GRID"/. "$OUT/grid/"; fi
G=(--data synthetic --seq-len 64 --eval-batches 16 --seed 0 --device cpu --threads 1 --jobs 1)
: > "$OUT/sweep.txt"
for bs_steps in "8 2000" "16 1000" "32 500" "8 1000" "16 500" "32 250"; do
  set -- $bs_steps
  "$SCALEFIT" sweep --models xs,tiny --schedules cosine --lrs 3e-3,1e-2,3e-2,1e-1 --batch-sizes "$1" \
      --steps "$2" --warmup $(($2 / 10)) --eval-every $(($2 / 10)) "${G[@]}" \
      --out-dir "$OUT/grid/d$(($1 * $2 * 64))" | tee -a "$OUT/sweep.txt"
done

say "2. hparams: optimal peak LR and batch size on the grid"
step hparams hparams "$OUT"/grid/*/*.csv --bootstrap 200 --out "$OUT/hp.json" --plot "$OUT/hp.png"

say "3. scaling: L(N, D) on the cosine runs (3 sizes x 750, 1,500 and 3,000 steps)"
step scaling scaling "$CURVES"/*_cosine_*.csv data/runs/scaling/*/*.csv --bootstrap 100 --out "$OUT/sc.json" \
    --plot "$OUT/sc.png"

say "4. plan $FLOPS FLOPs (schedule optimised under the MPL fit of the tiny constant + cosine runs)"
"$SCALEFIT" fit "$CURVES/tiny_constant_lr0.003_bs16.csv" "$CURVES/tiny_cosine_lr0.003_bs16.csv" \
    --target val_loss --law mpl --out "$OUT/fit_mpl.json" > "$OUT/fit.txt"
step plan plan --flops "$FLOPS" --hparams "$OUT/hp.json" --scaling "$OUT/sc.json" --curve "$OUT/fit_mpl.json"
"$SCALEFIT" plan --flops "$FLOPS" --hparams "$OUT/hp.json" --scaling "$OUT/sc.json" --curve "$OUT/fit_mpl.json" \
    --json > "$OUT/plan.json" 2> /dev/null

say "done: outputs in $OUT/"
ls "$OUT"
