#!/usr/bin/env bash
# Reproduces the training results of docs/results.md: TD3 with each env's
# defaults (docs/training.md), seeds 1-3, on the CPU backend, then the table.
#   bench/run_results.sh [env ...]        (default: every env)
# Environment: ACX (binary, default build/acx), OUT (default runs/results),
# THREADS (per run, default 1: two runs side by side use both cores without
# oversubscribing OpenMP), SEEDS (default "1 2 3").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ACX=${ACX:-build/acx}
OUT=${OUT:-runs/results}
THREADS=${THREADS:-1}
SEEDS=${SEEDS:-1 2 3}
envs=("$@")
[ ${#envs[@]} -eq 0 ] && envs=(pendulum mountain-car-continuous cartpole-swingup acrobot-continuous lqr)
mkdir -p "$OUT"
for env in "${envs[@]}"; do
  for seed in $SEEDS; do
    dir="$OUT/$env-td3-seed$seed"
    [ -f "$dir/summary.json" ] && { echo "have $dir"; continue; }
    rm -rf "$dir"
    echo "== $env seed $seed"
    "$ACX" train --env "$env" --seed "$seed" --device cpu --set "run.threads=$THREADS" --out "$dir" > "$dir.log" 2>&1 ||
      { echo "failed: $dir (see $dir.log)"; tail -3 "$dir.log"; }
  done
done
python3 tools/collect_results.py "$OUT"/*/ --images docs/img
