#!/usr/bin/env bash
# dist.mode = data under `mpirun -np 2` (docs/distributed.md):
#   1. two ranks, each its own envs and replay, every gradient averaged:
#      after training, every tensor of the agents' state (parameters,
#      targets, optimizer moments) is bit for bit the same on both ranks,
#      and their envs are not;
#   2. dist.deterministic = true, run twice: bit for bit the same run;
#   3. a rank that drifts (a test hook nudges one gradient on rank 1) is
#      caught by the state hash at the next metrics row: every rank stops,
#      naming the rank;
#   4. rank 1 killed after its first checkpoint: --resume completes, bit for
#      bit the run never killed;
#   5. observation statistics (obs_norm) merged over the ranks;
#   6. a launch stopped between the two phases of a checkpoint write resumes
#      bit for bit.
# The gradient arithmetic itself (the ranks' mean is the gradient over all
# batches) is checked against float64 by the DataParallel gtest.
#
#   tests/dist_data.sh ACX MPIRUN
set -uo pipefail
ACX=$(realpath "$1")
MPIRUN=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
T=$(mktemp -d /tmp/acx-dist-data.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPI=("$MPIRUN" -np 2 --oversubscribe --bind-to none)
fail=0
check() { if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

COMMON=(--env pendulum --set dist.mode=data --set run.threads=1 --set run.total_env_steps=3000
        --set run.checkpoint_every=1000 --set run.eval_every=1000 --set run.eval_episodes=2 --set run.log_every=500)

same_agents_other_envs() {  # DIR: rank-0 and rank-1 checkpoints
  "$PY" - "$1" "$ROOT/tools" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[2])
from same_run import read_safetensors  # (metadata, {name: (dtype, shape, bytes)})
a, b = ({k: t[2] for k, t in read_safetensors(f"{sys.argv[1]}/rank-{r}/checkpoint.safetensors")[1].items()}
        for r in (0, 1))
agent = [k for k in a if k.split(".")[0] in ("actor", "actor_target", "actor_opt", "critic", "critic_target", "critic_opt")]
assert len(agent) >= 8, agent
differ = [k for k in agent if a[k] != b[k]]
assert not differ, f"agent tensors differ between the ranks: {differ}"
assert any(x != b"\0" * len(x) for x in (a[k] for k in agent)), "all-zero agent"
assert a["env.state"] != b["env.state"], "the ranks stepped the same envs"
print(f"ok   {len(agent)} agent tensors bit for bit equal on both ranks; their envs differ")
PYEOF
}

# 1.
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --out "$T/a" >"$T/a.out" 2>"$T/a.err"
check "data-parallel pendulum on 2 ranks trains (exit $?)" $?
same_agents_other_envs "$T/a"; check "ranks hold the same agent" $?
"$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['mode']=='data' and j['ranks']==2 and j['updates']>0, j" \
  "$T/a/summary.json"
check "summary.json says mode data, 2 ranks" $?

# 2.
for run in d1 d2; do
  "${MPI[@]}" "$ACX" train "${COMMON[@]}" --set dist.deterministic=true --out "$T/$run" >/dev/null 2>"$T/$run.err"
  check "deterministic reduction, run $run (exit $?)" $?
done
same_agents_other_envs "$T/d1"; check "deterministic: ranks hold the same agent" $?
for r in 0 1; do
  "$PY" "$ROOT/tools/same_run.py" "$T/d1/rank-$r" "$T/d2/rank-$r" >"$T/same-d$r" 2>&1
  check "deterministic: rank $r's run repeated is bit for bit the same" $?
done

# 3.
ACX_DIST_TEST_DIVERGE=1 "${MPI[@]}" "$ACX" train "${COMMON[@]}" --out "$T/drift" >/dev/null 2>"$T/drift.err"
rc=$?
if [ "$rc" != 0 ] && grep -q "the ranks' agent state at update .* differ: .* on rank 1" "$T/drift.err"; then
  echo "ok   a drifting rank is caught (exit $rc: $(grep -m1 "differ" "$T/drift.err"))"
else
  echo "FAIL drifting rank: exit $rc"; tail -n 10 "$T/drift.err"; fail=1
fi

# 4.
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --out "$T/k" >/dev/null 2>"$T/k.err" &
launch=$!
victim=""
for _ in $(seq 1 600); do
  if [ -s "$T/k/rank-0/checkpoint.safetensors" ] && [ -s "$T/k/rank-1/checkpoint.safetensors" ]; then
    for p in $(pgrep -f "$ACX train" || true); do
      tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.05
done
if [ -n "$victim" ]; then
  kill -9 "$victim"; wait "$launch"; rc=$?
  [ "$rc" != 0 ] && grep -q "rank 1" "$T/k.err"; check "killing rank 1 stops the launch (exit $rc)" $?
  "${MPI[@]}" "$ACX" train --resume "$T/k" >/dev/null 2>"$T/k-resume.err"
  check "mpirun -np 2 acx train --resume completes (exit $?)" $?
  for r in 0 1; do
    "$PY" "$ROOT/tools/same_run.py" "$T/k/rank-$r" "$T/a/rank-$r" >"$T/same-k$r" 2>&1
    check "rank $r resumed is bit for bit the run never killed" $?
  done
else
  wait "$launch"; echo "FAIL could not catch rank 1 between its first checkpoint and its end"; fail=1
fi

# 5. Observation statistics merged over the ranks: both ranks hold the same
#    statistics, bit for bit, and they have seen both ranks' observations
#    (a count of 2 x the env steps of one rank).
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --set obs_norm.enabled=true --out "$T/norm" >/dev/null 2>"$T/norm.err"
check "data-parallel pendulum with obs_norm trains (exit $?)" $?
same_agents_other_envs "$T/norm"; check "obs_norm: ranks hold the same agent" $?
"$PY" - "$T/norm" "$ROOT/tools" <<'PYEOF2'
import struct, sys
sys.path.insert(0, sys.argv[2])
from same_run import read_safetensors  # (metadata, {name: (dtype, shape, bytes)})
(m0, a), (m1, b) = (read_safetensors(f"{sys.argv[1]}/rank-{r}/checkpoint.safetensors") for r in (0, 1))
a, b = ({k: t[2] for k, t in x.items()} for x in (a, b))
norm = sorted(k for k in a if k.startswith("obs_norm."))
assert norm and all(a[k] == b[k] for k in norm), f"normalizer tensors differ between the ranks: {norm}"
count = struct.unpack("<d", a["obs_norm.count"][:8])[0]
steps = int(m0["env_steps"])
assert count == 2 * steps, (count, steps)
print(f"ok   {len(norm)} normalizer tensors bit for bit equal on both ranks; count {count:.0f} = 2 ranks x {steps} env steps")
PYEOF2
check "obs_norm: statistics merged over both ranks" $?

# 6. Checkpoints in two phases: rank 1 dies after every rank wrote
#    checkpoint.next at the first checkpoint and agreed, before it renamed
#    its own. The resume completes rank 1's checkpoint from checkpoint.next
#    and continues, bit for bit the run never stopped.
ACX_DIST_TEST_DIE_BEFORE_RENAME=1 "${MPI[@]}" "$ACX" train "${COMMON[@]}" --out "$T/die" >/dev/null 2>"$T/die.err"
rc=$?
[ "$rc" != 0 ] && [ -s "$T/die/rank-1/checkpoint.next.safetensors" ] && [ ! -e "$T/die/rank-1/checkpoint.safetensors" ]
check "rank 1 died between the phases (exit $rc), its checkpoint still in checkpoint.next" $?
# Rank 0 renamed its own before mpirun ended it (it renames right after
# the agreement), or did not: the resume completes rank 1's, or both start
# over from step 0 (no rank completed a checkpoint).
rank0_renamed=$([ -e "$T/die/rank-0/checkpoint.safetensors" ] && echo 1 || echo 0)
"${MPI[@]}" "$ACX" train --resume "$T/die" >/dev/null 2>"$T/die-resume.err"
check "the resume completes (exit $?)" $?
if [ "$rank0_renamed" = 1 ]; then
  grep -q "1 rank had not yet renamed the checkpoint at env step 1000" "$T/die-resume.err"
  check "rank 0 had renamed: the resume completed rank 1's checkpoint from checkpoint.next" $?
else
  grep -q "starting it over" "$T/die-resume.err"
  check "rank 0 had not renamed either: both ranks started over" $?
fi
[ ! -e "$T/die/rank-0/checkpoint.next.safetensors" ] && [ ! -e "$T/die/rank-1/checkpoint.next.safetensors" ]
check "no checkpoint.next left after the resume" $?
for r in 0 1; do
  "$PY" "$ROOT/tools/same_run.py" "$T/die/rank-$r" "$T/a/rank-$r" >"$T/same-die$r" 2>&1
  check "rank $r after the reconciled resume is bit for bit the run never stopped" $?
done

# ... and ranks at different steps that no checkpoint.next can complete are refused.
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --set run.total_env_steps=1000 --out "$T/short" >/dev/null 2>&1
cp -r "$T/a" "$T/mis" && cp "$T/short/rank-1/checkpoint.safetensors" "$T/mis/rank-1/checkpoint.safetensors"
"${MPI[@]}" "$ACX" train --resume "$T/mis" >/dev/null 2>"$T/mis.err"
rc=$?
[ "$rc" = 1 ] && grep -q "checkpoints are at different env steps (3000 on the furthest rank; rank 1 at env step 1000)" "$T/mis.err"
check "ranks at different steps are refused (exit $rc: $(grep -m1 'different env steps' "$T/mis.err" | cut -c1-150))" $?

exit $fail
