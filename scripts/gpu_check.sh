#!/usr/bin/env bash
# Everything acx can check on a GPU, in one go (issue 18, docs/testing.md):
#   1. configure and build a CUDA Release for this machine's GPU
#      (CMAKE_CUDA_ARCHITECTURES=native) into build-gpu/;
#   2. every CUDA test instance (acx_tests --gtest_filter='*/cuda*:*Cuda*'),
#      with ACX_SYNC_LAUNCHES=1 so that a fault names its kernel, and the
#      same under compute-sanitizer memcheck, racecheck and synccheck when
#      it is installed;
#   3. acx gradcheck --device cuda for every built-in env;
#   4. for each built-in env, a rollout on cuda against the CPU from the
#      same states and actions (observations within 1e-4 + 1e-4 |cpu|: the
#      GPU's libm and FMAs, docs/architecture.md "What is bitwise");
#   5. tests/emu_train.sh on the real GPU: a short pendulum run on cuda
#      twice (bit for bit), resumed (bit for bit), and against the CPU run of
#      the same seed (parameters within 1e-4 + 1e-3 |cpu|); then a 20k-step
#      pendulum training on cuda and on the CPU, both of which must learn
#      (their returns and wall times reported side by side), the cuda one
#      with CUDA graphs (run.cuda_graph = auto) and again without (bit for
#      bit the same expected: docs/training.md, "CUDA graphs");
#   6. graphs on against off at N = 4096 envs, B = 4096, 256x256 networks,
#      2 updates per vector step (bit for bit, and the updates per second of
#      each: the figure docs/training.md estimates on paper);
#   7. acx bench --device cuda --json.
# A report (pass/fail per step, the figures, nvidia-smi's facts) goes to
# $OUT/gpu_check.md when OUT is set, else to gpu-check-<date>/. It stops at
# once, with one line and exit 3, when no GPU is usable. Designed to finish
# within 8 minutes on one H100 or H200, the build included.
#   scripts/gpu_check.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ACX_ROOT"
REPORT_DIR=${OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$REPORT_DIR"
REPORT="$REPORT_DIR/gpu_check.md"
LOGS="$REPORT_DIR/logs"
mkdir -p "$LOGS"
start_all=$(date +%s)

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no usable GPU (nvidia-smi finds none): nothing to check here" | tee "$REPORT"
  exit 3
fi
nvcc=$(find_nvcc)
if [ -z "$nvcc" ]; then
  echo "gpu_check: no nvcc: the CUDA toolkit is needed to build the CUDA backend" | tee "$REPORT"
  exit 3
fi

{
  echo "# acx GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.sm --format=csv
  echo "nvcc: $("$nvcc" --version | tail -1)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo '```'
  echo
  echo "| step | result | seconds | figures |"
  echo "| --- | --- | ---: | --- |"
} >"$REPORT"

failed=0
step() {  # step NAME FIGURES-FILE CMD...: run, log, one report row
  local name=$1 figures=$2; shift 2
  local t0 rc fig=""
  t0=$(date +%s)
  "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  [ -n "$figures" ] && [ -s "$figures" ] && fig=$(tr '\n' ' ' <"$figures" | cut -c1-300)
  if [ "$rc" = 0 ]; then
    echo "| $name | pass | $(( $(date +%s) - t0 )) | $fig |" >>"$REPORT"
    echo "gpu_check: $name: pass"
  else
    echo "| $name | **FAIL** (exit $rc, logs/$name.log) | $(( $(date +%s) - t0 )) | $fig |" >>"$REPORT"
    echo "gpu_check: $name: FAIL (exit $rc; $LOGS/$name.log)"
    failed=1
  fi
  return $rc
}

B=build-gpu
step build "" configure_and_build "$B" -DCMAKE_BUILD_TYPE=Release -DACX_CUDA=ON "-DCMAKE_CUDA_COMPILER=$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES=native -DACX_BUILD_BENCH=OFF -DACX_PYTHON=OFF || {
  echo "gpu_check: the build failed; see $LOGS/build.log" | tee -a "$REPORT"; exit 1; }
ACX="$B/acx"

step cuda_tests "" env ACX_SYNC_LAUNCHES=1 "$B/acx_tests" --gtest_filter='*/cuda*:*Cuda*:*cuda*' --gtest_brief=1
if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck synccheck; do
    # Two minutes each at most (racecheck is slow): the 8-minute budget.
    step "sanitizer_$tool" "" timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 1 \
      "$B/acx_tests" --gtest_filter='*/cuda*' --gtest_brief=1
  done
else
  echo "| compute-sanitizer | not installed: skipped | 0 | |" >>"$REPORT"
fi

ENVS=$("$ACX" envs --json | python3 -c "import json,sys; print(' '.join(e['name'] for e in json.load(sys.stdin) if not e.get('engine')))")
gradcheck_all() {
  local e
  for e in $ENVS; do "$ACX" gradcheck --env "$e" --device cuda || return 1; done
}
step gradcheck "" gradcheck_all

