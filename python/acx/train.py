"""acx train from Python."""
import json
import os

from . import _acx


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ValueError(f"cannot give {v!r} ({type(v).__name__}) as an acx option value")


def _flatten(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def train(config=None, *, overrides=(), out=None, env=None, device=None, resume=False, quiet=False):
    """Runs the trainer of `acx train` and returns (run_dir, summary).

    config: a dict of options ({"algo.name": "sac"} or nested {"algo": {"name":
      "sac"}}, keys as `acx train --print-options` lists them), or the path of
      a TOML file, or None (the env's defaults).
    overrides: more "key=value" strings, applied last (as --set).
    out: the run directory (created; refused if it holds a run); resume=True
      continues the run in `out`.
    env: the env's name (else config's env.name, else pendulum's defaults).
    device: "cpu", "cuda", "cuda:N" or "auto", as run.device (`acx train
      --device`); None: the config's run.device (default auto), and a resumed
      run keeps its own.
    The progress line goes to stderr unless quiet. summary is summary.json
    as a dict. Bad options raise ValueError with the command's message.
    """
    if out is None:
        raise ValueError("give out= the run directory")
    config_file, sets = "", []
    if isinstance(config, (str, os.PathLike)):
        config_file = os.fspath(config)
    elif isinstance(config, dict):
        for k, v in _flatten(config):
            if k == "env.name" and env is None:
                env = v
                continue
            sets.append(f"{k}={_toml_value(v)}")
    elif config is not None:
        raise ValueError(f"config must be a dict, a TOML path or None, got {type(config).__name__}")
    sets += [str(o) for o in overrides]
    run_dir, summary = _acx.train(env or "", config_file, sets, os.fspath(out), device or "", bool(resume), bool(quiet))
    return run_dir, json.loads(summary)
