#!/usr/bin/env bash
# Regenerate the bundled run files in data/runs/ with the bundled trainer (see data/README.md).
#
# Needs: pip install 'scalefit-lm[train]' (torch). The corpus is the trainer's synthetic Zipf-Markov source
# (order 1, 256 tokens: `--data synthetic`), generated in memory from its seed, so nothing is read or downloaded.
# CPU only, every run on one thread at `nice -n 10`, two sections at a time. CPU time summed over runs: about an
# hour for curves + grid + scaling (35 minutes of wall time on a shared 2-core machine) and ISO_CPU for grid_more +
# isoflop (data/README.md has the measured figures). Resumable: re-running finishes missing runs and skips
# complete ones (a partial run resumes from its checkpoint).
#
# Design (64-token context, 16 sequences = 1,024 tokens per step unless a batch size is given, AdamW, cosine
# schedules with warmup 10% unless said, 16 fixed validation batches = 16,384 tokens per val_loss):
#   curves/   one model (tiny, 0.1M) at 5 schedules and two more sizes (xs 0.025M, s1 0.44M) at 3 of them,
#             3,000 steps each: the loss-curve laws (fit, evaluate, predict, optimize).
#   grid/     peak LR x batch size, cosine: the hyperparameter laws (hparams). `grid` made the first 48 runs (xs and
#             tiny, two token budgets); `grid_more` widened it around the optimum (issue 17; see there).
#   scaling/  three sizes x two shorter budgets (cosine): with the 3,000-step cosine runs in curves/, a 3x3 (N, D)
#             grid for the loss law L(N, D) at one peak LR (3e-3).
#   isoflop/  compute budgets x model sizes around each budget's optimum, at a peak LR per size (`isoflop`):
#             isoFLOP profiles, the lower envelope and the loss law (scaling --method all), and plan.
# Why the synthetic source and not Shakespeare: the first set of this project was character-level Shakespeare,
# whose curves start with a plateau (loss ~2.5, the bigram floor) and a sudden drop once attention learns to use
# context, over the first third of training; no curve law describes that, and held-out R2 stayed at 0.95-0.99.
# The order-1 chain gives curves that fall smoothly for thousands of steps (held-out R2 >= 0.99 for MPL), and its
# exact entropy rate (4.1223 nats) is a floor every fitted L0 must respect (benchmarks/bundled_fit.py).
#
# Usage: bash cli/make_data.sh                  everything (two lanes: curves + isoflop, grid + grid_more + scaling)
#        bash cli/make_data.sh isoflop 3e11     one section (curves, grid, grid_more, scaling, isoflop [BUDGET ...])
# SCALEFIT=/path/to/scalefit picks the executable; RUNS=folder writes there instead of data/runs (plan_workflow.sh
# re-runs the grid sweeps in a copy).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
RUNS="${RUNS:-data/runs}"
RUN="nice -n 10 $SCALEFIT"
COMMON=(--data synthetic --seq-len 64 --batch-sizes 16 --eval-batches 16 --seed 0 --device cpu --threads 1
        --jobs 1)
G=(--data synthetic --seq-len 64 --eval-batches 16 --seed 0 --device cpu --threads 1 --jobs 1)

done_with() { find "$@" -name '*.ckpt' -delete 2> /dev/null || true; }  # checkpoints of finished runs

curves() {
  $RUN sweep --models tiny --schedules "constant;cosine;wsd:decay=0.2;linear;multistep" --lrs 3e-3 \
      --steps 3000 --warmup 300 --eval-every 50 "${COMMON[@]}" --out-dir "$RUNS/curves"
  $RUN sweep --models xs,s1 --schedules "constant;cosine;wsd:decay=0.2" --lrs 3e-3 \
      --steps 3000 --warmup 300 --eval-every 50 "${COMMON[@]}" --out-dir "$RUNS/curves"
  done_with "$RUNS/curves"
}

