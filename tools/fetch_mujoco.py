#!/usr/bin/env python3
"""Fetches the MuJoCo C library and gymnasium's MuJoCo models, pinned, into
.tools/mujoco-<version>/ (git-ignored), for the build's MuJoCo tasks:

  lib/libmujoco.so.<version>   from the mujoco-core wheel (PyPI)
  include/mujoco/*.h           from the same wheel
  assets/*.xml                 gymnasium's envs/mujoco/assets, from its wheel
  assets/dm_control/           dm_control's suite/cartpole.xml and the common/
                               files it includes, from dm_control's wheel

Nothing of either project is committed to acx: the wheels are fetched here,
checked against the hashes below, and unpacked. Run by scripts/install_deps.sh;
prints the folder it filled. Does nothing when the folder is already complete.

    python3 tools/fetch_mujoco.py [--dest DIR]
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

MUJOCO_VERSION = "4.0.0"
GYMNASIUM_VERSION = "1.4.0"
DM_CONTROL_VERSION = "1.0.52"
# sha256 of the wheels these versions name on PyPI (CPython 3.11, manylinux x86-64).
WHEELS = {
    f"mujoco-core=={MUJOCO_VERSION}": (
        "mujoco_core-4.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "885bd9b9cc0a6b5ba1114923eb954027652a6a0c115fa46b3218b83bae72ac4f"),
    f"gymnasium=={GYMNASIUM_VERSION}": (
        "gymnasium-1.4.0-py3-none-any.whl",
        "1cb947c59e7c72d8eabb2c2274c00cd20948e69f8452a9ef4092223be24fdf0e"),
    f"dm_control=={DM_CONTROL_VERSION}": (
        "dm_control-1.0.52-py3-none-any.whl",
        "342505f32e041532dcdda0368b61df935ca04efa853b27dae522f615877a0fc3"),
}
# The models of gymnasium's v5 tasks that acx runs (envs/mujoco/tasks.cpp).
ASSETS = ["ant.xml", "half_cheetah.xml", "hopper.xml", "humanoid.xml", "humanoidstandup.xml",
          "inverted_double_pendulum.xml", "inverted_pendulum.xml", "pusher_v5.xml", "reacher.xml",
          "swimmer.xml", "walker2d_v5.xml"]
# dm_control's models (dmc-cartpole-swingup), kept in their suite layout so
# that the includes resolve: suite/<file> -> assets/dm_control/<file>.
DM_CONTROL_ASSETS = ["cartpole.xml", "common/skybox.xml", "common/visual.xml", "common/materials.xml"]


def complete(dest):
    need = [os.path.join("lib", f"libmujoco.so.{MUJOCO_VERSION}"), os.path.join("include", "mujoco", "mujoco.h"),
            os.path.join("include", "mujoco", "mjbatch.h"), "VERSION"] + [os.path.join("assets", a) for a in ASSETS] + \
        [os.path.join("assets", "dm_control", a) for a in DM_CONTROL_ASSETS]
    if not all(os.path.isfile(os.path.join(dest, p)) for p in need):
        return False
    # A folder filled by an older version of this script is refetched.
    with open(os.path.join(dest, "VERSION")) as f:
        return f.read() == version_text()


def version_text():
    return f"mujoco {MUJOCO_VERSION}\ngymnasium {GYMNASIUM_VERSION}\ndm_control {DM_CONTROL_VERSION}\n"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", default=os.path.join(root, ".tools", f"mujoco-{MUJOCO_VERSION}"))
    args = ap.parse_args()
    dest = args.dest
    if complete(dest):
        print(dest)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for req, (fname, digest) in WHEELS.items():
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-d", tmp, req]
            if subprocess.run(cmd).returncode != 0:
                sys.exit(f"fetch_mujoco: pip could not download {req} (is PyPI reachable?)")
            got = sha256(os.path.join(tmp, fname))
            if got != digest:
                sys.exit(f"fetch_mujoco: {fname} has sha256 {got}, expected {digest}; refusing to use it")
        staging = dest + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(os.path.join(staging, "lib"))
        os.makedirs(os.path.join(staging, "assets"))
        with zipfile.ZipFile(os.path.join(tmp, WHEELS[f"mujoco-core=={MUJOCO_VERSION}"][0])) as z:
            for n in z.namelist():
                if n.startswith("mujoco/include/mujoco/") and n.endswith(".h"):
                    out = os.path.join(staging, "include", "mujoco", os.path.basename(n))
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    with open(out, "wb") as f:
                        f.write(z.read(n))
            lib = os.path.join(staging, "lib", f"libmujoco.so.{MUJOCO_VERSION}")
            with open(lib, "wb") as f:
                f.write(z.read(f"mujoco/libmujoco.so.{MUJOCO_VERSION}"))
            os.chmod(lib, 0o755)
            os.symlink(f"libmujoco.so.{MUJOCO_VERSION}", os.path.join(staging, "lib", "libmujoco.so"))
            lic = [n for n in z.namelist() if n.endswith("LICENSE") and "dist-info" in n]
            if lic:
                with open(os.path.join(staging, "LICENSE.mujoco"), "wb") as f:
                    f.write(z.read(lic[0]))
        with zipfile.ZipFile(os.path.join(tmp, WHEELS[f"gymnasium=={GYMNASIUM_VERSION}"][0])) as z:
            for a in ASSETS:
                with open(os.path.join(staging, "assets", a), "wb") as f:
                    f.write(z.read(f"gymnasium/envs/mujoco/assets/{a}"))
        with zipfile.ZipFile(os.path.join(tmp, WHEELS[f"dm_control=={DM_CONTROL_VERSION}"][0])) as z:
            for a in DM_CONTROL_ASSETS:
                out = os.path.join(staging, "assets", "dm_control", a)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with open(out, "wb") as f:
                    f.write(z.read(f"dm_control/suite/{a}"))
        with open(os.path.join(staging, "VERSION"), "w") as f:
            f.write(version_text())
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(staging, dest)
    if not complete(dest):
        sys.exit(f"fetch_mujoco: {dest} is incomplete after unpacking")
    print(dest)


if __name__ == "__main__":
    main()
