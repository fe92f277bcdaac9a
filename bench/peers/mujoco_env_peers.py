#!/usr/bin/env python3
"""MuJoCo env stepping: acx next to EnvPool, gymnasium's SyncVectorEnv and
the physics alone, on the same machine, in one run.

    python3 bench/peers/mujoco_env_peers.py --acx-bench build-cpu/acx_bench_kernels [--rounds 3]

Every round measures, one after the other, each of:
  - acx: BM_EnvStep (VecEnv::step: physics, observation, reward, auto-reset)
    and BM_RawMjStep (frame_skip x mj_step per env on one model copy per
    thread: the ceiling) from acx_bench_kernels, for HalfCheetah, Hopper and
    Ant at 1, 64 and 1024 envs;
  - EnvPool (PyPI envpool, pinned below; it bundles its own MuJoCo):
    make_gymnasium("<Task>-v5"), synchronous (batch_size = num_envs),
    num_threads = the threads acx uses (1 for a single env);
  - gymnasium 1.4.0's SyncVectorEnv of gym.make("<Task>-v5") on MuJoCo 4.0.0
    (one Python thread, whatever the machine has).
Actions are fixed random values; every side auto-resets. Rounds interleave
the sides so that a noisy stretch of the machine hits them alike; the table
gives the median over rounds (and min..max) and the ratios of the medians.
Writes --json (default bench/results/mujoco_env_peers.json).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from env_peers import timed  # noqa: E402  (steps/s of a step function, after a warm-up)

PINS = ["envpool==1.2.5", "gymnasium[mujoco]==1.4.0", "mujoco==4.0.0", "numpy==2.4.6"]
TASKS = {"half-cheetah": "HalfCheetah-v5", "hopper": "Hopper-v5", "ant": "Ant-v5"}
SIZES = [1, 64, 1024]


def ensure_venv():
    pinned_venv.run_inside("mujoco-peers", PINS,
                           "import envpool, gymnasium, gymnasium.envs.mujoco, mujoco; "
                           "assert mujoco.__version__ == '4.0.0'")


def actions(space, n, np):
    low, high = space.low, space.high
    return np.random.default_rng(0).uniform(low, high, size=(n,) + low.shape).astype(np.float32)


def bench_envpool(task, n, threads, seconds):
    import envpool
    import numpy as np
    env = envpool.make_gymnasium(task, num_envs=n, batch_size=n, num_threads=min(threads, n), seed=1)
    env.reset()
    act = actions(env.action_space, n, np)
    rate = timed(lambda: env.step(act), n, seconds, repeats=1)
    env.close()
    return rate


def bench_gymnasium(task, n, seconds):
    import gymnasium as gym
    import numpy as np
    env = gym.vector.SyncVectorEnv([lambda: gym.make(task) for _ in range(n)])
    env.reset(seed=1)
    act = actions(env.single_action_space, n, np)
    rate = timed(lambda: env.step(act), n, seconds, repeats=1)
    env.close()
    return rate


def bench_acx(binary):
    flt = "BM_(EnvStep|RawMjStep)/(" + "|".join(t.replace("-", "_") for t in TASKS) + ")/"
    r = subprocess.run([binary, "--benchmark_filter=" + flt, "--benchmark_format=json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{binary} failed:\n{r.stderr}")
    data = json.loads(r.stdout)
    out = {}
    for b in data["benchmarks"]:
        kind, env, n = b["name"].split("/")[:3]
        out[("acx" if kind == "BM_EnvStep" else "ceiling", env.replace("_", "-"), int(n))] = b["env_steps_per_s"]
    return out, data["context"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acx-bench", required=True, help="acx_bench_kernels of a CPU build with MuJoCo")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per peer figure per round")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results",
                                                   "mujoco_env_peers.json"))
    args = ap.parse_args()
    acx_bench = os.path.abspath(args.acx_bench)
    out_json = os.path.abspath(args.json)
    ensure_venv()
    import envpool
    import gymnasium
    import mujoco

    samples = {}  # (side, env, n) -> [rates]
    context = None
    for rnd in range(args.rounds):
        figures, context = bench_acx(acx_bench)
        for k, v in figures.items():
            samples.setdefault(k, []).append(v)
        for env, task in TASKS.items():
            for n in SIZES:
                samples.setdefault(("envpool", env, n), []).append(bench_envpool(task, n, args.threads, args.seconds))
                samples.setdefault(("gymnasium", env, n), []).append(bench_gymnasium(task, n, args.seconds))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in samples.items()}
    fmt = lambda x: f"{x / 1e3:.1f}k"  # noqa: E731
    rng = lambda k: f"{fmt(min(samples[k]))}..{fmt(max(samples[k]))}"  # noqa: E731
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; acx_bench_kernels "
          f"threads {args.threads}; envpool {envpool.__version__} (its own MuJoCo), gymnasium "
          f"{gymnasium.__version__} on MuJoCo {mujoco.__version__}; {args.rounds} rounds, median (min..max) "
          f"env-steps/s")
    print("| task | envs | acx | EnvPool | gymnasium Sync | mj_step ceiling | acx / EnvPool | acx / ceiling | "
          "acx / gymnasium |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for env in TASKS:
        for n in SIZES:
            a, p, g, c = (med[(s, env, n)] for s in ("acx", "envpool", "gymnasium", "ceiling"))
            rows.append({"task": env, "n_envs": n, "acx": samples[("acx", env, n)],
                         "envpool": samples[("envpool", env, n)], "gymnasium": samples[("gymnasium", env, n)],
                         "ceiling": samples[("ceiling", env, n)], "acx_over_envpool": a / p,
                         "acx_over_ceiling": a / c, "acx_over_gymnasium": a / g})
            print(f"| {env} | {n} | {fmt(a)} ({rng(('acx', env, n))}) | {fmt(p)} ({rng(('envpool', env, n))}) | "
                  f"{fmt(g)} | {fmt(c)} ({rng(('ceiling', env, n))}) | {a / p:.2f}x | {a / c:.0%} | {a / g:.1f}x |")
    os.makedirs(os.path.dirname(out_json), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump({"rows": rows, "threads": args.threads, "rounds": args.rounds, "acx_context": context,
                   "envpool": envpool.__version__, "gymnasium": gymnasium.__version__,
                   "mujoco": mujoco.__version__, "machine": platform.processor() or platform.machine()}, f,
                  indent=1)
    print(f"wrote {out_json}")


if __name__ == "__main__":
    main()
