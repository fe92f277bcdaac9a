#!/usr/bin/env bash
# The distributed modes against one process on the same work, env steps per
# second with learning, whole command (start-up, evaluations and checkpoints
# included), REPEATS times each, alternating, on an otherwise idle machine.
# Prints Markdown tables (min and median).
#
# population: 2 agents, trained
#   (a) by one process with 2 threads:   acx train --agents 2 --set run.threads=2
#   (b) by 2 ranks with 1 thread each:   mpirun -np 2 acx train --agents 2 --set dist.mode=population --set run.threads=1
# data: one agent learning from 2 N envs with batches of 2 B and the env's
# updates per vector step (the env's defaults give N, B, the update ratio
# and the warm-up), trained
#   (a) by one process with 2 threads: 2 N envs, batch 2 B, algo.updates_per_step
#       halved and the warm-up doubled (both count env steps of all its envs)
#   (b) by 2 ranks with 1 thread each: N envs and batch B per rank, gradients
#       averaged (dist.mode = data)
#
#   bench/dist_throughput.sh [ACX] [REPEATS] [TASKS]
#   e.g. bench/dist_throughput.sh build-cpu/acx 3 "pendulum half-cheetah"
set -euo pipefail
MODES=${MODES:-"population data"}
ACX=$(realpath "${1:-build/acx}")
REPEATS=${2:-3}
TASKS=${3:-"pendulum half-cheetah"}
OUT=${OUT:-runs/dist-throughput}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
declare -A STEPS=([pendulum]=10000 [half-cheetah]=6000)
declare -A EXTRA=([pendulum]="" [half-cheetah]="--set algo.learning_starts=1000 --set algo.warmup_steps=1000 --set run.eval_every=0 --set run.eval_episodes=1")
seconds() { date +%s.%N; }
table_row() {  # task steps "one..." "two..."
  python3 - "$@" <<'EOF'
import statistics, sys
task, steps, one, two = sys.argv[1], sys.argv[2], list(map(float, sys.argv[3].split())), list(map(float, sys.argv[4].split()))
m1, m2 = statistics.median(one), statistics.median(two)
print(f"| {task} | {steps} | {min(one):,.0f}, {m1:,.0f} | {min(two):,.0f}, {m2:,.0f} | {m2 / m1:.2f} |")
EOF
}
if [[ " $MODES " == *" population "* ]]; then
echo "population mode"
echo
echo "| task | env steps (2 agents) | one process, 2 threads: env steps/s min, median | 2 ranks x 1 thread: min, median | ratio of medians |"
echo "| --- | ---: | --- | --- | ---: |"
for task in $TASKS; do
  steps=${STEPS[$task]:-10000}
  one=(); two=()
  for i in $(seq 1 "$REPEATS"); do
    rm -rf "$OUT/$task-one-$i" "$OUT/$task-pop-$i"
    t0=$(seconds)
    "$ACX" train --env "$task" --agents 2 --set run.threads=2 --set run.total_env_steps="$steps" ${EXTRA[$task]:-} \
      --out "$OUT/$task-one-$i" >/dev/null 2>"$OUT/$task-one-$i.err"
    t1=$(seconds)
    mpirun -np 2 --oversubscribe --bind-to none "$ACX" train --env "$task" --agents 2 --set dist.mode=population \
      --set run.threads=1 --set run.total_env_steps="$steps" ${EXTRA[$task]:-} --out "$OUT/$task-pop-$i" \
      >/dev/null 2>"$OUT/$task-pop-$i.err"
    t2=$(seconds)
    one+=("$(python3 -c "print(2 * $steps / ($t1 - $t0))")")
    two+=("$(python3 -c "print(2 * $steps / ($t2 - $t1))")")
  done
  table_row "$task" "$((2 * steps))" "${one[*]}" "${two[*]}"
done
echo
fi
if [[ " $MODES " == *" data "* ]]; then
echo "data mode (one agent, 2 N envs in all)"
echo
echo "| task | env steps (in all) | one process, 2 threads: env steps/s min, median | 2 ranks x 1 thread: min, median | ratio of medians |"
echo "| --- | ---: | --- | --- | ---: |"
for task in $TASKS; do
  steps=${STEPS[$task]:-10000}
  # The env's defaults, read from the resolved config of a dry run.
  rm -rf "$OUT/$task-probe"
  "$ACX" train --env "$task" --set run.total_env_steps=1 --set run.eval_episodes=1 ${EXTRA[$task]:-} \
    --out "$OUT/$task-probe" >/dev/null 2>&1
  read -r N B R LS WS <<<"$(python3 -c "import tomllib,sys; c=tomllib.load(open(sys.argv[1],'rb'))['algo']; \
e=tomllib.load(open(sys.argv[1],'rb'))['env']; print(e['n_envs'], c['batch_size'], c['updates_per_step'], \
c['learning_starts'], c['warmup_steps'])" "$OUT/$task-probe/config.toml")"
  rm -rf "$OUT/$task-probe"
  one=(); two=()
  for i in $(seq 1 "$REPEATS"); do
    rm -rf "$OUT/$task-data1-$i" "$OUT/$task-data2-$i"
    t0=$(seconds)
    "$ACX" train --env "$task" --set run.threads=2 --set env.n_envs=$((2 * N)) --set algo.batch_size=$((2 * B)) \
      ${EXTRA[$task]:-} --set algo.updates_per_step="$(python3 -c "print($R / 2)")" \
      --set run.total_env_steps=$((2 * steps)) --set algo.learning_starts=$((2 * LS)) --set algo.warmup_steps=$((2 * WS)) \
      --out "$OUT/$task-data1-$i" >/dev/null 2>"$OUT/$task-data1-$i.err"
    t1=$(seconds)
    mpirun -np 2 --oversubscribe --bind-to none "$ACX" train --env "$task" --set dist.mode=data --set run.threads=1 \
      --set run.total_env_steps="$steps" ${EXTRA[$task]:-} --out "$OUT/$task-data2-$i" >/dev/null 2>"$OUT/$task-data2-$i.err"
    t2=$(seconds)
    # Both take 2 x steps env steps in all, with the same updates, warm-up and batch in all.
    one+=("$(python3 -c "print(2 * $steps / ($t1 - $t0))")")
    two+=("$(python3 -c "print(2 * $steps / ($t2 - $t1))")")
  done
  table_row "$task" "$((2 * steps))" "${one[*]}" "${two[*]}"
done
fi
