"""acx from Python: acx's vectorized envs as Gymnasium vector envs, its trainer
and its trained policies (docs/python.md).

    import acx
    env = acx.make_vec("pendulum", 1024, seed=0)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    run_dir, summary = acx.train({"env.name": "pendulum", "run.total_env_steps": 20000}, out="runs/py")
    policy = acx.load_policy(f"{run_dir}/checkpoint.safetensors")
    actions = policy(obs)

Errors: what the `acx` command exits 2 for (bad input: an unknown env or
option, actions of the wrong shape or with NaN, a closed env) raises
ValueError; what it exits 1 for (a corrupt checkpoint, a run that diverged)
raises RuntimeError; the message is the command's.
"""
import json as _json
import os as _os

from . import _acx
from .policy import Policy, load_policy
from .train import train
from .vector import VectorEnv, make_vec

__version__ = _acx.version()

__all__ = ["envs", "make_vec", "VectorEnv", "train", "load_policy", "Policy", "__version__"]


def envs():
    """Every registered env (built-in, MuJoCo when built with it, custom), as
    `acx envs --json` lists them: a list of dicts with name, obs_dim, act_dim,
    state_dim, max_steps (the time limit), action and observation bounds
    (non-finite bounds as the strings "inf" and "-inf"), state_layout and
    source; simulator-backed envs add reference_id, engine and frame_skip."""
    return _json.loads(_acx.envs_json())