rollouts() {  # each built-in env: the same states and actions on cuda and on the CPU
  local e d
  for e in $ENVS; do
    d="$REPORT_DIR/rollout-$e"
    mkdir -p "$d"
    python3 - "$ACX" "$e" "$d" <<'PYEOF' || return 1
import json, subprocess, sys
import numpy as np
acx, env, d = sys.argv[1:4]
info = next(e for e in json.loads(subprocess.run([acx, "envs", "--json"], capture_output=True, text=True,
                                                 check=True).stdout) if e["name"] == env)
rng = np.random.default_rng(0)
n, T = 256, 100
# Start states from a CPU rollout of zero steps is not offered; small random states around zero are.
init = rng.uniform(-0.1, 0.1, size=(n, info["state_dim"]))
lo = np.array([float(x) for x in info["action_low"]]); hi = np.array([float(x) for x in info["action_high"]])
act = rng.uniform(lo, hi, size=(T, n, len(lo))).astype(np.float32)
np.save(f"{d}/init.npy", init); np.save(f"{d}/actions.npy", act)
for dev in ("cpu", "cuda"):
    subprocess.run([acx, "rollout", "--env", env, "--init", f"{d}/init.npy", "--actions", f"{d}/actions.npy",
                    "--out", f"{d}/{dev}", "--device", dev, "--force"], check=True, capture_output=True)
a, b = np.load(f"{d}/cpu/obs.npy"), np.load(f"{d}/cuda/obs.npy")
err = np.max(np.abs(a - b) / (1e-4 + 1e-4 * np.abs(a)))
print(f"{env}: obs within {err:.3g} of the allowed error (1e-4 + 1e-4 |cpu|), "
      f"{'bitwise' if np.array_equal(a, b) else 'not bitwise'}")
sys.exit(0 if err <= 1.0 else 1)
PYEOF
  done
}
step rollouts "" rollouts

train_check() {
  local R=(--env pendulum --seed 1 --set run.total_env_steps=20000 --set run.eval_every=5000 --set run.threads=0)
  "$ACX" train --device cuda "${R[@]}" --out "$REPORT_DIR/train-cuda" >/dev/null &&
    "$ACX" train --device cuda "${R[@]}" --out "$REPORT_DIR/train-cuda-2" >/dev/null &&
    "$ACX" train --device cuda "${R[@]}" --set run.cuda_graph=off --out "$REPORT_DIR/train-cuda-nograph" >/dev/null &&
    "$ACX" train --device cpu "${R[@]}" --out "$REPORT_DIR/train-cpu" >/dev/null || return 1
  python3 tools/same_run.py "$REPORT_DIR/train-cuda" "$REPORT_DIR/train-cuda-2" || return 1
  echo "graphs on against graphs off:"
  python3 tools/same_run.py "$REPORT_DIR/train-cuda" "$REPORT_DIR/train-cuda-nograph" || return 1
  python3 - "$REPORT_DIR" <<'PYEOF' | tee "$REPORT_DIR/train.txt"
import json, sys
d = sys.argv[1]
g, c = (json.load(open(f"{d}/train-{x}/summary.json")) for x in ("cuda", "cpu"))
# Different bits (FMA, libm, cuBLAS) make different trajectories after
# thousands of updates: both must learn (pendulum: better than -400), and
# the GPU's figures are reported beside the CPU's, not asserted equal.
print(f"cuda final return {g['final_eval_return']:.1f} in {g['wall_s']:.1f} s; "
      f"cpu {c['final_eval_return']:.1f} in {c['wall_s']:.1f} s; the cuda run is bit for bit itself twice")
sys.exit(0 if g["final_eval_return"] > -400 and c["final_eval_return"] > -400 else 1)
PYEOF
}
step train_short "" bash tests/emu_train.sh "$ACX"
step train "$REPORT_DIR/train.txt" train_check

graph_timing() {
  local R=(--env pendulum --seed 2 --set env.n_envs=4096 --set algo.batch_size=4096 --set 'net.actor_hidden=[256,256]'
           --set 'net.critic_hidden=[256,256]' --set algo.updates_per_vector_step=2 --set algo.warmup_steps=8192
           --set algo.learning_starts=8192 --set replay.capacity=4000000 --set run.total_env_steps=2048000
           --set run.eval_every=2048000 --set run.eval_episodes=1 --set run.log_every=409600)
  "$ACX" train --device cuda "${R[@]}" --set run.cuda_graph=on --out "$REPORT_DIR/graph-on" >/dev/null &&
    "$ACX" train --device cuda "${R[@]}" --set run.cuda_graph=off --out "$REPORT_DIR/graph-off" >/dev/null || return 1
  python3 tools/same_run.py "$REPORT_DIR/graph-on" "$REPORT_DIR/graph-off"
  local same=$?
  python3 - "$REPORT_DIR" <<'PYEOF' | tee "$REPORT_DIR/graph_timing.txt"
import csv, json, sys
d = sys.argv[1]
def rate(run):  # updates per second, median over the metrics rows after the first (warm-up and capture)
    rows = list(csv.DictReader(open(f"{d}/{run}/metrics.csv")))
    r = [float(x["updates_per_s"]) for x in rows[1:] if x["updates_per_s"] not in ("", "nan")]
    return sorted(r)[len(r) // 2] if r else float("nan")
on, off = rate("graph-on"), rate("graph-off")
g = json.load(open(f"{d}/graph-on/summary.json"))["cuda_graph"]
print(f"N=4096 B=4096 256x256, 2 updates per vector step: graphs on {on:.0f} updates/s, off {off:.0f} "
      f"(median over metrics rows), on/off = {on / off:.2f}; {g['graphs_captured']} graphs captured, "
      f"{g['graph_replays']} replays, up to {g['max_graph_nodes']} nodes")
PYEOF
  return $same
}
step graph_timing "$REPORT_DIR/graph_timing.txt" graph_timing

step bench "" "$ACX" bench --device cuda --quick --json "$REPORT_DIR/bench-cuda.json"

total=$(( $(date +%s) - start_all ))
{
  echo
  echo "Total: ${total} s. Logs in logs/; rollouts, training runs and bench-cuda.json beside this report."
  [ "$failed" = 0 ] && echo "Every step passed." || echo "Some steps FAILED: see the table."
} >>"$REPORT"
echo "gpu_check: report in $REPORT (${total} s)"
exit $failed
