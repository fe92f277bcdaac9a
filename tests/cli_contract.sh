#!/usr/bin/env bash
# The CLI's contract: --version and --help succeed; an unknown command or
# flag is one line on stderr and exit 2; `devices` reports the CPU, the BLAS
# and the CUDA situation.
set -u
acx="$1"
fail=0
expect() {  # expect CODE DESCRIPTION -- ARGS...
  local want=$1 what=$2; shift 3
  local out err code
  out=$("$acx" "$@" 2>/tmp/acx_cli_err.$$); code=$?
  err=$(cat /tmp/acx_cli_err.$$); rm -f /tmp/acx_cli_err.$$
  if [ "$code" != "$want" ]; then echo "FAIL: $what: exit $code, want $want (stderr: $err)"; fail=1; return; fi
  if [ "$want" = 2 ] && [ "$(printf '%s\n' "$err" | grep -c .)" != 1 ]; then
    echo "FAIL: $what: want one line on stderr, got: $err"; fail=1; return
  fi
  echo "ok: $what"
  LAST_OUT=$out; LAST_ERR=$err
}
expect 0 "--version" -- --version
grep -q '^acx [0-9]' <<<"$LAST_OUT" || { echo "FAIL: --version prints '$LAST_OUT'"; fail=1; }
expect 0 "--help" -- --help
grep -q 'devices' <<<"$LAST_OUT" || { echo "FAIL: --help does not list devices"; fail=1; }
expect 2 "no command" --
expect 2 "unknown command" -- frobnicate
grep -q "frobnicate" <<<"$LAST_ERR" || { echo "FAIL: the error does not name the unknown command: $LAST_ERR"; fail=1; }
expect 2 "unknown flag" -- devices --frob
grep -q -- "--frob" <<<"$LAST_ERR" || { echo "FAIL: the error does not name the flag: $LAST_ERR"; fail=1; }
expect 0 "devices" -- devices
for key in '^cpu: ' '^blas: ' '^cuda'; do
  grep -q "$key" <<<"$LAST_OUT" || { echo "FAIL: devices lacks '$key': $LAST_OUT"; fail=1; }
done
exit $fail
