#!/usr/bin/env bash
# Plan a compute budget from small sweeps: sweep -> hparams -> scaling (three approaches + loss law) -> plan.
#
#   1. sweep    the LR x batch-size grid of cli/make_data.sh (its `grid` and `grid_more` sections, exactly), into
#               a copy of the bundled grid ($OUT/runs/grid): every run there is complete, so the sweeps train
#               nothing and say so (re-running a sweep skips complete runs and resumes partial ones). Point GRID at
#               an empty or partial folder to really train it (about 40 CPU-minutes for the whole grid).
#   2. hparams  optimal peak LR and batch size as power laws of N and D (Step Law form) on that grid.
#   3. scaling  on the isoFLOP runs (4 compute budgets x 5 sizes): the three approaches to the compute-optimal
#               split side by side (--method all: iso.json, isoflop.png), then the default loss law (sc.json).
#   4. fit      the size-aware curve law tissue-n on the 3,000-step curves of three sizes (xs, tiny, s1 at constant,
#               cosine, WSD ...), for the planned run's whole curve.
#   5. plan     N and D from the isoFLOP frontier, batch size and peak LR from the hyperparameter laws, the loss
#               from the loss law, the whole curve from the curve law, for $FLOPS, each with its interval.
#
# The sweeps work on a copy so that re-running them never rewrites the bundled data/runs/grid/*/sweep.json (a
# sweep rewrites its sweep.json with this run's outcome: "skipped" and no timings).
#
# Usage: bash cli/plan_workflow.sh     (OUT=folder for the outputs, SCALEFIT=/path/to/scalefit, FLOPS=budget,
#                                       GRID=grid to copy and re-run, default data/runs/grid)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
OUT="${OUT:-out}"
GRID="${GRID:-data/runs/grid}"
FLOPS="${FLOPS:-1e13}"
ISO=data/runs/isoflop
mkdir -p "$OUT/runs/grid"
say() { echo; echo "== $*"; }
step() { local name=$1; shift; "$SCALEFIT" "$@" | tee "$OUT/$name.txt"; }

say "1. sweep: the LR x batch-size grid of cli/make_data.sh (in a copy of $GRID: complete runs are skipped)"
if [[ -d "$GRID" ]]; then cp -R "$GRID"/. "$OUT/runs/grid/"; fi
RUNS="$OUT/runs" SCALEFIT="$SCALEFIT" bash cli/make_data.sh grid grid_more | tee "$OUT/sweep.txt"

say "2. hparams: optimal peak LR and batch size on the grid"
step hparams hparams "$OUT"/runs/grid/*/*.csv --tol 0.02 --bootstrap 200 --out "$OUT/hp.json" --plot "$OUT/hp.png"

say "3. scaling: the three approaches on the isoFLOP runs, then the default loss law"
step approaches scaling "$ISO"/*/*.csv --method all --bootstrap 200 --out "$OUT/iso.json" --plot "$OUT/isoflop.png"
step scaling scaling "$ISO"/*/*.csv --bootstrap 100 --out "$OUT/sc.json"

say "4. fit: the size-aware curve law tissue-n on the curves of three sizes"
step fit fit data/runs/curves/*.csv --target val_loss --law tissue-n --out "$OUT/fit_n.json"

say "5. plan $FLOPS FLOPs"
step plan plan --flops "$FLOPS" --isoflop "$OUT/iso.json" --scaling "$OUT/sc.json" --hparams "$OUT/hp.json" \
    --curve "$OUT/fit_n.json"
"$SCALEFIT" plan --flops "$FLOPS" --isoflop "$OUT/iso.json" --scaling "$OUT/sc.json" --hparams "$OUT/hp.json" \
    --curve "$OUT/fit_n.json" --json > "$OUT/plan.json" 2> /dev/null

say "done: outputs in $OUT/"
ls "$OUT"
