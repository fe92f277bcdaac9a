# Shared by the scripts: where the sources are, and whether nvcc exists.
ACX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACX_JOBS="${ACX_JOBS:-$(nproc)}"

find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc
  elif [ -x /usr/local/cuda/bin/nvcc ]; then echo /usr/local/cuda/bin/nvcc
  fi
}

# configure_and_build DIR [cmake args...]: configures DIR and builds it. The
# compiler's output goes to DIR/build.log; the terminal gets one progress
# line (redrawn on a terminal, every quarter in a log) and, on failure, the
# failing step's errors. A warning is counted and named in the last line.
configure_and_build() {
  local dir=$1; shift
  mkdir -p "$dir"
  cmake -S "$ACX_ROOT" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log" >&2; echo "configure failed: $dir" >&2; return 1; }
  local log="$dir/build.log" start=$SECONDS tty=0 shown=-1 rc
  [ -t 1 ] && tty=1
  cmake --build "$dir" -j "$ACX_JOBS" >"$log" 2>&1 &
  local pid=$!
  # Follow the log rather than a pipe, so that the build's exit code is its own.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    local last pct
    last=$(grep -oE '^\[[0-9]+/[0-9]+\]' "$log" | tail -n 1 | tr -d '[]' || true)
    [ -n "$last" ] || continue
    pct=$(( 100 * ${last%/*} / ${last#*/} ))
    if [ $tty = 1 ]; then printf '\r  building %s: %3d%% (%s steps)' "$dir" "$pct" "$last"
    elif [ $(( pct / 25 )) -gt $shown ]; then shown=$(( pct / 25 )); echo "  building $dir: $pct% ($last steps)"; fi
  done
  # (Written so that a caller's `set -e` sees the failure only after it is reported.)
  if wait "$pid"; then rc=0; else rc=$?; fi
  if [ $tty = 1 ]; then printf '\n'; fi
  if [ $rc != 0 ]; then
    grep -m 1 -A 60 '^FAILED:' "$log" >&2 || tail -n 60 "$log" >&2
    echo "build failed: $dir (the whole compiler output is in $log)" >&2
    return 1
  fi
  local warnings
  warnings=$(grep -c 'warning:' "$log" || true)
  if [ "$warnings" -gt 0 ]; then
    echo "  built $dir in $(( SECONDS - start ))s with $warnings compiler warning(s): see $log"
  else
    echo "  built $dir in $(( SECONDS - start ))s, no warnings (compiler output: $log)"
  fi
}
