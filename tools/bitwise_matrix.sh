#!/usr/bin/env bash
# Did a refactor change what training computes? Six short runs that reach
# most of the trainer (TD3 with normalized observations and clipping; SAC;
# DDPG with OU noise and 3-step returns; TD3 with a C51 critic, redrawn
# exploration scales, 3 updates per vector step, no target actor and AdamW
# on mountain car; PBT with per-agent learning rates; Hopper), made by two
# acx binaries (say, a build of main before the change and one after, or the
# cpu build and the emulation build's --device cuda), compared bit for bit
# with tools/same_run.py: metrics, summary and every checkpoint tensor.
#   tools/bitwise_matrix.sh ACX_A DEVICE_A ACX_B DEVICE_B [OUT]
# e.g. tools/bitwise_matrix.sh /tmp/old/build-cpu/acx cpu build-emu/acx cuda
# ACX_MATRIX_THREADS (default 1) sets run.threads: 2 takes the CPU paths
# that split work over threads (members side by side in the GEMMs).
# Exit 0 when every run is the same bits, 1 otherwise. The summaries'
# `device` line differs between devices; every other difference counts.
set -uo pipefail
[ $# -ge 4 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A=$1; DA=$2; B=$3; DB=$4
OUT=${5:-$(mktemp -d /tmp/acx-bitwise-matrix.XXXXXX)}
mkdir -p "$OUT"
C=(--seed 7 --set 'net.actor_hidden=[16,16]' --set 'net.critic_hidden=[16,16]' --set algo.batch_size=32
   --set env.max_steps=60 --set algo.learning_starts=120 --set algo.warmup_steps=120 --set run.eval_every=400
   --set run.eval_episodes=2 --set run.log_every=200 --set run.checkpoint_every=400 --set replay.capacity=600
   --set run.threads=${ACX_MATRIX_THREADS:-1} --set run.total_env_steps=800)
RUNS=(
  "td3|--env pendulum --agents 2 --set env.n_envs=4 --set obs_norm.enabled=true --set algo.max_grad_norm=1.0"
  "sac|--env pendulum --algo sac --agents 2 --set env.n_envs=4 --set algo.policy_delay=2"
  "ddpg|--env pendulum --algo ddpg --set env.n_envs=2 --set explore.noise=ou --set algo.n_step=3"
  "c51|--env mountain-car-continuous --agents 2 --set env.n_envs=8 --set critic.distribution=c51 --set critic.v_min=-100 --set critic.v_max=100 --set explore.sigma_redraw=true --set explore.sigma_min=0.01 --set algo.updates_per_vector_step=3 --set algo.target_actor=false --set optim.weight_decay=0.01"
  "pbt|--env pendulum --agents 4 --set env.n_envs=4 --set pbt.enabled=true --set pbt.interval=400 --set pbt.ready_steps=200 --set variants.actor_lr=[1e-4,3e-4,1e-3,3e-3] --set algo.updates_per_step=0.5"
  "hopper|--env hopper --set env.n_envs=2 --set run.total_env_steps=400 --set run.eval_every=200 --set run.checkpoint_every=200"
)
fail=0
for entry in "${RUNS[@]}"; do
  name=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  ok=1
  for side in a b; do
    if [ $side = a ]; then bin=$A; dev=$DA; else bin=$B; dev=$DB; fi
    rm -rf "$OUT/$name-$side"
    "$bin" train --device "$dev" "${C[@]}" "${args[@]}" --out "$OUT/$name-$side" >/dev/null 2>"$OUT/$name-$side.err" ||
      { echo "FAIL $name: $bin --device $dev exited $? (see $OUT/$name-$side.err)"; ok=0; }
  done
  if [ $ok = 1 ]; then
    diff=$(python3 "$ROOT/tools/same_run.py" "$OUT/$name-a" "$OUT/$name-b" 2>&1)
    same=$?
    # Across devices the summary's device line is the one difference allowed.
    if [ $same != 0 ] && [ "$(grep -c "differs" <<<"$diff")" = 1 ] &&
       grep -q "summary.json differs in \['device'\]" <<<"$diff"; then
      same=0
    fi
    if [ $same = 0 ]; then echo "same $name"; else echo "DIFF $name: $diff"; ok=0; fi
  fi
  [ $ok = 1 ] || fail=1
done
echo "runs in $OUT"
exit $fail
