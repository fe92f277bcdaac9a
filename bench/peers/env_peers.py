#!/usr/bin/env python3
"""Env-stepping throughput: acx's CPU backend next to EnvPool and gymnasium,
on the same machine, in one run.

    python3 bench/peers/env_peers.py --acx-bench build-cpu/acx_bench_kernels [--quick]

Installs the peers into a private venv on first use (PyPI: envpool, gymnasium,
numpy; versions pinned below), then measures, one after the other:
  - acx: build-cpu/acx_bench_kernels, BM_EnvStep for every env and n_envs;
  - EnvPool: Pendulum-v1 and MountainCarContinuous-v0, synchronous
    (batch_size = num_envs), num_threads = the cores acx uses;
  - gymnasium: SyncVectorEnv of Pendulum-v1 / MountainCarContinuous-v0.
Each peer figure is the median of 5 timed repeats after a warm-up.
Prints a Markdown table with the ratios and writes --json (default
bench/peers/env_peers.json) with every figure and the machine.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402

ENVPOOL_VERSION = "1.2.5"
GYMNASIUM_VERSION = "1.0.0"
PEER_ENVS = {"pendulum": "Pendulum-v1", "mountain-car-continuous": "MountainCarContinuous-v0"}


def ensure_venv():
    pinned_venv.run_inside("peers", [f"envpool=={ENVPOOL_VERSION}", f"gymnasium=={GYMNASIUM_VERSION}", "numpy"],
                           "import envpool, gymnasium, numpy")


def timed(step, n_envs, seconds=0.5, repeats=5):
    """env-steps/s: median over repeats of (steps done / wall time)."""
    for _ in range(3):
        step()
    rates = []
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            step()
            calls += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(calls * n_envs / dt)
    return statistics.median(rates)


def bench_envpool(task, n_envs, threads):
    import envpool
    import numpy as np
    env = envpool.make_gymnasium(task, num_envs=n_envs, batch_size=n_envs, num_threads=threads, seed=1)
    env.reset()
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    act = rng.uniform(low, high, size=(n_envs,) + env.action_space.shape).astype(np.float32)
    rate = timed(lambda: env.step(act), n_envs)
    env.close()
    return rate


def bench_gymnasium(task, n_envs):
    import gymnasium as gym
    import numpy as np
    env = gym.vector.SyncVectorEnv([lambda: gym.make(task) for _ in range(n_envs)])
    env.reset(seed=1)
    act = np.random.default_rng(0).uniform(env.single_action_space.low, env.single_action_space.high,
                                           size=(n_envs,) + env.single_action_space.shape).astype(np.float32)
    rate = timed(lambda: env.step(act), n_envs, seconds=0.5, repeats=3)
    env.close()
    return rate


def bench_acx(binary, quick):
    out = subprocess.run([binary, "--benchmark_filter=BM_EnvStep", "--benchmark_format=json",
                          "--benchmark_repetitions=" + ("1" if quick else "3"),
                          "--benchmark_report_aggregates_only=" + ("false" if quick else "true")],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    figures = {}
    for b in data["benchmarks"]:
        if quick or b.get("aggregate_name") == "median":
            # name: BM_EnvStep/pendulum/1024/real_time[_median]
            parts = b["name"].split("/")
            env = parts[1].replace("_", "-")
            figures[(env, int(parts[2]))] = b["env_steps_per_s"]
    return figures, data["context"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acx-bench", required=True, help="path to acx_bench_kernels (CPU build)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats (smoke test)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "env_peers.json"))
    args = ap.parse_args()
    ensure_venv()
    import envpool
    import gymnasium

    acx, context = bench_acx(os.path.abspath(args.acx_bench), args.quick)
    pool_sizes = [1024, 16384] if args.quick else [1024, 16384, 262144]
    gym_sizes = [1024] if args.quick else [1024, 4096]
    rows = []
    for env, task in PEER_ENVS.items():
        for n in sorted({n for (e, n) in acx if e == env}):
            row = {"env": env, "n_envs": n, "acx": acx[(env, n)]}
            if n in pool_sizes:
                row["envpool"] = bench_envpool(task, n, args.threads)
            if n in gym_sizes:
                row["gymnasium"] = bench_gymnasium(task, n)
            rows.append(row)
    others = [{"env": e, "n_envs": n, "acx": r} for (e, n), r in sorted(acx.items()) if e not in PEER_ENVS]

    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; "
          f"envpool {envpool.__version__}, gymnasium {gymnasium.__version__}")
    print("| env | n_envs | acx (steps/s) | EnvPool | gymnasium Sync | acx / EnvPool | acx / gymnasium |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    fmt = lambda x: f"{x / 1e6:.2f}M" if x else "-"
    for r in rows:
        pool, gym_ = r.get("envpool"), r.get("gymnasium")
        print(f"| {r['env']} | {r['n_envs']} | {fmt(r['acx'])} | {fmt(pool)} | {fmt(gym_)} | "
              f"{r['acx'] / pool:.1f}x | " if pool else f"| {r['env']} | {r['n_envs']} | {fmt(r['acx'])} | - | {fmt(gym_)} | - | ",
              end="")
        print(f"{r['acx'] / gym_:.0f}x |" if gym_ else "- |")
    for r in others:
        print(f"| {r['env']} | {r['n_envs']} | {fmt(r['acx'])} | - | - | - | - |")
    with open(args.json, "w") as f:
        json.dump({"rows": rows + others, "acx_context": context, "threads": args.threads,
                   "envpool": envpool.__version__, "gymnasium": gymnasium.__version__}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
