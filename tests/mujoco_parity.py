#!/usr/bin/env python3
"""mujoco_parity.py: acx rollout against gymnasium 1.4.0's v5 MuJoCo tasks
and dm_control 1.0.52's cart-pole swing-up.

Replays every fixture of tests/fixtures/mujoco/ (tools/gen_mujoco_fixtures.py)
and tests/fixtures/dm_control/ (tools/gen_dmc_fixtures.py) through
`acx rollout` and compares, step for step up to each env's recorded length:
  - terminated and truncated: equal, always;
  - observations and rewards: bitwise (acx's float32 equals gymnasium's
    float64 rounded to float32) for the tasks marked "bitwise" below; within
    1e-6 (observations) and 5e-7 (rewards), relative to max(1, |value|), for
    the tasks whose arithmetic NumPy does in an order acx does not follow.
Prints the largest difference per task either way. Also checks that 1 and 2
threads give the same bits.

Usage: mujoco_parity.py ACX_BINARY [TASK ...]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")


def fixture_dir(task):
    return os.path.join(FIXTURES, "dm_control" if task.startswith("dmc-") else "mujoco")


# What each task achieves.
EXPECT = {t: "bitwise" for t in [
    "half-cheetah", "half-cheetah_long", "hopper", "walker2d", "ant", "humanoid", "humanoid-standup",
    "inverted-pendulum", "inverted-double-pendulum", "reacher", "swimmer", "pusher",
    "dmc-cartpole-swingup", "dmc-cartpole-swingup_long"]}
# A task whose arithmetic NumPy does in an order acx cannot follow would be
# marked "tolerance" here (none is: docs/envs.md).
OBS_TOL, REW_TOL = 1e-6, 5e-7


def rollout(acx, task, init, actions, out, threads=None):
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    name = task.replace("_long", "")
    cmd = [acx, "rollout", "--env", name, "--init", init, "--actions", actions, "--out", out, "--device", "cpu",
           "--force"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return {k: np.load(os.path.join(out, k + ".npy")) for k in ("obs", "reward", "terminated", "truncated")}


def main():
    acx = sys.argv[1]
    tasks = sys.argv[2:] or list(EXPECT)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            fix = fixture_dir(task)
            f = lambda k: np.load(os.path.join(fix, f"{task}_{k}.npy"))  # noqa: E731
            length = f("length")
            init_path, act_path = os.path.join(fix, f"{task}_init.npy"), os.path.join(fix, f"{task}_actions.npy")
            got = rollout(acx, task, init_path, act_path, os.path.join(tmp, task))
            want = {k: f(k) for k in ("obs", "reward", "terminated", "truncated")}
            worst_obs = worst_rew = 0.0
            flags_ok = bits_ok = True
            for j, n in enumerate(length):
                g = {k: v[:n, j] for k, v in got.items()}
                w = {k: v[:n, j] for k, v in want.items()}
                flags_ok &= bool(np.array_equal(g["terminated"], w["terminated"]) and
                                 np.array_equal(g["truncated"], w["truncated"]))
                wo, wr = w["obs"].astype(np.float64), w["reward"]
                d_obs = np.abs(g["obs"].astype(np.float64) - wo) / np.maximum(1.0, np.abs(wo))
                d_rew = np.abs(g["reward"].astype(np.float64) - wr) / np.maximum(1.0, np.abs(wr))
                worst_obs = max(worst_obs, float(d_obs.max(initial=0)))
                worst_rew = max(worst_rew, float(d_rew.max(initial=0)))
                bits_ok &= bool(np.array_equal(g["obs"].view(np.uint32), w["obs"].view(np.uint32)) and
                                np.array_equal(g["reward"], wr.astype(np.float32)))
            mode = EXPECT[task]
            ok = flags_ok and (bits_ok if mode == "bitwise" else (worst_obs <= OBS_TOL and worst_rew <= REW_TOL))
            print(f"{'ok  ' if ok else 'FAIL'} {task:<26} {mode:<9} bitwise={'yes' if bits_ok else 'no ':<3} "
                  f"flags={'equal' if flags_ok else 'DIFFER'} max rel diff obs {worst_obs:.2e} reward {worst_rew:.2e} "
                  f"({int(length.sum())} steps in {len(length)} envs)")
            failures += not ok
        # Thread-count independence: the same bits with 1 and 2 threads.
        task = "ant" if "ant" in tasks else tasks[0]
        fix = fixture_dir(task)
        i, a = os.path.join(fix, f"{task}_init.npy"), os.path.join(fix, f"{task}_actions.npy")
        one = rollout(acx, task, i, a, os.path.join(tmp, "t1"), threads=1)
        two = rollout(acx, task, i, a, os.path.join(tmp, "t2"), threads=2)
        same = all(np.array_equal(one[k].view(np.uint8), two[k].view(np.uint8)) for k in one)
        print(f"{'ok  ' if same else 'FAIL'} {task}: 1 and 2 threads give {'the same' if same else 'DIFFERENT'} bits")
        failures += not same
    if failures:
        sys.exit(f"FAIL: {failures} check(s) failed")


if __name__ == "__main__":
    main()
