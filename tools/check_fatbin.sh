#!/usr/bin/env bash
# Every CUDA object in the library carries device code for each target
# architecture (default 80 and 90). Usage: check_fatbin.sh CUOBJDUMP LIB ARCH...
set -u
cuobjdump=$1 lib=$2; shift 2
[ -x "$cuobjdump" ] || { echo "FAIL: cuobjdump not found (scripts/install_deps.sh fetches it)"; exit 1; }
listing=$("$cuobjdump" --list-elf "$lib") || { echo "FAIL: cuobjdump could not read $lib"; exit 1; }
objects=$(ar t "$lib" | grep '\.cu\.o$')
[ -n "$objects" ] || { echo "FAIL: no .cu objects in $lib"; exit 1; }
fail=0
for obj in $objects; do
  block=$(awk -v m="$obj" '/^member /{on = index($0, ":" m ":") > 0; next} on' <<<"$listing")
  for arch in "$@"; do
    if grep -q "sm_${arch}\.cubin" <<<"$block"; then echo "ok: $obj has sm_$arch code"
    else echo "FAIL: $obj has no sm_$arch code"; fail=1; fi
  done
done
exit $fail
