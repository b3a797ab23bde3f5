#!/usr/bin/env bash
# Produces docs/quality.md: every architecture trained on the same data with the same budget
# (steps x batch, seed), then scored by one harness (python -m ganhost eval) beside the floor
# (real vs real) and ceiling (untrained generator) rows.
#
# Usage: scripts/quality.sh [ROW...]   rows: mlp dcgan cond-mlp cond-dcgan (default: all)
# Env: QUALITY_STEPS (15000), QUALITY_BATCH (64), QUALITY_SEED (0), QUALITY_DIR (build/quality),
#      DATASET (mnist). Trained rows are cached in QUALITY_DIR/<row>/1 and reused; a row whose
#      training was killed resumes from its last backup (every 500 steps, QUALITY_DIR/backups).
# On 2 CPU cores an MLP row takes about 12 minutes and a DCGAN row about 100 minutes at
# 15000 x 64 (idle machine). Output: docs/quality.md at 15000 x 64, docs/quality_<steps>[x<batch>].md
# at other budgets (and _fashion after quality for DATASET=fashion), with a sample grid per row.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

steps=${QUALITY_STEPS:-15000}
batch=${QUALITY_BATCH:-64}
seed=${QUALITY_SEED:-0}
dir=${QUALITY_DIR:-build/quality}
dataset=${DATASET:-mnist}
py=${PYTHON:-.venv/bin/python}
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(mlp dcgan cond-mlp cond-dcgan)

declare -A preset=([mlp]=default [dcgan]=dcgan [cond-mlp]=cond-mlp [cond-dcgan]=cond-dcgan)
models=()
for row in "${rows[@]}"; do
  [ -n "${preset[$row]:-}" ] || { echo "quality: unknown row $row" >&2; exit 2; }
  out=$dir/$dataset-$row-$steps-$batch-$seed/1
  if [ ! -f "$out/saved_model.pb" ]; then
    rm -rf "$out"
    "$py" -m ganhost train --config "${preset[$row]}" --dataset "$dataset" --steps "$steps" \
      --batch-size "$batch" --seed "$seed" --log-every 1000 --out "$out" \
      --backup-dir "$dir/backups/$dataset-$row-$steps-$batch-$seed"
  fi
  models+=(--model "$row=$out")
done
# The shipped default is scored too, so the table shows what `make run` serves.
if [ "$dataset" = mnist ]; then
  models+=(--model "shipped=savedmodel/gan/1")
  classifier=savedmodel/mnist_classifier/1
else
  models+=(--model "shipped=savedmodel/$dataset/1")
  classifier=savedmodel/${dataset}_classifier/1
fi
# docs/quality.md is the table at the shipped default's budget (15000 x 64); other budgets get
# their own file (docs/quality_5000.md), so a cheaper side-by-side does not replace it.
stem=quality
[ "$dataset" = mnist ] || stem=${stem}_$dataset
[ "$steps" = 15000 ] && [ "$batch" = 64 ] || stem=${stem}_$steps$([ "$batch" = 64 ] || echo "x$batch")
"$py" -m ganhost eval "${models[@]}" --dataset "$dataset" --classifier "$classifier" \
  --default shipped --out docs --stem "$stem" \
  --command-line "QUALITY_STEPS=$steps QUALITY_BATCH=$batch QUALITY_SEED=$seed DATASET=$dataset scripts/quality.sh ${rows[*]}"
