#!/usr/bin/env bash
# Pendulum with 4 envs (acx's default) and with 1024 envs per agent, plain
# and with the many-env recipe (docs/training.md, "Training with thousands
# of envs"), one run at a time, 2 threads, on the CPU. For each run: the
# first evaluation (10 episodes, every EVAL env steps) whose mean reaches
# -200, its env steps, updates and wall time, and the final evaluation.
#
#   bench/many_envs_pendulum.sh [ACX] [SEEDS] [CONFIGS]
#   e.g. bench/many_envs_pendulum.sh build/acx "1 2 3" "default n1024-plain n1024-recipe"
#
# Writes runs/many-envs/<config>-seed<S>/ and prints a Markdown table
# (bench/many_envs_report.py); raw summaries are kept there.
set -euo pipefail
set -f  # the options hold [..] lists: no globbing
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ACX=${1:-build/acx}
SEEDS=${2:-"1 2 3"}
CONFIGS=${3:-"default n1024-plain n1024-recipe"}
OUT=${OUT:-runs/many-envs}
mkdir -p "$OUT"

# The issue's starting point: 1024 envs, 2 updates of batch 4096 per vector
# step, 256x256 networks, tau 0.05, everything else TD3's default.
N1024="--set env.n_envs=1024 --set algo.updates_per_vector_step=2 --set algo.batch_size=4096
  --set net.actor_hidden=[256,256] --set net.critic_hidden=[256,256] --set algo.tau=0.05
  --set algo.learning_starts=10240 --set algo.warmup_steps=10240 --set replay.capacity=1048576
  --set run.eval_every=51200 --set run.log_every=51200 --set run.checkpoint_every=0"
declare -A ARGS=(
  [default]="--set run.total_env_steps=20000 --set run.eval_every=1000"
  [n1024-plain]="$N1024 --set run.total_env_steps=1536000"
  # The recipe: no target actor, per-env scales redrawn in [0.001, 0.4] at
  # every episode end, a C51 critic on pendulum's return range, tau 0.1,
  # more updates per vector step (the lever a GPU makes cheap).
  [n1024-recipe]="$N1024 --set run.total_env_steps=409600 --set algo.target_actor=false
  --set explore.sigma=0.4 --set explore.sigma_min=0.001 --set explore.sigma_redraw=true
  --set critic.distribution=c51 --set critic.v_min=-1600 --set critic.v_max=0 --set algo.tau=0.1
  --set algo.updates_per_vector_step=8 --set optim.weight_decay=0.1"
)
for cfg in $CONFIGS; do
  [ -n "${ARGS[$cfg]+x}" ] || { echo "many_envs_pendulum.sh: unknown config $cfg (${!ARGS[*]})" >&2; exit 2; }
  for seed in $SEEDS; do
    dir="$OUT/$cfg-seed$seed"
    if [ ! -s "$dir/summary.json" ]; then
      echo "many envs: $cfg seed $seed"
      rm -rf "$dir"
      # shellcheck disable=SC2086  # ARGS holds whitespace-separated options
      "$ACX" train --env pendulum --seed "$seed" --device cpu --out "$dir" --set run.threads=2 ${ARGS[$cfg]} \
        > "$dir.log" 2>&1
    fi
  done
done
"$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)" bench/many_envs_report.py "$OUT"
