#!/usr/bin/env bash
# Fresh Debian 12 machine to a trained agent: install what is missing, build
# Release into build/, show the devices, and train TD3 on pendulum with the
# defaults (about two minutes on two CPU cores), ending with the run's summary.
# Extra arguments go to `acx train` (e.g. scripts/quickstart.sh --env lqr).
# MuJoCo: scripts/quickstart.sh --env half-cheetah trains TD3 on gymnasium's
# HalfCheetah-v5 (MuJoCo 4.0.0, fetched by install_deps; 1M steps by default,
# add --set run.total_env_steps=200000 for a shorter run; docs/envs.md).
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
out="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--env pendulum --algo td3)
echo "quickstart: build/acx train ${args[*]} --out $out"
./build/acx train "${args[@]}" --out "$out"
echo "quickstart: done; metrics, checkpoint, learning_curve.png and summary.json are in $out/"
if ./build/acx envs | grep -q '^half-cheetah '; then
  echo "quickstart: MuJoCo tasks are built in too: scripts/quickstart.sh --env half-cheetah (acx envs lists them)"
fi
