#!/usr/bin/env python3
"""Drive gymnasium's own Pendulum-v1 (or another gymnasium env with the same
observation layout, such as the MuJoCo v5 tasks) with the actor of an acx
checkpoint, to show the policy acx learned works outside acx.

    python3 tools/eval_in_gymnasium.py runs/pendulum-td3-seed1/checkpoint.safetensors \
        [--env-id Pendulum-v1] [--episodes 10] [--agent 0] [--min-return -200]

Reads the checkpoint with a few lines of json + numpy (the safetensors layout:
8-byte header length, JSON header, raw little-endian data), takes the tensors
actor.layers.{l}.weight (K, out, in) and actor.layers.{l}.bias (K, out) of
agent --agent, and runs the actor in float64: ReLU hidden layers, then
a = mid + half * tanh(z) with mid/half from the checkpoint's action bounds.
A SAC actor (the checkpoint's "algo" is "sac") has 2 act_dim outputs, the
means then the log-stds; its deterministic action is mid + half * tanh of
the means.
Shares no code with acx. Installs the pinned gymnasium into a private venv on
first use (tools/pinned_venv.py): 1.0.0 for the classic-control ids, and for
the MuJoCo "-v5" ids gymnasium[mujoco] 1.4.0 with MuJoCo 4.0.0, the versions
acx's MuJoCo tasks copy (tools/gen_mujoco_fixtures.py pins them). A checkpoint
trained with observation normalization is refused (the script would have to
copy acx's normalizer).
An id "dm_control/DOMAIN-TASK" (dm_control/cartpole-swingup, acx's
dmc-cartpole-swingup) runs dm_control's suite.load(DOMAIN, TASK) instead,
in the venv of tools/gen_dmc_fixtures.py, with the observation dict
flattened in its order.
Prints JSON; exits 1 when the mean return is below --min-return.
"""
import argparse
import json
import os
import sys
import tempfile

import pinned_venv

GYMNASIUM_VERSION = "1.0.0"


def ensure_gymnasium(env_id):
    if env_id.startswith("dm_control/"):
        from gen_dmc_fixtures import PINS
        pinned_venv.run_inside("dm-control", PINS, "import dm_control.suite, mujoco")
        return
    if env_id.endswith("-v5"):
        from gen_mujoco_fixtures import PINS
        pinned_venv.run_inside("gym-mujoco", PINS,
                               "import gymnasium, gymnasium.envs.mujoco, mujoco; assert mujoco.__version__ == '4.0.0'")
        return
    pinned_venv.run_inside("gym-eval", [f"gymnasium=={GYMNASIUM_VERSION}", "numpy"],
                           f"import numpy, gymnasium; assert gymnasium.__version__ == {GYMNASIUM_VERSION!r}")


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "U32": np.uint32}
    data = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data[b:e], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--env-id", default="Pendulum-v1")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--agent", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--min-return", type=float, default=None)
    args = ap.parse_args()
    args.checkpoint = os.path.abspath(args.checkpoint)
    ensure_gymnasium(args.env_id)
    if args.env_id.endswith("-v5") or args.env_id.startswith("dm_control/"):
        os.chdir(tempfile.gettempdir())  # MuJoCo's log file stays out of the caller's folder
    import numpy as np

    tensors, meta = read_safetensors(args.checkpoint)
    if any(k.startswith("obs_norm.") for k in tensors):
        sys.exit("this checkpoint normalizes observations; eval_in_gymnasium.py runs plain actors only")
    layers = json.loads(meta["actor_layers"])
    low = np.array(json.loads(meta["action_low"]), dtype=np.float64)
    high = np.array(json.loads(meta["action_high"]), dtype=np.float64)
    mid, half = (high + low) / 2, (high - low) / 2
    act_dim = len(low)
    sac = meta.get("algo") == "sac"
    # A SAC actor's last layer is identity with 2 act_dim outputs (mean, raw
    # log-std); checkpoints written before acx recorded that say tanh_scaled.
    if sac and layers[-1]["out"] not in (act_dim, 2 * act_dim):
        sys.exit(f"actor_layers: a SAC actor's last layer has {layers[-1]['out']} outputs, not {2 * act_dim}")
    W = [tensors[f"actor.layers.{l}.weight"][args.agent].astype(np.float64) for l in range(len(layers))]
    b = [tensors[f"actor.layers.{l}.bias"][args.agent].astype(np.float64) for l in range(len(layers))]

    def actor(obs):
        h = np.asarray(obs, dtype=np.float64)
        for l in range(len(layers)):
            z = W[l] @ h + b[l]
            h = np.maximum(z, 0.0) if l + 1 < len(layers) else mid + half * np.tanh(z[:act_dim] if sac else z)
        return h.astype(np.float32)

    returns = []
    if args.env_id.startswith("dm_control/"):
        os.environ.setdefault("MUJOCO_GL", "disable")
        import importlib.metadata
        from dm_control import suite
        domain, _, task = args.env_id[len("dm_control/"):].partition("-")
        flat = lambda o: np.concatenate([np.ravel(v) for v in o.values()])  # noqa: E731
        for ep in range(args.episodes):
            env = suite.load(domain, task, task_kwargs={"random": args.seed + ep})
            ts = env.reset()
            total = 0.0
            while not ts.last():
                ts = env.step(actor(flat(ts.observation)).astype(np.float64))
                total += float(ts.reward)
            returns.append(total)
        versions = {"dm_control": importlib.metadata.version("dm_control")}
    else:
        import gymnasium as gym
        env = gym.make(args.env_id)
        for ep in range(args.episodes):
            obs, _ = env.reset(seed=args.seed + ep)
            total, done = 0.0, False
            while not done:
                obs, r, terminated, truncated, _ = env.step(actor(obs))
                total += float(r)
                done = terminated or truncated
            returns.append(total)
        versions = {"gymnasium": gym.__version__}
    mean = float(np.mean(returns))
    out = {"checkpoint": args.checkpoint, "env_id": args.env_id, **versions,
           "agent": args.agent, "episodes": args.episodes, "mean_return": mean,
           "std_return": float(np.std(returns)), "returns": returns}
    print(json.dumps(out, indent=1))
    if args.min_return is not None and mean < args.min_return:
        print(f"mean return {mean:.1f} is below {args.min_return}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
