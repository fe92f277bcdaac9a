# Shared by the scripts: where the sources are, and whether nvcc exists.
ACX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACX_JOBS="${ACX_JOBS:-$(nproc)}"

find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc
  elif [ -x /usr/local/cuda/bin/nvcc ]; then echo /usr/local/cuda/bin/nvcc
  fi
}

# configure_and_build DIR [cmake args...]
configure_and_build() {
  local dir=$1; shift
  cmake -S "$ACX_ROOT" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log" >&2; echo "configure failed: $dir" >&2; return 1; }
  cmake --build "$dir" -j "$ACX_JOBS"
}
