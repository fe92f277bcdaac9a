#!/usr/bin/env python3
"""Stepping from a Python loop: acx's Python package next to EnvPool and
gymnasium's SyncVectorEnv, on the same machine, in one run (issue 17).

    python3 bench/peers/python_step_peers.py --acx-python build-cpu/python [--rounds 3] [--threads 2]

For pendulum (Pendulum-v1) and HalfCheetah-v5, at 1, 64, 1024 and 16384
envs, each side is made once, its actions drawn once (fixed random values
within the bounds), then `step(actions)` is called in a Python loop with
autoreset on, for --seconds per figure:
  - acx: acx.make_vec(name, n, threads=T) (gymnasium's default NEXT_STEP
    autoreset; the arrays it returns are views, no copies);
  - EnvPool (PyPI envpool, pinned): envpool.make_gymnasium(task, num_envs=n,
    batch_size=n, num_threads=min(T, n)), synchronous;
  - gymnasium 1.4.0's SyncVectorEnv of gym.make(task), up to 1024 envs (one
    Python thread; 16384 single envs are left out: making them alone takes
    minutes, and stepping them is a Python loop over 16384 objects).
Each figure is measured in a process of its own (EnvPool keeps the memory of
a closed pool: 12 GB for 16384 HalfCheetah envs, 8 GB more for the next).
Rounds interleave the sides; the table gives the median over rounds (and
min..max), the ratio of the medians acx / EnvPool, and at 1 env the time of
one step call in microseconds. Writes --json.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402

PINS = ["envpool==1.2.5", "gymnasium[mujoco]==1.4.0", "mujoco==4.0.0", "numpy==2.4.6"]
TASKS = {"pendulum": "Pendulum-v1", "half-cheetah": "HalfCheetah-v5"}
SIZES = [1, 64, 1024, 16384]
GYM_MAX = 1024


def timed(step, n_envs, seconds):
    """env-steps/s over `seconds` of calls, after a warm-up."""
    for _ in range(3):
        step()
    calls, t0 = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and calls >= 3:
            return calls * n_envs / dt


def actions(low, high, n, np):
    return np.random.default_rng(0).uniform(low, high, size=(n,) + low.shape).astype(np.float32)


def bench_acx(name, n, threads, seconds):
    import acx
    import numpy as np
    env = acx.make_vec(name, n, threads=threads, seed=1)
    env.reset(seed=1)
    act = actions(env.single_action_space.low, env.single_action_space.high, n, np)
    rate = timed(lambda: env.step(act), n, seconds)
    env.close()
    return rate


def bench_envpool(task, n, threads, seconds):
    import envpool
    import numpy as np
    env = envpool.make_gymnasium(task, num_envs=n, batch_size=n, num_threads=min(threads, n), seed=1)
    env.reset()
    act = actions(env.action_space.low, env.action_space.high, n, np)
    rate = timed(lambda: env.step(act), n, seconds)
    env.close()
    return rate


def bench_gymnasium(task, n, seconds):
    import gymnasium as gym
    import numpy as np
    env = gym.vector.SyncVectorEnv([lambda: gym.make(task) for _ in range(n)])
    env.reset(seed=1)
    act = actions(env.single_action_space.low, env.single_action_space.high, n, np)
    rate = timed(lambda: env.step(act), n, seconds)
    env.close()
    return rate


def one_figure(side, name, task, n, threads, seconds, acx_python):
    """One figure, measured in a child process (this venv's python)."""
    import subprocess
    code = (f"import sys; sys.path.insert(0, {acx_python!r}); sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import python_step_peers as b; "
            + {"acx": f"print(b.bench_acx({name!r}, {n}, {threads}, {seconds}))",
               "envpool": f"print(b.bench_envpool({task!r}, {n}, {threads}, {seconds}))",
               "gymnasium": f"print(b.bench_gymnasium({task!r}, {n}, {seconds}))"}[side])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{side} {name} {n}: exit {r.returncode}\n{r.stderr[-2000:]}")
    return float(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acx-python", required=True, help="a build's python/ folder (acx._acx and acx/*.py)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results",
                                                   "issue17", "python_step_peers.json"))
    args = ap.parse_args()
    acx_python = os.path.abspath(args.acx_python)
    out_json = os.path.abspath(args.json)
    pinned_venv.run_inside("mujoco-peers", PINS,
                           "import envpool, gymnasium, gymnasium.envs.mujoco, mujoco; "
                           "assert mujoco.__version__ == '4.0.0'")
    sys.path.insert(0, acx_python)
    import acx
    import envpool
    import gymnasium
    sizes = [int(s) for s in args.sizes.split(",")]

    samples = {}
    for rnd in range(args.rounds):
        for name, task in TASKS.items():
            for n in sizes:
                for side in ("acx", "envpool", "gymnasium"):
                    if side == "gymnasium" and n > GYM_MAX:
                        continue
                    samples.setdefault((side, name, n), []).append(
                        one_figure(side, name, task, n, args.threads, args.seconds, acx_python))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in samples.items()}
    fmt = lambda x: f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"  # noqa: E731
    rng = lambda k: f"{fmt(min(samples[k]))}..{fmt(max(samples[k]))}"  # noqa: E731
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {args.threads} threads "
          f"for acx and EnvPool; acx {acx.__version__}, envpool {envpool.__version__}, gymnasium "
          f"{gymnasium.__version__}; {args.rounds} rounds of {args.seconds} s, median (min..max) env-steps/s")
    print("| task | envs | acx | EnvPool | gymnasium Sync | acx / EnvPool | acx / gymnasium |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name in TASKS:
        for n in sizes:
            a, p = med[("acx", name, n)], med[("envpool", name, n)]
            g = med.get(("gymnasium", name, n))
            rows.append({"task": name, "n_envs": n, "acx": samples[("acx", name, n)],
                         "envpool": samples[("envpool", name, n)],
                         "gymnasium": samples.get(("gymnasium", name, n)), "acx_over_envpool": a / p})
            print(f"| {name} | {n} | {fmt(a)} ({rng(('acx', name, n))}) | {fmt(p)} ({rng(('envpool', name, n))}) | "
                  f"{fmt(g) if g else 'not run'} | {a / p:.2f}x | {f'{a / g:.1f}x' if g else '-'} |")
    if 1 in sizes:
        print("\nOne step call at 1 env, microseconds (median over rounds): " + "; ".join(
            f"{name}: acx {1e6 / med[('acx', name, 1)]:.1f}, EnvPool {1e6 / med[('envpool', name, 1)]:.1f}"
            + (f", gymnasium {1e6 / med[('gymnasium', name, 1)]:.1f}" if ('gymnasium', name, 1) in med else "")
            for name in TASKS))
    os.makedirs(os.path.dirname(out_json), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump({"rows": rows, "threads": args.threads, "rounds": args.rounds, "seconds": args.seconds,
                   "acx": acx.__version__, "envpool": envpool.__version__, "gymnasium": gymnasium.__version__,
                   "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count()}, f, indent=1)
    print(f"wrote {out_json}")


if __name__ == "__main__":
    main()
