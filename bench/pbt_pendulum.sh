#!/usr/bin/env bash
# Population-based training against the same population without it: 8
# pendulum members whose actor learning rates are spread log-uniformly from
# 1e-6 to 3e-3 (most of them too small to learn in 20k steps), trained by
# `mpirun -np 2` in dist.mode = population, SEEDS seeds each, with and
# without pbt.enabled. Prints a Markdown table of the members' final
# evaluation returns (mean, worst, best) and writes each run's files, the
# lineage and summary included, under OUT. tools/plot_pbt.py draws the
# members' curves from them.
#
#   bench/pbt_pendulum.sh [ACX] [SEEDS]
set -euo pipefail
ACX=$(realpath "${1:-build/acx}")
SEEDS=${2:-"1 2 3"}
OUT=${OUT:-runs/pbt-pendulum}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
COMMON=(--env pendulum --agents 8 --set run.threads=1 --set run.total_env_steps=20000 --set run.eval_every=2000
        --set run.eval_episodes=10 --set 'net.actor_hidden=[64,64]' --set 'net.critic_hidden=[64,64]'
        --set dist.mode=population --set 'variants.actor_lr=[1e-6,3e-6,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3]')
echo "| run | seed | mean of 8 members | worst | best | copies | wall s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for seed in $SEEDS; do
  for mode in plain pbt; do
    dir="$OUT/$mode-seed$seed"
    rm -rf "$dir"
    extra=()
    [ "$mode" = pbt ] && extra=(--set pbt.enabled=true --set pbt.interval=4000)
    mpirun -np 2 --oversubscribe --bind-to none "$ACX" train "${COMMON[@]}" --seed "$seed" "${extra[@]}" \
      --out "$dir" >"$dir.out" 2>"$dir.err"
    python3 - "$dir" "$mode" "$seed" <<'EOF'
import json, os, sys
d, mode, seed = sys.argv[1:]
s = json.load(open(f"{d}/summary.json"))
f = s["final_eval_per_agent"]
copies = sum(1 for _ in open(f"{d}/pbt.csv")) - 1 if os.path.exists(f"{d}/pbt.csv") else 0
print(f"| {'PBT' if mode == 'pbt' else 'no PBT'} | {seed} | {sum(f) / len(f):.1f} | {min(f):.1f} | {max(f):.1f} | {copies} | {s['wall_s']:.1f} |")
EOF
  done
done