# grid_sweep MODELS LRS BATCH:STEPS ...: one sweep per batch size, into grid/dTOKENS (tokens = batch x steps x 64)
grid_sweep() {
  local models=$1 lrs=$2 bs steps
  shift 2
  for bs_steps in "$@"; do
    bs=${bs_steps%:*}; steps=${bs_steps#*:}
    $RUN sweep --models "$models" --schedules cosine --lrs "$lrs" --batch-sizes "$bs" --steps "$steps" \
        --warmup $((steps / 10)) --eval-every $((steps / 10)) "${G[@]}" --out-dir "$RUNS/grid/d$((bs * steps * 64))"
  done
}
grid() {
  # Two token budgets per size (512,000 and 1,024,000 tokens): within a cell the batch size trades against the
  # number of steps, as in the Step Law grid, so each (N, D) cell varies both LR and batch size, and the 2 x 2
  # cells vary N and D independently.
  grid_sweep xs,tiny 3e-3,1e-2,3e-2,1e-1 8:2000 16:1000 32:500 8:1000 16:500 32:250
  done_with "$RUNS/grid"
}
grid_more() {
  # Issue 17: the grid above located no cell optimum (its best LR and batch size sat between its coarse points or
  # at their edge). (a) LRs 2e-2 and 5e-2 either side of the best (3e-2) in its 12 cells; (b) a third size, s1, at
  # 512,000 tokens, whose best LR is lower (1e-1 diverges: run at batch 16 only); (c) batch 64 in the first 12
  # cells and (d) a third token budget, 256,000 tokens (batch 4 to 32), at LRs 1e-2 .. 1e-1.
  grid_sweep xs,tiny 2e-2,5e-2 8:2000 16:1000 32:500 8:1000 16:500 32:250
  grid_sweep s1 3e-3,1e-2,2e-2,3e-2 8:1000 16:500 32:250
  grid_sweep s1 1e-1 16:500
  grid_sweep xs,tiny 1e-2,2e-2,3e-2,5e-2,1e-1 64:250 64:125 4:1000 8:500 16:250 32:125
  done_with "$RUNS/grid"
}
scaling() {
  $RUN sweep --models xs,tiny,s1 --schedules cosine --lrs 3e-3 --steps 750 --warmup 75 --eval-every 75 \
      "${COMMON[@]}" --out-dir "$RUNS/scaling/d750"
  $RUN sweep --models xs,tiny,s1 --schedules cosine --lrs 3e-3 --steps 1500 --warmup 150 --eval-every 75 \
      "${COMMON[@]}" --out-dir "$RUNS/scaling/d1500"
  done_with "$RUNS/scaling"
}

# isoFLOP budgets (Hoffmann et al.'s approach 2): at each compute budget C, model sizes about 2x apart around the
# budget's loss-optimal size, each trained for D = C / 6N tokens (steps = D / 1,024, rounded), cosine to its own
# length (warmup 10%), at the peak LR of its size below (the best LR of the grid for xs, tiny and s1; between
# them for s0; s1's for s1b). Every budget's best run lies strictly inside its sizes (the parabola's minimum is
# bracketed): `scalefit scaling data/runs/isoflop/*/*.csv --method isoflop`. Each (budget, size) is one sweep.
#   model:non-embedding params (scalefit/train/model.py):peak LR
ISO_MODELS="xxxs:6224:3e-2 xxs:13944:3e-2 xs:24736:3e-2 xs2:55536:3e-2 tiny:98624:3e-2 s0:187128:2e-2 s1:443232:1e-2"
ISO_MODELS+=" s1b:787584:1e-2"
#   budget:sizes
ISO_BUDGETS="1e11:xxxs,xxs,xs,xs2,tiny 3e11:xxs,xs,xs2,tiny,s0 1e12:xs,xs2,tiny,s0,s1 3e12:xs2,tiny,s0,s1,s1b"
isoflop() {  # optional arguments: only these budgets (e.g. `isoflop 3e11`)
  local budget models m entry n lr steps want=" ${*:-} "
  for budget_models in $ISO_BUDGETS; do
    budget=${budget_models%%:*}; models=${budget_models#*:}
    [[ "$want" == "  " || "$want" == *" $budget "* ]] || continue
    for m in ${models//,/ }; do
      entry=$(tr ' ' '\n' <<< "$ISO_MODELS" | grep "^$m:")
      n=$(cut -d: -f2 <<< "$entry"); lr=$(cut -d: -f3 <<< "$entry")
      steps=$(awk -v c="$budget" -v n="$n" 'BEGIN { printf "%d", c / (6 * n * 1024) + 0.5 }')
      $RUN sweep --models "$m" --schedules cosine --lrs "$lr" --steps "$steps" --warmup $((steps / 10)) \
          --eval-every $((steps / 10)) "${COMMON[@]}" --out-dir "$RUNS/isoflop/c$budget"
    done
  done
  done_with "$RUNS/isoflop"
}

if [[ $# -gt 0 ]]; then  # sections, in order: bash cli/make_data.sh grid grid_more; bash cli/make_data.sh isoflop 3e11
  while [[ $# -gt 0 ]]; do
    case $1 in
      curves|grid|grid_more|scaling) "$1"; shift ;;
      isoflop) shift; isoflop "$@"; break ;;
      *) echo "make_data.sh: unknown section '$1' (curves, grid, grid_more, scaling, isoflop [BUDGET ...])" >&2
         exit 2 ;;
    esac
  done
  exit 0
fi
{ curves; isoflop; } & p1=$!
{ grid; grid_more; scaling; } & p2=$!
wait "$p1"   # a bare `wait` returns 0 even when a sweep failed
wait "$p2"
