#!/usr/bin/env bash
# The main job: set up, audit Fashion-MNIST (digits when its package is absent) with 2% of
# labels flipped, list the most memorized examples, and write runs/demo/report.html.
# --precision auto (also the default): bfloat16 where this CPU multiplies it natively and faster
# (AMX, AVX512-BF16), float32 elsewhere; the audit's first line says which and why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if .venv/bin/python -c 'from memlens.data import load; load("fashion-mnist")' 2>/dev/null; then
  args=(--dataset fashion-mnist --plant label-noise:0.02 --models 16)
else
  echo "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): auditing digits instead"
  args=(--dataset digits --plant label-noise:0.05 --models 64)
fi
.venv/bin/memlens audit "${args[@]}" --precision auto --out "${OUT:-runs/demo}"
.venv/bin/memlens show "${OUT:-runs/demo}" --top 15
