#!/usr/bin/env bash
# The whole scalefit workflow on the bundled runs, one command per step (about 20 s on a 2-core CPU):
#
#   logs -> inspect -> fit (both laws) -> evaluate (held-out schedules) -> predict (5 schedules, ranked)
#        -> optimize (the schedule) -> predict it -> hparams + scaling (small sweeps) -> plan (a compute budget)
#
# Every output goes to $OUT (default: out/): fits as JSON, predictions and schedules as CSV, plots as PNG, and
# one log per step (*.txt). Bring your own logs by pointing CURVES at a folder with the same file names, or edit
# the two lists below. The runs fitted are the tiny model's constant and cosine runs; linear, multistep and WSD
# are held out. Targets are the validation loss (measured every 50 steps, much smoother than the batch loss).
#
# Usage: bash cli/workflow.sh          (OUT=folder for the outputs, SCALEFIT=/path/to/scalefit, FLOPS=budget)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
OUT="${OUT:-out}"
CURVES="${CURVES:-data/runs/curves}"
RUNS="${RUNS:-data/runs}"
FLOPS="${FLOPS:-1e12}"
mkdir -p "$OUT"

TRAIN=("$CURVES/tiny_constant_lr0.003_bs16.csv" "$CURVES/tiny_cosine_lr0.003_bs16.csv")
TEST=("$CURVES/tiny_linear_lr0.003_bs16.csv" "$CURVES/tiny_multistep_lr0.003_bs16.csv"
      "$CURVES/tiny_wsd-decay0.2_lr0.003_bs16.csv")
say() { echo; echo "== $*"; }
# run a step: its stdout is shown and kept in $OUT/<name>.txt; warnings (stderr) are shown
step() { local name=$1; shift; "$SCALEFIT" "$@" | tee "$OUT/$name.txt"; }

say "1. inspect: what scalefit reads from the logs"
step inspect inspect "${TRAIN[@]}" "${TEST[@]}" --target val_loss

say "2. fit both laws to constant + cosine"
step fit fit "${TRAIN[@]}" --target val_loss --law all --out "$OUT/fit.json" --plot "$OUT/fit.png"

say "3. evaluate on the held-out schedules (fit on the same two runs, predict the others from their LR alone)"
step evaluate evaluate --train "${TRAIN[@]}" --test "${TEST[@]}" --target val_loss --law all

say "4. predict and rank five schedules (90% interval from the parameter covariance)"
step predict predict "$OUT/fit_mpl.json" --schedule cosine --schedule linear --schedule constant \
    --schedule wsd:decay=0.2 --schedule wsd:decay=0.2,shape=1-sqrt --out "$OUT/predict.csv" \
    --plot "$OUT/predict.png"

say "5. optimise the schedule under the fitted MPL (3,000 steps, peak 3e-3, warmup 300, floor 1% of the peak)"
step optimize optimize "$OUT/fit_mpl.json" --steps 3000 --peak 3e-3 --warmup 300 --floor 3e-5 \
    --out "$OUT/schedule.csv" --plot "$OUT/optimize.png"
step predict_optimized predict "$OUT/fit_mpl.json" --schedule-file "$OUT/schedule.csv"

say "6. plan $FLOPS FLOPs: hyperparameter laws on the LR x batch grid, L(N, D) on the cosine runs, then plan"
step hparams hparams "$RUNS"/grid/*/*.csv --bootstrap 200 --out "$OUT/hp.json" --plot "$OUT/hp.png"
step scaling scaling "$CURVES"/*_cosine_*.csv "$RUNS"/scaling/*/*.csv --bootstrap 100 --out "$OUT/sc.json" \
    --plot "$OUT/sc.png"
step plan plan --flops "$FLOPS" --hparams "$OUT/hp.json" --scaling "$OUT/sc.json" --curve "$OUT/fit_mpl.json"
"$SCALEFIT" plan --flops "$FLOPS" --hparams "$OUT/hp.json" --scaling "$OUT/sc.json" --curve "$OUT/fit_mpl.json" \
    --json > "$OUT/plan.json" 2> /dev/null

say "done: outputs in $OUT/"
ls "$OUT"
