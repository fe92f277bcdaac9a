#!/usr/bin/env bash
# Population mode against one process on the same work: 2 agents, trained
#   (a) by one process with 2 threads:   acx train --agents 2 --set run.threads=2
#   (b) by 2 ranks with 1 thread each:   mpirun -np 2 acx train --agents 2 --set dist.mode=population --set run.threads=1
# Env steps per second with learning, whole command (start-up, evaluations
# and checkpoints included), REPEATS times each, alternating, on an
# otherwise idle machine. Prints a Markdown table (min and median).
#
#   bench/dist_throughput.sh [ACX] [REPEATS] [TASKS]
#   e.g. bench/dist_throughput.sh build-cpu/acx 3 "pendulum half-cheetah"
set -euo pipefail
ACX=$(realpath "${1:-build/acx}")
REPEATS=${2:-3}
TASKS=${3:-"pendulum half-cheetah"}
OUT=${OUT:-runs/dist-throughput}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
declare -A STEPS=([pendulum]=10000 [half-cheetah]=6000)
declare -A EXTRA=([pendulum]="" [half-cheetah]="--set algo.learning_starts=1000 --set algo.warmup_steps=1000 --set run.eval_every=0 --set run.eval_episodes=1")
seconds() { date +%s.%N; }
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
  python3 - "$task" "$((2 * steps))" "${one[*]}" "${two[*]}" <<'EOF'
import statistics, sys
task, steps, one, two = sys.argv[1], sys.argv[2], list(map(float, sys.argv[3].split())), list(map(float, sys.argv[4].split()))
m1, m2 = statistics.median(one), statistics.median(two)
print(f"| {task} | {steps} | {min(one):,.0f}, {m1:,.0f} | {min(two):,.0f}, {m2:,.0f} | {m2 / m1:.2f} |")
EOF
done
