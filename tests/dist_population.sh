#!/usr/bin/env bash
# dist.mode = population under `mpirun -np 2` (docs/distributed.md):
#   1. each rank's block trains bit for bit as the one-process run of the
#      same agents and seed (tools/same_run.py: every tensor of the
#      checkpoints, metrics.csv and summary.json but wall times);
#   2. a rank killed mid-run brings the launch down with a line naming it,
#      and `mpirun -np 2 acx train --resume` completes from the last
#      checkpoints, bit for bit the run that was never killed;
#   3. ranks started with different configs are refused at start, naming
#      the rank and the first differing key; so are too few or unevenly
#      divisible agents, dist.mode without mpirun, a launch of several
#      ranks without dist.mode, and a resume with another rank count;
#   4. the all-reduce micro-benchmark;
#   5. population-based training across the ranks, and its resume.
#
#   tests/dist_population.sh ACX MPIRUN
set -uo pipefail
ACX=$(realpath "$1")
MPIRUN=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
T=$(mktemp -d /tmp/acx-dist.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Root in a container needs Open MPI's consent; two ranks on two cores, unbound.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPI=("$MPIRUN" -np 2 --oversubscribe --bind-to none)
fail=0
check() {  # check NAME CONDITION-EXIT-CODE
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
expect_error() {  # expect_error NAME CODE PATTERN CMD...: exit CODE and PATTERN on stderr
  local name=$1 code=$2 pattern=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" = "$code" ] && grep -q -- "$pattern" "$T/err"; then
    echo "ok   $name (exit $rc: $(grep -m1 -- "$pattern" "$T/err"))"
  else
    echo "FAIL $name: exit $rc (want $code), stderr:"; sed 's/^/     /' "$T/err" | tail -n 15; fail=1
  fi
}

COMMON=(--env pendulum --set run.threads=1 --set run.total_env_steps=4000 --set run.checkpoint_every=1000
        --set run.eval_every=1000 --set run.eval_episodes=3)

# 1. The population against one-process runs of its blocks.
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --agents 2 --seed 5 --set dist.mode=population --out "$T/pop" \
  >"$T/pop.out" 2>"$T/pop.err"
check "population of 2 agents on 2 ranks trains (exit $?)" $?
for r in 0 1; do
  "$ACX" train "${COMMON[@]}" --agents 1 --seed $((5 + r)) --out "$T/one-$r" >/dev/null 2>"$T/one-$r.err"
  "$PY" "$ROOT/tools/same_run.py" "$T/pop/rank-$r" "$T/one-$r" >"$T/same-$r" 2>&1
  check "rank $r's block is bit for bit 'acx train --agents 1 --seed $((5 + r))'" $?
done
"$PY" - "$T" <<'EOF'
import json, math, sys
t = sys.argv[1]
pop = json.load(open(f"{t}/pop/summary.json"))
one = [json.load(open(f"{t}/one-{r}/summary.json")) for r in (0, 1)]
want = [o["final_eval_per_agent"][0] for o in one]
assert pop["ranks"] == 2 and pop["agents"] == 2, pop
assert pop["final_eval_per_agent"] == want, (pop["final_eval_per_agent"], want)
assert want[0] != want[1], "two seeds gave the same return"
assert math.isclose(pop["final_eval_return"], sum(want) / 2), pop["final_eval_return"]
print("ok   summary.json merges both blocks:", want)
EOF
check "merged summary" $?

# 2. Kill rank 1 after its first checkpoint; resume; compare with run 1.
"${MPI[@]}" "$ACX" train "${COMMON[@]}" --agents 2 --seed 5 --set dist.mode=population \
  --set run.threads=1 --out "$T/killed" >"$T/killed.out" 2>"$T/killed.err" &
launch=$!
victim=""
for _ in $(seq 1 600); do
  if [ -s "$T/killed/rank-1/checkpoint.safetensors" ]; then
    for p in $(pgrep -f "$ACX train" || true); do
      if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$p; fi
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.05
done
if [ -n "$victim" ]; then
  kill -9 "$victim"
  wait "$launch"; rc=$?
  if [ "$rc" != 0 ] && grep -q "rank 1" "$T/killed.err"; then
    echo "ok   killing rank 1 stops the launch (exit $rc: $(grep -m1 'rank 1' "$T/killed.err" | sed 's/^ *//'))"
  else
    echo "FAIL killing rank 1: exit $rc, stderr:"; tail -n 15 "$T/killed.err"; fail=1
  fi
  "${MPI[@]}" "$ACX" train --resume "$T/killed" >"$T/resume.out" 2>"$T/resume.err"
  check "mpirun -np 2 acx train --resume completes (exit $?)" $?
  for r in 0 1; do
    "$PY" "$ROOT/tools/same_run.py" "$T/killed/rank-$r" "$T/pop/rank-$r" >"$T/same-k$r" 2>&1
    check "rank $r resumed is bit for bit the run never killed" $?
  done
else
  wait "$launch"
  echo "FAIL could not catch rank 1 between its first checkpoint and its end"; fail=1
fi

# 4. The collective's micro-benchmark: every size checked for the exact sum, timed, in the JSON.
"${MPI[@]}" "$ACX" bench --allreduce --quick --json "$T/allreduce.json" >"$T/allreduce.out" 2>"$T/allreduce.err"
check "mpirun -np 2 acx bench --allreduce (exit $?)" $?
"$PY" - "$T/allreduce.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ranks"] == 2 and len(j["rows"]) == 6, j
assert all(r["min_us"] > 0 and r["median_us"] >= r["min_us"] and r["busbw_gbps"] > 0 for r in j["rows"]), j["rows"]
print("ok   allreduce report:", ", ".join(f'{r["bytes"]} B {r["median_us"]:.1f} us' for r in j["rows"]))
EOF
check "allreduce JSON" $?
expect_error "bench --allreduce without mpirun" 2 "launch it as" "$ACX" bench --allreduce

# 5. Population-based training across the ranks: rank 0's two members learn
#    nothing (actor_lr 1e-7); at the round at 8k steps the bottom half
#    (members 0 and 1) copy the top half (members 2 and 3, on rank 1) over
#    MPI and end as good members. The same launch stopped at 6k steps and
#    resumed to 10k is bit for bit the launch that never stopped, lineage
#    included.
PBT=(--env pendulum --set run.threads=1 --set run.eval_every=2000 --set run.checkpoint_every=2000
     --set run.eval_episodes=5 --set 'net.actor_hidden=[64,64]' --set 'net.critic_hidden=[64,64]' --agents 4 --seed 1
     --set dist.mode=population --set pbt.enabled=true --set pbt.interval=8000 --set pbt.fraction=0.5
     --set 'variants.actor_lr=[1e-7,1e-7,1e-3,1e-3]')
"${MPI[@]}" "$ACX" train "${PBT[@]}" --set run.total_env_steps=10000 --out "$T/pbt" >"$T/pbt.out" 2>"$T/pbt.err"
check "PBT over 2 ranks trains (exit $?)" $?
grep -q "PBT round 1 at env step 8000: member 0" "$T/pbt.err"; check "rank 0 reports the round" $?
"$PY" - "$T/pbt" <<'EOF'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/pbt.csv")))
assert [r["member"] for r in rows] == ["0", "1"], rows
for r in rows:
    assert r["env_steps"] == "8000" and r["source"] in ("2", "3"), r  # across ranks
    assert float(r["source_return"]) > float(r["member_return"]) + 500, r
    assert r["actor_lr_before"] == "1e-07" and int(r["state_fnv1a"], 16) != 0, r
s = json.load(open(f"{d}/summary.json"))
final = s["final_eval_per_agent"]
assert min(final[0], final[1]) > -600, final  # an untrained actor scores about -1200 and below
assert s["pbt"]["last_change_per_agent"] == [8000, 8000, 0, 0], s["pbt"]
assert len(s["pbt"]["hyper_per_agent"]["actor_lr"]) == 4 and min(s["pbt"]["hyper_per_agent"]["actor_lr"]) > 1e-5, s["pbt"]
print("ok   members 0 and 1 copied members", [r["source"] for r in rows], "from rank 1; final returns", [round(x, 1) for x in final])
EOF
check "PBT lineage and summary" $?
"${MPI[@]}" "$ACX" train "${PBT[@]}" --set run.total_env_steps=6000 --out "$T/pbt-split" >/dev/null 2>"$T/pbt-split.err"
check "PBT launch to 6k steps (exit $?)" $?
"${MPI[@]}" "$ACX" train --resume "$T/pbt-split" --set run.total_env_steps=10000 >/dev/null 2>"$T/pbt-resume.err"
check "PBT launch resumed to 10k steps (exit $?)" $?
for r in 0 1; do
  "$PY" "$ROOT/tools/same_run.py" "$T/pbt-split/rank-$r" "$T/pbt/rank-$r" >"$T/same-pbt$r" 2>&1
  check "PBT rank $r resumed is bit for bit the launch never stopped" $?
done
cmp -s "$T/pbt-split/pbt.csv" "$T/pbt/pbt.csv"; check "the resumed launch's lineage is the same" $?

# 3. Refusals.
SHORT=(--env pendulum --set run.threads=1 --set run.total_env_steps=200 --set run.eval_episodes=1)
expect_error "different configs on the ranks" 2 "rank 1 was started with another config than rank 0: 'algo.gamma'" \
  "$MPIRUN" --oversubscribe --bind-to none -np 1 "$ACX" train "${SHORT[@]}" --agents 2 --set dist.mode=population \
  --out "$T/mismatch" : -np 1 "$ACX" train "${SHORT[@]}" --agents 2 --set dist.mode=population --set algo.gamma=0.98 \
  --out "$T/mismatch"
[ ! -e "$T/mismatch" ]; check "nothing written for refused ranks" $?
expect_error "fewer agents than ranks" 2 "run.agents = 1 is fewer than the 2 ranks" \
  "${MPI[@]}" "$ACX" train "${SHORT[@]}" --agents 1 --set dist.mode=population --out "$T/few"
expect_error "agents not divisible by ranks" 2 "run.agents = 3 does not divide over 2 ranks" \
  "${MPI[@]}" "$ACX" train "${SHORT[@]}" --agents 3 --set dist.mode=population --out "$T/odd"
expect_error "dist.mode without mpirun" 2 "needs several processes" \
  "$ACX" train "${SHORT[@]}" --agents 2 --set dist.mode=population --out "$T/alone"
expect_error "two ranks without dist.mode" 2 "dist.mode is none" \
  "${MPI[@]}" "$ACX" train "${SHORT[@]}" --out "$T/none"
"${MPI[@]}" "$ACX" train "${SHORT[@]}" --agents 6 --set dist.mode=population --out "$T/six" >/dev/null 2>"$T/six.err"
check "a population of 6 on 2 ranks" $?
expect_error "resume with another rank count" 2 "was trained by 2 ranks and this launch has 3" \
  "$MPIRUN" -np 3 --oversubscribe --bind-to none "$ACX" train --resume "$T/six" --set run.total_env_steps=400

exit $fail
