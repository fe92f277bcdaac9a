#!/usr/bin/env bash
# acx bench --compare on a noisy machine: a second run of the same build
# passes, and a 2x slowdown injected into one figure (the documented test
# hook ACX_BENCH_INJECT_SLOWDOWN) fails with exit 1, naming that figure.
# Also: --current compares saved files; unreadable or mismatched files exit 2.
# Usage: bench_regression.sh ACX_BINARY
set -u
acx=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# One thread: on a shared 2-core machine a 2-thread OpenMP barrier waits for
# descheduled threads, which is noise this test does not need (docs/benchmarks.md).
common=(--quick --device cpu --threads 1 --size 1024,256,256 --repeats 7)
fail() { echo "FAIL: $*"; for f in "$dir"/*.txt; do echo "--- $f"; cat "$f"; done; exit 1; }

# Run-to-run noise is not a regression. The gate judges fastest chunks and
# takes a second look before it fails (docs/benchmarks.md); a pair of runs is
# still retried here, baseline included, so that this test does not fail CI
# on the rare pair the gate itself would flag (about 1 in 20 under a busy
# neighbour): a real regression fails all three attempts.
again_ok=0
for attempt in 1 2 3; do
  "$acx" bench "${common[@]}" --json "$dir/base.json" >"$dir/base.txt" 2>&1 || fail "the baseline run failed"
  "$acx" bench "${common[@]}" --compare "$dir/base.json" --json "$dir/again.json" >"$dir/again.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] && { again_ok=1; break; }
  [ $rc -eq 1 ] || fail "the second run failed (exit $rc)"
  echo "note: attempt $attempt: the second run was flagged: $(grep '| REGRESSION |' "$dir/again.txt" | cut -d'|' -f2 | tr -d ' ' | tr '\n' ' ')"
done
[ $again_ok -eq 1 ] || fail "a second run of the same build was called a regression three times"
echo "ok: a second run passes"

# An injected 2x slowdown of env_step is caught and named, every time; that
# it is the only figure named may take a retry, each against a fresh
# baseline: a baseline that happened to be fast for another figure would
# otherwise flag that figure in every retry. (bench/gate_trials.sh measures
# the rates for 1.5x, 20 trials at a time.)
alone=0
for attempt in 1 2 3; do
  if [ $attempt -gt 1 ]; then
    "$acx" bench "${common[@]}" --json "$dir/sbase.json" >"$dir/sbase.txt" 2>&1 || fail "a fresh baseline run failed"
  else
    cp "$dir/base.json" "$dir/sbase.json"
  fi
  ACX_BENCH_INJECT_SLOWDOWN=env_step:2 "$acx" bench "${common[@]}" --compare "$dir/sbase.json" \
    --json "$dir/slow.json" >"$dir/slow.txt" 2>"$dir/slow_err.txt"
  rc=$?
  [ $rc -eq 1 ] || fail "the injected slowdown was not caught (exit $rc, expected 1)"
  grep -q '^| env_step/n=1024,b=256,h=256 |.*| REGRESSION |$' "$dir/slow.txt" || fail "the table does not flag env_step"
  grep -q 'regressed beyond 20%: env_step/n=1024,b=256,h=256$' "$dir/slow_err.txt" && { alone=1; break; }
  echo "note: attempt $attempt: another figure was flagged too: $(grep 'regressed beyond' "$dir/slow_err.txt")"
done
[ $alone -eq 1 ] || fail "the error line does not name env_step alone"
echo "ok: the injected 2x slowdown of env_step is caught"

# Instruction counts: a second run counts the same instructions, figure by
# figure, and a 1.5x slowdown of one op is caught and named alone.
if command -v valgrind >/dev/null 2>&1; then
  icommon=(--quick --size 256,64,32 --metric instructions)
  "$acx" bench "${icommon[@]}" --json "$dir/ibase.json" >"$dir/ibase.txt" 2>&1 || fail "the instruction baseline failed"
  "$acx" bench "${icommon[@]}" --compare "$dir/ibase.json" >"$dir/iagain.txt" 2>&1 || fail "a second count was flagged"
  rows=$(grep -cE '^\| [a-z_]+/n=256,b=64,h=32 \| .* \| (ok|faster|REGRESSION) \|$' "$dir/iagain.txt")
  same=$(grep -c '^| [a-z_]*/n=256,b=64,h=32 | .* | +0.0% | 1 | ok |$' "$dir/iagain.txt")
  [ "$rows" -ge 10 ] && [ "$same" = "$rows" ] || fail "a second count differs ($same of $rows figures unchanged)"
  ACX_BENCH_INJECT_SLOWDOWN=env_step:1.5 "$acx" bench "${icommon[@]}" --compare "$dir/ibase.json" \
    >"$dir/islow.txt" 2>"$dir/islow_err.txt"
  [ $? -eq 1 ] || fail "the injected slowdown was not caught in instruction counts"
  grep -q 'regressed beyond 20%: env_step/n=256,b=64,h=32$' "$dir/islow_err.txt" || fail "the counts did not name env_step alone"
  "$acx" bench --compare "$dir/ibase.json" --current "$dir/again.json" >"$dir/mixed.txt" 2>&1
  [ $? -eq 2 ] || fail "comparing counts with times did not exit 2"
  echo "ok: instruction counts repeat exactly; a 1.5x slowdown is caught; counts and times are not compared"
else
  echo "skip: valgrind is not installed (scripts/install_deps.sh installs it): no instruction-count checks"
fi

# Saved files: --current, and exit 2 for unreadable or mismatched ones.
"$acx" bench --compare "$dir/base.json" --current "$dir/again.json" >"$dir/cur.txt" 2>&1 || fail "--current of a passing run failed"
"$acx" bench --compare "$dir/base.json" --current "$dir/slow.json" >"$dir/cur_slow.txt" 2>&1
[ $? -eq 1 ] || fail "--current of the slow run did not exit 1"
echo '{"schema": "something else"}' >"$dir/bad.json"
"$acx" bench --compare "$dir/bad.json" --current "$dir/again.json" >"$dir/bad.txt" 2>&1
[ $? -eq 2 ] || fail "a foreign file did not exit 2"
"$acx" bench --compare "$dir/missing.json" --current "$dir/again.json" >"$dir/missing.txt" 2>&1
[ $? -eq 2 ] || fail "a missing file did not exit 2"
sed 's/"env": "pendulum"/"env": "lqr"/' "$dir/again.json" >"$dir/other_env.json"
"$acx" bench --compare "$dir/base.json" --current "$dir/other_env.json" >"$dir/other.txt" 2>&1
[ $? -eq 2 ] || fail "runs of different envs did not exit 2"
echo "ok: --current; unreadable and mismatched files exit 2"
