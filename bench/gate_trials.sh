#!/usr/bin/env bash
# How often does `acx bench --compare` cry wolf, and how often does it miss a
# slowdown, on a machine another job is using? Each trial takes a baseline,
# compares a second run of the same build with it (a flag is a false alarm),
# and compares a run with a slowdown injected into one op (a pass is a miss).
#
#   bench/gate_trials.sh ACX TRIALS [OUT.json]
#
# Environment: COMPETITOR=1 (default) runs bench/competitor.py (2 threads of
# BLAS) for the whole measurement; INJECT (default actor_forward:1.5) is the
# slowdown (ACX_BENCH_INJECT_SLOWDOWN's syntax); BENCH_ARGS (default
# "--quick --device cpu --threads 1") are the gate's own options.
set -u
acx=$(realpath "$1"); trials=$2; out=${3:-gate_trials.json}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inject=${INJECT:-actor_forward:1.5}
read -r -a args <<<"${BENCH_ARGS:---quick --device cpu --threads 1}"
dir=$(mktemp -d)
competitor=""
cleanup() { [ -n "$competitor" ] && kill "$competitor" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
if [ "${COMPETITOR:-1}" = 1 ]; then
  /usr/bin/python3 "$here/competitor.py" --threads 2 2>/dev/null &
  competitor=$!
  sleep 2
fi
false_alarms=0; caught=0; other_flags=0; second_looks=0
rows=()
for t in $(seq 1 "$trials"); do
  "$acx" bench "${args[@]}" --json "$dir/base.json" >/dev/null 2>&1 || { echo "trial $t: the baseline failed"; exit 2; }
  "$acx" bench "${args[@]}" --compare "$dir/base.json" >"$dir/self.txt" 2>"$dir/self.err"
  self_rc=$?
  ACX_BENCH_INJECT_SLOWDOWN=$inject "$acx" bench "${args[@]}" --compare "$dir/base.json" >"$dir/slow.txt" 2>"$dir/slow.err"
  slow_rc=$?
  [ "$self_rc" = 1 ] && false_alarms=$((false_alarms + 1))
  flagged=$(grep -o 'regressed beyond [0-9]*%: .*' "$dir/slow.err" | sed 's/.*%: //')
  kernel=${inject%%:*}
  if [ "$slow_rc" = 1 ] && grep -q "$kernel/" <<<"$flagged"; then caught=$((caught + 1)); fi
  others=$(sed 's/, /\n/g' <<<"$flagged" | grep -v "^$kernel/" | grep -c . || true)
  other_flags=$((other_flags + others))
  grep -q "measuring again" "$dir/self.err" && second_looks=$((second_looks + 1))
  self_flags=$(grep -o 'regressed beyond [0-9]*%: .*' "$dir/self.err" | sed 's/.*%: //')
  echo "trial $t: self-compare exit $self_rc${self_flags:+ ($self_flags)}; injected exit $slow_rc (${flagged:-nothing flagged})"
  rows+=("{\"trial\": $t, \"self_exit\": $self_rc, \"self_flagged\": \"$self_flags\", \"injected_exit\": $slow_rc, \"injected_flagged\": \"$flagged\"}")
done
summary="self-compares flagged: $false_alarms of $trials; injected $inject caught: $caught of $trials; other figures flagged in injected runs: $other_flags; second looks taken in self-compares: $second_looks"
echo "$summary"
{
  echo "{\"acx\": \"$acx\", \"args\": \"${args[*]}\", \"inject\": \"$inject\", \"competitor\": ${COMPETITOR:-1},"
  echo " \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"summary\": \"$summary\", \"trials\": ["
  (IFS=,; echo "${rows[*]}")
  echo "]}"
} >"$out"
