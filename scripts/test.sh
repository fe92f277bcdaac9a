#!/usr/bin/env bash
# Install what is missing, build every configuration this machine supports
# and run all tests with ctest:
#   cpu    CPU backend only, Release
#   cuda   CUDA backend (when nvcc exists): every kernel compiled for real
#          targets; CUDA tests skip visibly when no GPU is usable
#   asan   CPU only, AddressSanitizer + UndefinedBehaviorSanitizer
#   emu    the SIMT emulation: the kernels' CUDA source runs on the CPU
#   fuzz   clang + libFuzzer + ASan/UBSan: each parser of untrusted input
#          fuzzed for ACX_FUZZ_SECONDS (default 60) from its seed corpus
# Usage: scripts/test.sh [config ...]   (default: all that apply)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ACX_ROOT"

bash scripts/install_deps.sh || exit 1

nvcc=$(find_nvcc)
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=(cpu)
  [ -n "$nvcc" ] && configs+=(cuda)
  configs+=(asan emu fuzz)
fi

# The Python module and its pytest run in the cpu and cuda builds, with the
# pinned toolchain install_deps.sh put in .venv-py.
py=()
[ -x "$ACX_ROOT/.venv-py/bin/python" ] && py=(-DACX_PYTHON=ON "-DPython_EXECUTABLE=$ACX_ROOT/.venv-py/bin/python")

declare -A result seconds
total_pass=0; total_fail=0; total_skip=0; failed_configs=()
for cfg in "${configs[@]}"; do
  dir="build-$cfg"
  case $cfg in
    cpu)  args=(-DCMAKE_BUILD_TYPE=Release -DACX_CUDA=OFF "${py[@]}") ;;
    cuda) [ -n "$nvcc" ] || { echo "test.sh: no nvcc, cannot build cuda" >&2; exit 2; }
          args=(-DCMAKE_BUILD_TYPE=Release -DACX_CUDA=ON "-DCMAKE_CUDA_COMPILER=$nvcc" "${py[@]}") ;;
    asan) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DACX_CUDA=OFF -DACX_SANITIZE=ON -DACX_BUILD_BENCH=OFF) ;;
    emu)  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DACX_SIMT_EMULATION=ON -DACX_BUILD_BENCH=OFF -DACX_PYTHON=OFF) ;;
    fuzz) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DACX_CUDA=OFF -DACX_FUZZ=ON
                -DACX_BUILD_TESTS=OFF -DACX_BUILD_BENCH=OFF "-DACX_FUZZ_SECONDS=${ACX_FUZZ_SECONDS:-60}") ;;
    *) echo "test.sh: unknown configuration '$cfg' (cpu, cuda, asan, emu, fuzz)" >&2; exit 2 ;;
  esac
  echo "=== [$cfg] build ($dir)"
  start=$(date +%s)
  if ! configure_and_build "$dir" "${args[@]}"; then
    result[$cfg]="BUILD FAILED"; seconds[$cfg]=$(( $(date +%s) - start )); failed_configs+=("$cfg"); continue
  fi
  echo "=== [$cfg] test"
  log="$dir/ctest.log"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" -j "$ACX_JOBS" --output-on-failure 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  seconds[$cfg]=$(( $(date +%s) - start ))
  line=$(grep -E "tests passed, [0-9]+ tests failed out of" "$log" | tail -1)
  nfail=$(sed -nE 's/.*, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' <<<"$line")
  ntotal=$(sed -nE 's/.*failed out of ([0-9]+).*/\1/p' <<<"$line")
  nskip=$(grep -c "(Skipped)" "$log")
  nfail=${nfail:-0}; ntotal=${ntotal:-0}
  npass=$(( ntotal - nfail - nskip ))
  total_pass=$(( total_pass + npass )); total_fail=$(( total_fail + nfail )); total_skip=$(( total_skip + nskip ))
  if [ "$rc" != 0 ] || [ "$ntotal" = 0 ]; then
    result[$cfg]="FAILED ($nfail of $ntotal)"; failed_configs+=("$cfg")
    [ "$ntotal" = 0 ] && result[$cfg]="NO TESTS RAN"
  else
    result[$cfg]="ok: $npass passed, $nskip skipped"
  fi
done

echo
echo "=== summary"
for cfg in "${configs[@]}"; do printf '  %-5s %-40s %5ss\n' "$cfg" "${result[$cfg]}" "${seconds[$cfg]}"; done
[ "$total_skip" -gt 0 ] && echo "  (skipped tests are CUDA tests without a usable GPU; ctest lists each with its reason above)"
echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
[ ${#failed_configs[@]} -eq 0 ] || { echo "failed configurations: ${failed_configs[*]}"; exit 1; }
