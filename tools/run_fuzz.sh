#!/usr/bin/env bash
# Fuzzes one target for a fixed time, from the seed corpus and every input a
# fuzzer ever found, without touching the repository's corpus.
#   tools/run_fuzz.sh FUZZER CORPUS_DIR REGRESSIONS_DIR SECONDS FINDINGS_DIR
# A finding (crash, sanitizer report, timeout, leak) fails with the input
# saved in FINDINGS_DIR: fix the cause, and keep the input as a regression
# (git add it under REGRESSIONS_DIR) so that every build replays it.
set -u
fuzzer=$1 corpus=$2 regressions=$3 seconds=$4 findings=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
mkdir -p "$findings"
inputs=("$work")
[ -d "$regressions" ] && inputs+=("$regressions")
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
  -artifact_prefix="$findings/" "${inputs[@]}" >"$work.log" 2>&1
rc=$?
grep -E "^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY" "$work.log" | tail -n 8
if [ "$rc" != 0 ]; then
  tail -n 60 "$work.log"
  echo "run_fuzz: $(basename "$fuzzer") found an input that fails (saved in $findings/); fix the cause and add the input to $regressions/"
fi
rm -f "$work.log"
exit "$rc"
