#!/usr/bin/env bash
# Installs what acx needs on Debian 12, skipping what is already there.
# Uses sudo when not root. The CUDA toolkit is not installed here: when nvcc
# exists (/usr/local/cuda/bin or PATH) the CUDA backend is built as well.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-numpy python3-matplotlib python3-dev python3-venv
  libopenblas-openmp-dev libomp-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libtomlplusplus-dev libprotobuf-dev protobuf-compiler
  zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openmpi-bin libopenmpi-dev
  clang libclang-rt-dev valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# cuobjdump lists the GPU code in our objects (the CUDA build's check that
# sm_80 and sm_90 code is there). The toolkit here lacks it; NVIDIA ships it
# as a wheel on PyPI, unpacked into .tools/ (git-ignored).
install_cuobjdump() {
  local nvcc_path
  nvcc_path=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
  [ -n "$nvcc_path" ] || return 0
  command -v cuobjdump >/dev/null 2>&1 && return 0
  [ -x "$(dirname "$nvcc_path")/cuobjdump" ] && return 0
  local root dest tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dest="$root/.tools/cuda/bin"
  [ -x "$dest/cuobjdump" ] && return 0
  tmp=$(mktemp -d)
  echo "install_deps: fetching cuobjdump (PyPI nvidia-cuda-cuobjdump) into .tools/"
  if python3 -m pip download -q --no-deps -d "$tmp" "nvidia-cuda-cuobjdump==13.2.51" &&
     python3 -m zipfile -e "$tmp"/nvidia_cuda_cuobjdump-*.whl "$tmp/x"; then
    mkdir -p "$dest" && cp "$tmp/x/nvidia/cu13/bin/cuobjdump" "$dest/" && chmod +x "$dest/cuobjdump"
  else
    echo "install_deps: could not fetch cuobjdump; the fatbin check will report it missing" >&2
  fi
  rm -rf "$tmp"
}

# MuJoCo 4.0.0 (the mujoco-core wheel) and gymnasium 1.4.0's task models,
# pinned and hash-checked, into .tools/mujoco-4.0.0/ (git-ignored); CMake's
# ACX_MUJOCO=AUTO builds the MuJoCo tasks when they are there.
install_mujoco() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  python3 "$root/tools/fetch_mujoco.py" >/dev/null ||
    echo "install_deps: could not fetch MuJoCo; acx builds without the MuJoCo tasks" >&2
}

# The Python package's toolchain (docs/python.md), pinned, in .venv-py
# (git-ignored): nanobind and scikit-build-core build the module (Debian 12
# has no nanobind), numpy, gymnasium and pytest test it. CMake finds it with
# -DPython_EXECUTABLE=.venv-py/bin/python (scripts/test.sh passes it).
install_python() {
  local root venv stamp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="$root/.venv-py"
  stamp="$venv/.acx-pins"
  local pins=(nanobind==3.1.0 scikit-build-core==1.1.2 numpy==2.4.6 gymnasium==1.4.0 pytest==9.2.0)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then return 0; fi
  echo "install_deps: making .venv-py (${pins[*]})"
  if python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q "${pins[@]}"; then
    echo "${pins[*]}" >"$stamp"
  else
    echo "install_deps: could not make .venv-py; acx builds without its Python module" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  install_cuobjdump
  install_mujoco
  install_python
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
log=$(mktemp /tmp/acx-install-deps.XXXXXX.log)
echo "install_deps: installing ${missing[*]} (apt's output: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "install_deps: apt-get failed (the whole output is in $log)" >&2
  exit 1
fi
echo "install_deps: installed ${#missing[@]} packages"
install_cuobjdump
install_mujoco
install_python
