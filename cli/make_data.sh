#!/usr/bin/env bash
# Regenerate the bundled run files in data/runs/ with the bundled trainer (see data/README.md).
#
# Needs: pip install 'scalefit-lm[train]' (torch). The corpus is the trainer's synthetic Zipf-Markov source
# (order 1, 256 tokens: `--data synthetic`), generated in memory from its seed, so nothing is read or downloaded.
# CPU only: about an hour of single-core CPU time summed over runs on a shared 2-core machine (35 minutes of wall
# time there), run as two parallel jobs. Resumable: re-running finishes
# missing runs and skips complete ones.
#
# Design (64-token context, 16 sequences = 1,024 tokens per step, AdamW, warmup 10%, 16 fixed validation
# batches = 16,384 tokens per val_loss):
#   curves/   one model (tiny, 0.1M) at 5 schedules and two more sizes (xs 0.025M, s1 0.44M) at 3 of them,
#             3,000 steps each: the loss-curve laws (fit, evaluate, predict, optimize).
#   grid/     peak LR x batch size at two sizes and two token budgets, cosine: the hyperparameter laws (hparams).
#   scaling/  three sizes x two shorter budgets (cosine): with the 3,000-step cosine runs in curves/, a 3x3 (N, D)
#             grid for the loss law L(N, D) (scaling, plan).
# Why the synthetic source and not Shakespeare: the first set of this project was character-level Shakespeare,
# whose curves start with a plateau (loss ~2.5, the bigram floor) and a sudden drop once attention learns to use
# context, over the first third of training; no curve law describes that, and held-out R2 stayed at 0.95-0.99.
# The order-1 chain gives curves that fall smoothly for thousands of steps (held-out R2 >= 0.99 for MPL), and its
# exact entropy rate (4.1223 nats) is a floor every fitted L0 must respect (benchmarks/bundled_fit.py).
#
# Usage: bash cli/make_data.sh            (SCALEFIT=/path/to/scalefit to pick the executable)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
RUN="nice -n 10 $SCALEFIT"
COMMON=(--data synthetic --seq-len 64 --batch-sizes 16 --eval-batches 16 --seed 0 --device cpu --threads 1
        --jobs 1)

curves() {
  $RUN sweep --models tiny --schedules "constant;cosine;wsd:decay=0.2;linear;multistep" --lrs 3e-3 \
      --steps 3000 --warmup 300 --eval-every 50 "${COMMON[@]}" --out-dir data/runs/curves
  $RUN sweep --models xs,s1 --schedules "constant;cosine;wsd:decay=0.2" --lrs 3e-3 \
      --steps 3000 --warmup 300 --eval-every 50 "${COMMON[@]}" --out-dir data/runs/curves
}
grid_and_scaling() {
  G=(--data synthetic --seq-len 64 --eval-batches 16 --seed 0 --device cpu --threads 1 --jobs 1)
  # Two token budgets per size (512,000 and 1,024,000 tokens): within a cell the batch size trades against the
  # number of steps, as in the Step Law grid, so each (N, D) cell varies both LR and batch size, and the 2 x 2
  # cells vary N and D independently.
  for bs_steps in "8 2000" "16 1000" "32 500" "8 1000" "16 500" "32 250"; do
    set -- $bs_steps
    $RUN sweep --models xs,tiny --schedules cosine --lrs 3e-3,1e-2,3e-2,1e-1 --batch-sizes "$1" \
        --steps "$2" --warmup $(($2 / 10)) --eval-every $(($2 / 10)) "${G[@]}" \
        --out-dir "data/runs/grid/d$(($1 * $2 * 64))"
  done
  $RUN sweep --models xs,tiny,s1 --schedules cosine --lrs 3e-3 --steps 750 --warmup 75 --eval-every 75 \
      "${COMMON[@]}" --out-dir data/runs/scaling/d750
  $RUN sweep --models xs,tiny,s1 --schedules cosine --lrs 3e-3 --steps 1500 --warmup 150 --eval-every 75 \
      "${COMMON[@]}" --out-dir data/runs/scaling/d1500
}
curves & p1=$!
grid_and_scaling & p2=$!
wait "$p1"   # a bare `wait` returns 0 even when a sweep failed
wait "$p2"
find data/runs -name '*.ckpt' -delete
