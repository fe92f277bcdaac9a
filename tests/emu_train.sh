#!/usr/bin/env bash
# The whole training loop on the cuda backend, under the SIMT emulation (the
# kernels' CUDA source run on the CPU; ctest emu_train in the emu build):
#   1. a short pendulum run with --device cuda, twice: bit for bit the same
#      run (tools/same_run.py: metrics, summary, every checkpoint tensor);
#   2. the same run stopped at half and resumed, with run.cuda_graph = off:
#      bit for bit the run that never stopped;
#   (the cuda runs take run.cuda_graph = auto: under the emulation that is
#   on, so 1 and 2 run captured, replayed graphs; tests/test_cuda_graph.cpp
#   compares graphs on with graphs off);
#   3. the same run with --device cpu: the two backends agree within the
#      tolerance stated below (tools/compare_runs.py). Under the emulation
#      they are expected to agree exactly (one compiler, one libm, no FMA);
#      a GPU build would agree within the tolerance only (docs/architecture.md,
#      "What is bitwise").
#   tests/emu_train.sh ACX
set -uo pipefail
ACX=$(realpath "$1")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
T=$(mktemp -d /tmp/acx-emu-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
RUN=(--env pendulum --seed 3 --agents 2 --set 'net.actor_hidden=[16,16]' --set 'net.critic_hidden=[16,16]'
     --set algo.batch_size=32 --set env.n_envs=4 --set env.max_steps=50 --set algo.learning_starts=100
     --set algo.warmup_steps=100 --set run.eval_every=100 --set run.eval_episodes=2 --set run.log_every=100
     --set run.checkpoint_every=200 --set replay.capacity=10000 --set run.threads=1)

"$ACX" train --device cuda "${RUN[@]}" --set run.total_env_steps=400 --out "$T/a" >/dev/null 2>"$T/a.err"
check "acx train --device cuda under the emulation (exit $?)" $?
"$ACX" train --device cuda "${RUN[@]}" --set run.total_env_steps=400 --out "$T/b" >/dev/null 2>"$T/b.err"
check "the same run again (exit $?)" $?
"$PY" "$ROOT/tools/same_run.py" "$T/a" "$T/b" >"$T/same-ab" 2>&1
check "run twice on the cuda backend: bit for bit the same" $?
"$PY" - "$T/a/summary.json" <<'PYEOF2'
import json, sys
g = json.load(open(sys.argv[1]))["cuda_graph"]
assert g["on"] and g["graph_replays"] > 0 and g["graphs_captured"] > 0, g
print(f"     graphs: {g['graphs_captured']} captured, {g['graph_replays']} replays, {g['iterations_launched']} "
      f"iterations launched, up to {g['max_graph_nodes']} nodes")
PYEOF2
check "the cuda runs went through CUDA graphs (run.cuda_graph = auto)" $?
"$ACX" train --device cuda --env hopper --set run.cuda_graph=on --set run.total_env_steps=10 --out "$T/h" \
  >/dev/null 2>"$T/h.err"
code=$?
grep -q "run.cuda_graph = on, but this run cannot use CUDA graphs: hopper steps on the host" "$T/h.err"
check "run.cuda_graph = on with a host-stepped env: refused, exit 2 (exit $code)" $(( $? || code != 2 ))

"$ACX" train --device cuda "${RUN[@]}" --set run.total_env_steps=200 --out "$T/c" >/dev/null 2>"$T/c.err" &&
  "$ACX" train --device cuda --resume "$T/c" --set run.total_env_steps=400 --set run.cuda_graph=off \
    >/dev/null 2>"$T/c2.err"
check "stopped at 200 env steps and resumed to 400, with graphs off (exit $?)" $?
"$PY" "$ROOT/tools/same_run.py" "$T/a" "$T/c" >"$T/same-ac" 2>&1
check "the resumed run is bit for bit the uninterrupted one" $?

"$ACX" train --device cpu "${RUN[@]}" --set run.total_env_steps=400 --out "$T/cpu" >/dev/null 2>"$T/cpu.err"
check "the same run on the cpu backend (exit $?)" $?
"$PY" - "$T/a" "$T/cpu" "$ROOT/tools" <<'PYEOF'
import json, struct, sys
sys.path.insert(0, sys.argv[3])
from same_run import read_safetensors  # (metadata, {name: (dtype, shape, bytes)})
# Tolerance: parameters within 1e-4 absolute + 1e-3 relative of the CPU's,
# every metric within 1e-3 relative; exact equality is reported when it holds.
def tensors(path):
    return {k: struct.unpack(f"<{len(b) // 4}f", b) for k, (dtype, _, b) in read_safetensors(path)[1].items()
            if dtype == "F32"}
a, c = (tensors(f"{d}/checkpoint.safetensors") for d in sys.argv[1:3])
worst, exact = 0.0, True
for k in ("actor.params", "critic.params", "actor_opt.v", "critic_opt.m"):
    for x, y in zip(a[k], c[k]):
        exact &= x == y
        err = abs(x - y) / (1e-4 + 1e-3 * abs(y))
        worst = max(worst, err)
sa, sc = (json.load(open(f"{d}/summary.json")) for d in sys.argv[1:3])
ra, rc = sa["final_eval_return"], sc["final_eval_return"]
assert sa["updates"] == sc["updates"] > 0, (sa["updates"], sc["updates"])
assert abs(ra - rc) <= 1e-3 * abs(rc), (ra, rc)
assert worst <= 1.0, f"parameters differ beyond the tolerance: {worst:.3g} x the allowed error"
print(f"ok   cuda (emulated) vs cpu: final return {ra:.4f} vs {rc:.4f}; parameters "
      + ("bit for bit equal" if exact else f"within tolerance (worst {worst:.3g} of the allowed error)"))
PYEOF
check "the cuda backend agrees with the cpu backend" $?
exit $fail
