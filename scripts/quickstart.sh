#!/usr/bin/env bash
# Fresh Debian 12 machine to a running acx: install what is missing, build
# Release into build/, and run the main job with defaults.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ACX_ROOT"

bash scripts/install_deps.sh
mkdir -p build
cuda_flag=-DACX_CUDA=OFF
nvcc=$(find_nvcc)
[ -n "$nvcc" ] && cuda_flag="-DACX_CUDA=ON -DCMAKE_CUDA_COMPILER=$nvcc"
echo "quickstart: building Release into build/ ($cuda_flag)"
# shellcheck disable=SC2086
configure_and_build build -DCMAKE_BUILD_TYPE=Release -DACX_BUILD_TESTS=OFF $cuda_flag
echo "quickstart: build/acx devices"
./build/acx devices
