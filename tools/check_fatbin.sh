#!/usr/bin/env bash
# Every CUDA object in the library carries device code for each target
# architecture (default 80 and 90): the SASS (sm_XY.cubin) that runs on that
# GPU family, and the PTX (sm_XY.ptx) that the driver compiles for any later
# GPU (kernels/runtime/device.h: what --device auto checks against).
# Usage: check_fatbin.sh CUOBJDUMP LIB ARCH...
set -u
cuobjdump=$1 lib=$2; shift 2
[ -x "$cuobjdump" ] || { echo "FAIL: cuobjdump not found (scripts/install_deps.sh fetches it)"; exit 1; }
elf=$("$cuobjdump" --list-elf "$lib") || { echo "FAIL: cuobjdump could not read $lib"; exit 1; }
ptx=$("$cuobjdump" --list-ptx "$lib") || { echo "FAIL: cuobjdump could not list the PTX of $lib"; exit 1; }
objects=$(ar t "$lib" | grep '\.cu\.o$')
[ -n "$objects" ] || { echo "FAIL: no .cu objects in $lib"; exit 1; }
fail=0
member() { awk -v m="$1" '/^member /{on = index($0, ":" m ":") > 0; next} on'; }
for obj in $objects; do
  eblock=$(member "$obj" <<<"$elf")
  pblock=$(member "$obj" <<<"$ptx")
  for arch in "$@"; do
    if grep -q "sm_${arch}\.cubin" <<<"$eblock"; then echo "ok: $obj has sm_$arch code"
    else echo "FAIL: $obj has no sm_$arch code"; fail=1; fi
  done
  # The newest architecture's PTX: what a GPU newer than every target runs.
  newest=$(printf '%s\n' "$@" | sort -n | tail -1)
  if grep -q "sm_${newest}\.ptx" <<<"$pblock"; then echo "ok: $obj has compute_$newest PTX"
  else echo "FAIL: $obj has no compute_$newest PTX (a GPU newer than sm_$newest could not run it)"; fail=1; fi
done
exit $fail
