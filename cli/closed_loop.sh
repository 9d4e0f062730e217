#!/usr/bin/env bash
# Closed-loop check of `scalefit optimize` on real training, at several points: for each data source (the synthetic
# source of the bundled runs, and character-level Shakespeare) and model size (xs, tiny), fit MPL on a constant and
# a cosine run of 3,000 steps (val_loss), ask `scalefit optimize` for its recommendation at the fitted horizon
# (3,000 steps) and at 1.5x it (4,500), and train, at seeds 0, 1 and 2 (same seed: same initial weights and batches):
#   cosine     cosine to 0
#   linear     linear to 0 (Straight to Zero, Bergsma et al. 2025)
#   wsd        the best WSD with a 1-sqrt cooldown (Haegele et al. 2024) of optimize's family search (its
#              cooldown length and final LR chosen by the law)
#   law-best   the family member the law ranks best, when it is not the 1-sqrt WSD (optimize then recommends the
#              1-sqrt WSD when the two are within the law's held-out error on cooldowns: a tie)
#   recommended  what optimize recommends (when it is one of the above, that run is shared, not trained twice)
# and compare the predicted final val_loss with the realised one, paired by seed. Writes data/runs/closed_loop/
# (small run files: the val rows) and benchmarks/results/closed_loop.json, and prints the table
# (cli/closed_loop_report.py).
#
# The candidates (CANDIDATES below: per-step optima of what optimize can minimise) are trained at one setting only
# (synthetic, tiny, 4,500 steps), three seeds each: they chose the default. Their schedules are made once and kept
# (data/runs/closed_loop/synthetic-tiny-4500/schedules/optimum-*.{csv,json}); delete them to make them again.
#
# Trainer settings (the bundled runs' and cli/make_data.sh's): 64-token context, 16 sequences per step, peak LR 3e-3,
# warmup 10%, AdamW, val_loss on 16 fixed batches every 50 steps and at the last step, CPU float32, one thread,
# nice 10, two trainings at a time. The synthetic fits use data/runs/curves/{xs,tiny}_{constant,cosine}; the
# Shakespeare runs (constant, cosine, wsd-decay0.2 for each size, 3,000 steps, seed 0) are trained here, in full
# (data/runs/closed_loop/fits/).
#
# Cost: ~110 trainings of 3,000 or 4,500 steps (xs and tiny, 0.5-1.5 CPU-minutes each: ~2 CPU-hours); fits and
# optimisation take seconds. Rerunnable: a run whose small copy is complete and trained with the current schedule is
# skipped, a partial one resumes from its checkpoint (out/closed_loop/runs/), and a run trained with another
# schedule than the current recommendation is retrained.
#
# Testing note: every scalefit call goes through $SCALEFIT, so a shim that appends --help to each call checks
# the options without training. Set CLOSED_LOOP_DRY=1 for such a run: the python steps that read scalefit's
# outputs are skipped with a message (placeholders used), and the script exits 0.
# CLOSED_LOOP_STAGE=train stops after the trainings (no predictions, no report).
# CLOSED_LOOP_SETTINGS="synthetic-tiny-4500 shakespeare-xs-3000" trains and reports only those settings, in that order.
#
# Usage: bash cli/closed_loop.sh     (SCALEFIT=/path/to/scalefit, OUT=scratch dir, PYTHON=python with stdlib)
set -euo pipefail
main() {  # the whole script is read before it runs, so editing it meanwhile is safe
cd "$(dirname "$0")/.."
SCALEFIT="${SCALEFIT:-scalefit}"
OUT="${OUT:-out/closed_loop}"
DRY="${CLOSED_LOOP_DRY:-0}"
STAGE="${CLOSED_LOOP_STAGE:-all}"
if [[ -z "${PYTHON:-}" ]]; then
  PYTHON=python3
  sf="$(command -v "$SCALEFIT" 2>/dev/null || true)"
  if [[ -n "$sf" && -x "$(dirname "$sf")/python" ]]; then PYTHON="$(dirname "$sf")/python"; fi
fi
export SCALEFIT
RUNS=data/runs/closed_loop
CURVES=data/runs/curves
REPORT=cli/closed_loop_report.py
JOBS=cli/closed_loop_jobs.py
SF="nice -n 10 $SCALEFIT"
mkdir -p "$OUT" "$RUNS"

PEAK=3e-3 FITTED=3000 SEEDS=(0 1 2) SOURCES=(synthetic shakespeare) SIZES=(xs tiny) HORIZONS=(4500 3000)
COMMON=(--seq-len 64 --batch-size 16 --lr $PEAK --eval-every 50 --eval-batches 16 --device cpu --dtype float32
        --threads 1 --progress none --resume)
# the candidates of the tournament (optimize --robust MODE), trained at the first setting only
CANDIDATES=(point ensemble smooth)
TOURNAMENT="synthetic-tiny-4500"

say() { echo "== $*"; }
dry() { [[ "$DRY" == 1 ]]; }
fit_run() { # source size schedule -> path of a 3,000-step fit run
  if [[ $1 == synthetic ]]; then echo "$CURVES/$2_$3_lr0.003_bs16.csv"
  else echo "$RUNS/fits/$1/$2_$3_lr0.003_bs16.csv"; fi
}
job() { # name kept full lr-file args...
  local IFS=$'\t'; echo "$*" >> "$JOBFILE"
}
lr_of() { # spec file: write the spec's per-step LRs to file (once; a dry run checks the options once)
  mkdir -p "$(dirname "$2")"
  if dry; then [[ -n "${DRY_LR:-}" ]] || $SCALEFIT schedule "$1" --out "$2" > /dev/null; DRY_LR=1; return; fi
  [[ -s "$2" ]] || $SCALEFIT schedule "$1" --out "$2" > /dev/null
}
spec_job() { # setting name spec: a schedule spec at every seed
  local source size T
  IFS=- read -r source size T <<< "$1"
  lr_of "$3" "$OUT/lr/$1/$2.csv"
  for seed in "${SEEDS[@]}"; do
    job "$1/$2-seed$seed" "$RUNS/$1/$2-seed$seed.csv" "$OUT/runs/$1/$2-seed$seed.csv" "$OUT/lr/$1/$2.csv" \
        --model "$size" --data "$source" "${COMMON[@]}" --steps "$T" --warmup $((T / 10)) --seed "$seed" \
        --schedule "$3"
  done
}
file_job() { # setting name lr-file: a per-step schedule at every seed (kept beside the runs)
  local source size T
  IFS=- read -r source size T <<< "$1"
  mkdir -p "$RUNS/$1/schedules"
  [[ "$3" -ef "$RUNS/$1/schedules/$2.csv" ]] || dry || cp -f "$3" "$RUNS/$1/schedules/$2.csv"
  for seed in "${SEEDS[@]}"; do
    job "$1/$2-seed$seed" "$RUNS/$1/$2-seed$seed.csv" "$OUT/runs/$1/$2-seed$seed.csv" "$RUNS/$1/schedules/$2.csv" \
        --model "$size" --data "$source" "${COMMON[@]}" --steps "$T" --warmup $((T / 10)) --seed "$seed" \
        --schedule-file "$RUNS/$1/schedules/$2.csv"
  done
}
train_jobs() { "$PYTHON" $JOBS run "$JOBFILE" --lanes 2 $(dry && echo --dry); }

# 1. the Shakespeare fit runs (3,000 steps, seed 0), kept in full
JOBFILE="$OUT/jobs_fits.tsv"; : > "$JOBFILE"
for size in "${SIZES[@]}"; do
  for name in constant cosine wsd-decay0.2; do
    spec="${name%%-*}:peak=$PEAK,total=$FITTED,warmup=$((FITTED / 10))"
    [[ $name == wsd* ]] && spec+=",decay=0.2"
    lr_of "$spec" "$OUT/lr/fits/$name.csv"
    job "fits/shakespeare/$size-$name" - "$(fit_run shakespeare "$size" "$name")" "$OUT/lr/fits/$name.csv" \
        --model "$size" --data shakespeare "${COMMON[@]}" --steps $FITTED --warmup $((FITTED / 10)) --seed 0 \
        --schedule "$spec"
  done
done
say "train the Shakespeare fit runs"
train_jobs

# 2. fits: MPL on the constant and the cosine run of each source and size (val_loss); the WSD run is held out
settings=()
for source in "${SOURCES[@]}"; do for size in "${SIZES[@]}"; do
  fit="$OUT/fit_$source-$size.json"
  say "fit MPL: $source $size (constant + cosine, val_loss)"
  $SF fit "$(fit_run $source $size constant)" "$(fit_run $source $size cosine)" --law mpl --target val_loss \
      --out "$fit" > "$OUT/fit_$source-$size.txt"
  $SF predict "$fit" --schedule-file "$(fit_run $source $size wsd-decay0.2)" --warmup $((FITTED / 10)) --json \
      > "$OUT/heldout_$source-$size.json"
  for T in "${HORIZONS[@]}"; do settings+=("$source-$size-$T"); done
done; done

# CLOSED_LOOP_SETTINGS="a b ...": only these settings (in this order), e.g. when the CPU time is short
if [[ -n "${CLOSED_LOOP_SETTINGS:-}" ]]; then
  read -r -a settings <<< "$CLOSED_LOOP_SETTINGS"
  say "only the settings ${settings[*]} (CLOSED_LOOP_SETTINGS)"
fi

# 3. what optimize recommends at each setting (the default), and the candidates at the tournament setting
field() { # optimize-json key...: print a field of optimize's JSON (a placeholder in a dry run)
  if dry; then echo "wsd:peak=$PEAK,total=3000,warmup=300,decay=0.2"; else "$PYTHON" $REPORT field "$@"; fi
}
for s in "${settings[@]}"; do
  IFS=- read -r source size T <<< "$s"
  say "optimize $s"
  $SF optimize "$OUT/fit_$source-$size.json" --steps "$T" --peak $PEAK --warmup $((T / 10)) \
      --out "$OUT/recommended_$s.csv" --out-optimum "$OUT/optimum_$s.csv" --json > "$OUT/optimize_$s.json"
done
declare -A CAND_ARGS=([point]="--under fit" [ensemble]="--under shapes"
                      [smooth]="--under shapes --within-seen-decay")
IFS=- read -r source size T <<< "$TOURNAMENT"
CAND_DIR="$RUNS/$TOURNAMENT/schedules"
mkdir -p "$CAND_DIR"
for c in "${CANDIDATES[@]}"; do  # made once: kept with their JSON, so a later optimizer does not retrain them
  [[ -s "$CAND_DIR/optimum-$c.csv" && -s "$CAND_DIR/optimum-$c.json" ]] && continue
  say "candidate $c at $TOURNAMENT: optimize ${CAND_ARGS[$c]}"
  $SF optimize "$OUT/fit_$source-$size.json" --steps "$T" --peak $PEAK --warmup $((T / 10)) ${CAND_ARGS[$c]} \
      --out-optimum "$CAND_DIR/optimum-$c.csv" --json > "$CAND_DIR/optimum-$c.json"
done

# 4. the trainings: the candidates' per-step optima first, then every setting's schedules
JOBFILE="$OUT/jobs.tsv"; : > "$JOBFILE"
MANIFEST="$OUT/manifest.tsv"; : > "$MANIFEST"
manifest() { local IFS=$'\t'; echo "$*" >> "$MANIFEST"; } # setting role name kind schedule lr-file
for c in "${CANDIDATES[@]}"; do
  file_job "$TOURNAMENT" "optimum-$c" "$CAND_DIR/optimum-$c.csv"
  manifest "$TOURNAMENT" "candidate-$c" "optimum-$c" file "per-step optimum (optimize ${CAND_ARGS[$c]})" \
      "$RUNS/$TOURNAMENT/schedules/optimum-$c.csv"
done
for s in "${settings[@]}"; do
  T=${s##*-}
  cos="cosine:peak=$PEAK,total=$T,warmup=$((T / 10)),final=0"
  lin="linear:peak=$PEAK,total=$T,warmup=$((T / 10)),final=0"
  wsd=$(field "$OUT/optimize_$s.json" family wsd-1-sqrt spec)
  spec_job "$s" cosine "$cos"; manifest "$s" cosine cosine spec "$cos" "$OUT/lr/$s/cosine.csv"
  spec_job "$s" linear "$lin"; manifest "$s" linear linear spec "$lin" "$OUT/lr/$s/linear.csv"
  spec_job "$s" wsd "$wsd"; manifest "$s" best-wsd wsd spec "$wsd" "$OUT/lr/$s/wsd.csv"
  lbest=$(field "$OUT/optimize_$s.json" recommended law_best_spec)
  if [[ -n $lbest && $lbest != "$wsd" ]]; then  # the law's own best family member, when a tie went to the 1-sqrt
    spec_job "$s" law-best "$lbest"; manifest "$s" law-best law-best spec "$lbest" "$OUT/lr/$s/law-best.csv"
  fi
  kind=$(field "$OUT/optimize_$s.json" recommended kind)
  rspec=$(field "$OUT/optimize_$s.json" recommended spec)
  if [[ $kind == per-step ]]; then
    file_job "$s" recommended "$OUT/recommended_$s.csv"
    manifest "$s" recommended recommended file "per-step optimum" "$RUNS/$s/schedules/recommended.csv"
  elif [[ $rspec == "$wsd" ]]; then
    manifest "$s" recommended wsd spec "$wsd" "$OUT/lr/$s/wsd.csv"
  else
    spec_job "$s" recommended "$rspec"; manifest "$s" recommended recommended spec "$rspec" "$OUT/lr/$s/recommended.csv"
  fi
done
say "train $(wc -l < "$JOBFILE") runs (complete ones are skipped)"
train_jobs
find "$RUNS" -name '*.ckpt' -delete
find "$RUNS" -name '*.csv.lock' -delete
if [[ $STAGE == train ]]; then say "CLOSED_LOOP_STAGE=train: stop"; exit 0; fi

# 5. predictions of what was trained (the per-step LRs), one call per setting, and the report
for s in "${settings[@]}"; do
  IFS=- read -r source size T <<< "$s"
  args=()
  while IFS=$'\t' read -r ms _ _ _ _ lr; do [[ $ms == "$s" ]] && args+=(--schedule-file "$lr"); done < "$MANIFEST"
  $SF predict "$OUT/fit_$source-$size.json" "${args[@]}" --warmup $((T / 10)) --json > "$OUT/predict_$s.json"
done
if dry; then
  echo "CLOSED_LOOP_DRY=1: report skipped (benchmarks/results/closed_loop.json not written)"
  exit 0
fi
"$PYTHON" $REPORT report --out-dir "$OUT" --runs "$RUNS" --json benchmarks/results/closed_loop.json \
    --tournament "$TOURNAMENT" --seeds "${SEEDS[*]}"
}
main "$@"; exit
