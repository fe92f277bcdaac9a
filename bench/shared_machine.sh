#!/usr/bin/env bash
# The quickstart's training (TD3 on pendulum, the defaults) on a quiet machine
# and beside a 2-thread job (bench/competitor.py), wall time each, and the
# ratio. Extra arguments go to `acx train` in both runs (e.g. --set
# run.threads=2 to see a fixed thread count instead of the governor).
#
#   bench/shared_machine.sh ACX [acx train args...]
set -u
acx=$(realpath "$1"); shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir=$(mktemp -d)
competitor=""
trap '[ -n "$competitor" ] && kill "$competitor" 2>/dev/null; rm -rf "$dir"' EXIT

timed() {  # timed NAME: trains into DIR/NAME, prints the wall seconds
  local start end
  start=$(date +%s.%N)
  "$acx" train --env pendulum --algo td3 --device cpu "$@" --out "$dir/$name" >"$dir/$name.json" 2>"$dir/$name.err" ||
    { echo "shared_machine: the $name run failed:" >&2; tail -3 "$dir/$name.err" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
name=quiet; quiet=$(timed "$@")
/usr/bin/python3 "$here/competitor.py" --threads 2 2>/dev/null &
competitor=$!
sleep 2
name=busy; busy=$(timed "$@")
kill "$competitor"; competitor=""
threads() { grep -o '"cpu_threads": "[^"]*"' "$dir/$1.json" | sed 's/"cpu_threads": //'; }
printf 'quiet: %.1f s (%s)\nbeside a 2-thread job: %.1f s (%s)\nratio: %.2f\n' "$quiet" "$(threads quiet)" "$busy" \
  "$(threads busy)" "$(echo "$busy / $quiet" | bc -l)"
