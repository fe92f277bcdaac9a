#!/usr/bin/env bash
# `pip install .` as a user runs it, into a fresh venv (docs/python.md):
# pip fetches the pinned build tools from PyPI, scikit-build-core builds
# acx._acx from the root CMakeLists.txt (CPU-only here, to keep CI short;
# the cuda build compiles the module with CUDA), and the installed package
# imports and steps an env outside the source tree. ctest runs it
# (python_pip_install).
#   scripts/check_pip_install.sh [PYTHON]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${1:-python3}
T=$(mktemp -d /tmp/acx-pip.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$PY" -m venv "$T/venv"
"$T/venv/bin/python" -m pip install -q --disable-pip-version-check \
  -Ccmake.define.ACX_CUDA=OFF "-Cbuild-dir=$T/build" "$ROOT"
cd "$T"
"$T/venv/bin/python" - <<'PYEOF'
import acx, numpy as np
assert acx.__file__.startswith(__import__("sys").prefix), acx.__file__  # the installed copy, not the source
names = [e["name"] for e in acx.envs()]
env = acx.make_vec("pendulum", 8, seed=0)
obs, _ = env.reset(seed=0)
for _ in range(10):
    obs, r, te, tr, info = env.step(np.zeros((8, 1), np.float32))
assert obs.shape == (8, 3) and np.all(np.isfinite(obs)) and np.all(r < 0)
print(f"pip install . ok: acx {acx.__version__} at {acx.__file__}, {len(names)} envs")
PYEOF
