"""Private virtual environments with pinned PyPI packages, for the scripts
that run a reference or a peer (gymnasium fixtures, EnvPool, CleanRL, torch).

    import pinned_venv
    pinned_venv.run_inside("gym-fixtures", ["gymnasium==1.0.0"], probe="import gymnasium")

A venv lives in $TMPDIR/acx-NAME-venv (or where the variable ACX_NAME_VENV
says, NAME upper-cased with '-' as '_'), is made on first use, and gets its
packages when `probe` fails inside it. Nothing is installed into the
system's Python.
"""
import os
import subprocess
import sys

_INSIDE = "ACX_PINNED_VENV_INSIDE"


def venv_dir(name):
    var = "ACX_" + name.upper().replace("-", "_") + "_VENV"
    return os.environ.get(var, os.path.join(os.environ.get("TMPDIR", "/tmp"), f"acx-{name}-venv"))


def venv_python(name, packages, probe, install=None):
    """The venv's python, made and filled when `probe` (Python source) fails in it.

    packages: pip requirements installed when the probe fails; install(py), when
    given, runs after them for what a plain `pip install` cannot do.
    """
    venv = venv_dir(name)
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", venv])
    if subprocess.run([py, "-c", probe], capture_output=True).returncode != 0:
        if packages:
            subprocess.check_call([py, "-m", "pip", "install", "-q"] + list(packages))
        if install:
            install(py)
        if subprocess.run([py, "-c", probe], capture_output=True).returncode != 0:
            sys.exit(f"pinned_venv: after installing {packages} into {venv}, `{probe}` still fails")
    return py


def run_inside(name, packages, probe, install=None):
    """Returns when `probe` succeeds in this interpreter; otherwise re-executes
    the calling script, same arguments, with the venv's python."""
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        return
    if os.environ.get(_INSIDE):
        sys.exit(f"pinned_venv: `{probe}` fails inside the venv {venv_dir(name)}")
    py = venv_python(name, packages, probe, install)
    os.environ[_INSIDE] = "1"
    os.execv(py, [py] + sys.argv)
