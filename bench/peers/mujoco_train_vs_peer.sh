#!/usr/bin/env bash
# TD3 on gymnasium's MuJoCo v5 tasks: acx (its per-task defaults, 2 threads)
# next to the same budget of TD3 as CleanRL's td3_continuous_action.py runs
# it (bench/peers/td3_mujoco_peer.py: PyTorch on the CPU, 2 threads,
# gymnasium 1.4.0 on MuJoCo 4.0.0), one run at a time on an otherwise idle
# machine. Each acx actor is then scored in gymnasium's own task by
# tools/eval_in_gymnasium.py (shares no code with acx), 10 episodes, and
# both it and `acx eval` score it again over 100 episodes.
#
#   bench/peers/mujoco_train_vs_peer.sh [ACX] [STEPS] [SEEDS] [TASKS] [PEER: yes|no]
#   e.g. bench/peers/mujoco_train_vs_peer.sh build/acx 200000 "1 2 3" "half-cheetah hopper"
#
# ACX_ARGS adds options to acx train (e.g. ACX_ARGS="--algo sac" with
# OUT=runs/mujoco-bench-sac and PEER=no for acx's other algorithms).
#
# Writes runs/mujoco-bench/<task>-{acx,peer}-seed<S>/ and a table plus
# learning-curve pictures via bench/peers/mujoco_train_report.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ACX=${1:-build/acx}
STEPS=${2:-200000}
SEEDS=${3:-"1 2 3"}
TASKS=${4:-"half-cheetah hopper"}
PEER=${5:-yes}
OUT=${OUT:-runs/mujoco-bench}
mkdir -p "$OUT"
declare -A GYM=([half-cheetah]=HalfCheetah-v5 [hopper]=Hopper-v5 [walker2d]=Walker2d-v5 [ant]=Ant-v5
                [humanoid]=Humanoid-v5)
for task in $TASKS; do
  for seed in $SEEDS; do
    if [ "$PEER" = yes ] && [ ! -s "$OUT/$task-peer-seed$seed.json" ]; then
      echo "mujoco bench: peer $task seed $seed"
      python3 bench/peers/td3_mujoco_peer.py --env-id "${GYM[$task]}" --seed "$seed" --total-timesteps "$STEPS" \
        --threads 2 --json "$OUT/$task-peer-seed$seed.json" > "$OUT/$task-peer-seed$seed.log"
    fi
    dir="$OUT/$task-acx-seed$seed"
    if [ ! -s "$dir/summary.json" ]; then
      echo "mujoco bench: acx $task seed $seed"
      rm -rf "$dir"
      "$ACX" train --env "$task" --seed "$seed" --device cpu --out "$dir" --set run.threads=2 \
        --set run.total_env_steps="$STEPS" ${ACX_ARGS:-} > "$dir.log" 2>&1
    fi
    if [ ! -s "$dir/gymnasium_eval.json" ]; then
      python3 tools/eval_in_gymnasium.py "$dir/checkpoint.safetensors" --env-id "${GYM[$task]}" --episodes 10 \
        > "$dir/gymnasium_eval.json" 2>/dev/null
    fi
    # The same check over 100 episodes on both sides: a Hopper or Walker
    # policy that falls in one episode of ten moves a 10-episode mean by 10%.
    if [ ! -s "$dir/acx_eval100.json" ]; then
      "$ACX" eval --checkpoint "$dir/checkpoint.safetensors" --episodes 100 --device cpu > "$dir/acx_eval100.json"
    fi
    if [ ! -s "$dir/gymnasium_eval100.json" ]; then
      python3 tools/eval_in_gymnasium.py "$dir/checkpoint.safetensors" --env-id "${GYM[$task]}" --episodes 100 \
        > "$dir/gymnasium_eval100.json" 2>/dev/null
    fi
  done
done
# The report draws with matplotlib: Debian's python3 has it (install_deps).
"$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)" bench/peers/mujoco_train_report.py "$OUT" \
  --pictures "${PICTURES:-docs/img}"
