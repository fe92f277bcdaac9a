#!/usr/bin/env python3
"""gen_dmc_fixtures.py: parity fixtures for acx's dm_control tasks.

Steps dm_control 1.0.52's own cart-pole swing-up (suite.load("cartpole",
"swingup"), default arguments). dm_control 1.0.52
needs the `mujoco` package 4.0.1 or later (1.0.50 does not run on 4.0.x);
acx links MuJoCo 4.0.0, and tests/mujoco_parity.py shows the two agree bit
for bit on this model (no contacts, RK4). From several start states, under
tests/fixtures/dm_control/, in the layout of tools/gen_mujoco_fixtures.py
(tests/mujoco_parity.py reads both):

  <task>_init.npy        float64 (n_envs, nq + nv)   qpos, qvel set in reset_context() after a reset
  <task>_actions.npy     float32 (n_steps, n_envs, nu) with out-of-range actions mixed in
  <task>_obs.npy         float32 (n_steps, n_envs, 5)  [position (3), velocity (2)] rounded from float64
  <task>_reward.npy      float64 (n_steps, n_envs)
  <task>_terminated.npy  uint8   (n_steps, n_envs)   always 0 (the task never terminates)
  <task>_truncated.npy   uint8   (n_steps, n_envs)   1 on the step dm_control marks LAST
  <task>_length.npy      int32   (n_envs)

dmc-cartpole-swingup_long runs one env for the full 1000 steps (LAST on the
1000th step). Start states: the swing-up's own reset, then states
perturbed around it and ones that reach the slider's limits.

Usage (creates a private venv with the pinned packages unless --no-venv):
    python3 tools/gen_dmc_fixtures.py [--out tests/fixtures/dm_control] [--no-venv]
"""
import os
import sys
import tempfile

import fixture_files
import pinned_venv

PINS = ["dm_control==1.0.52", "mujoco==4.0.1", "numpy==2.4.6"]
SEED = 20261204


def ensure_packages(use_venv):
    probe = ("import dm_control.suite, mujoco, numpy, importlib.metadata as m; "
             "assert m.version('dm_control') == '1.0.52'; assert mujoco.__version__ == '4.0.1'; "
             "assert numpy.__version__ == '2.4.6'")
    if use_venv:
        pinned_venv.run_inside("dm-control", PINS, probe)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = fixture_files.parse_args(__doc__, os.path.join(here, "..", "tests", "fixtures", "dm_control"))
    ensure_packages(not args.no_venv)
    os.environ.setdefault("MUJOCO_GL", "disable")  # no rendering: keeps dm_control from probing for a display

    import importlib.metadata
    import mujoco
    import numpy as np
    from dm_control import suite

    folder = fixture_files.FixtureFolder(args.out)
    os.chdir(tempfile.mkdtemp(prefix="acx-dmc-fixtures-"))
    rng = np.random.default_rng(SEED)
    save = folder.save

    def run(task, n_envs, n_steps, tag=""):
        env = suite.load("cartpole", "swingup", task_kwargs={"random": int(rng.integers(1 << 31))})
        physics = env.physics
        nq, nv, nu = physics.model.nq, physics.model.nv, physics.model.nu
        inits = []
        for j in range(n_envs):
            env.reset()
            qpos, qvel = physics.data.qpos.copy(), physics.data.qvel.copy()
            if j == 1:  # near upright, moving
                qpos, qvel = rng.uniform([-0.5, -0.3], [0.5, 0.3]), rng.normal(0, 1.0, nv)
            elif j >= 2:  # anywhere on the track, fast: reaches the slider's limits
                qpos, qvel = rng.uniform([-1.7, -np.pi], [1.7, np.pi]), rng.normal(0, 3.0, nv)
            inits.append(np.concatenate([qpos, qvel]))
        init = np.array(inits)
        # Actions in [-1, 1], pushed one way for stretches so that the cart
        # hits the limits; a tenth of the steps up to 1.5x outside the box.
        base = rng.uniform(-1, 1, size=(n_steps, n_envs, nu))
        push = np.sign(np.sin(np.arange(n_steps) / 37.0)).reshape(n_steps, 1, 1)
        acts = np.clip(0.6 * base + 0.6 * push, -1, 1)
        wild = rng.uniform(-1.5, 1.5, size=(n_steps, n_envs, nu))
        acts = np.where(rng.random((n_steps, n_envs, 1)) < 0.1, wild, acts).astype(np.float32)
        obs = np.zeros((n_steps, n_envs, 5), np.float32)
        rew = np.zeros((n_steps, n_envs), np.float64)
        term = np.zeros((n_steps, n_envs), np.uint8)
        trunc = np.zeros((n_steps, n_envs), np.uint8)
        length = np.zeros(n_envs, np.int32)
        for j in range(n_envs):
            env.reset()
            with physics.reset_context():
                physics.data.qpos[:] = init[j, :nq]
                physics.data.qvel[:] = init[j, nq:]
            for t in range(n_steps):
                ts = env.step(acts[t, j].astype(np.float64))
                obs[t, j] = np.concatenate([ts.observation["position"], ts.observation["velocity"]])
                rew[t, j] = ts.reward
                trunc[t, j] = ts.last()
                length[j] = t + 1
                if ts.last():
                    break
        p = task + tag
        what = "cartpole/swingup (dm_control 1.0.52)"
        save(f"{p}_init.npy", init, f"{what}: qpos ({nq}), qvel ({nv}) per env, set in reset_context() after a reset")
        save(f"{p}_actions.npy", acts, f"{what}: actions (n_steps, n_envs, {nu}); a tenth up to 1.5x outside the box")
        save(f"{p}_obs.npy", obs, f"{what}: [position, velocity] after each step (float64 rounded to float32)")
        save(f"{p}_reward.npy", rew, f"{what}: rewards (float64)")
        save(f"{p}_terminated.npy", term, f"{what}: terminated (never)")
        save(f"{p}_truncated.npy", trunc, f"{what}: the step marked LAST (the 1000-step limit)")
        save(f"{p}_length.npy", length, f"{what}: steps recorded per env")
        print(f"{task}{tag}: {n_envs} envs, lengths {length.tolist()}, "
              f"x range [{obs[:, :, 0].min():.2f}, {obs[:, :, 0].max():.2f}]")

    run("dmc-cartpole-swingup", 4, 400)
    run("dmc-cartpole-swingup", 1, 1000, tag="_long")

    folder.write_manifest(
        generator="tools/gen_dmc_fixtures.py",
        dm_control=importlib.metadata.version("dm_control"),
        mujoco=mujoco.__version__,
        numpy=np.__version__,
        seed=SEED,
    )


if __name__ == "__main__":
    sys.exit(main())
