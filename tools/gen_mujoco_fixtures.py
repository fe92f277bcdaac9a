#!/usr/bin/env python3
"""gen_mujoco_fixtures.py: parity fixtures for acx's MuJoCo tasks.

For every task, steps gymnasium 1.4.0's own v5 env (gymnasium.make, default
arguments, MuJoCo 4.0.0 through the `mujoco` package) from several start
states and writes what it returns under tests/fixtures/mujoco/:

  <task>_init.npy        float64 (n_envs, nq + nv)   qpos, qvel injected after a reset
  <task>_actions.npy     float32 (n_steps, n_envs, nu) with out-of-range actions mixed in
  <task>_obs.npy         float32 (n_steps, n_envs, obs_dim)  gymnasium's float64 obs, rounded
  <task>_reward.npy      float64 (n_steps, n_envs)
  <task>_terminated.npy  uint8   (n_steps, n_envs)
  <task>_truncated.npy   uint8   (n_steps, n_envs)
  <task>_length.npy      int32   (n_envs)  steps recorded (to termination, inclusive)

Start states follow EnvPool's alignment test: reset(seed), then
set_state(qpos, qvel) with the reset's state plus a perturbation. After an
env terminates gymnasium is not stepped again; its rows are zero and
tests/mujoco_parity.py compares only the first length[j] steps of env j.
half-cheetah also runs 1001 steps in one env (truncation at 1000).

Usage (creates a private venv with the pinned packages unless --no-venv):
    python3 tools/gen_mujoco_fixtures.py [--out tests/fixtures/mujoco] [--no-venv]
"""
import os
import tempfile

import fixture_files
import pinned_venv

PINS = ["gymnasium[mujoco]==1.4.0", "mujoco==4.0.0", "numpy==2.4.6", "imageio==2.38.2", "packaging==26.4"]
SEED = 20261203
# acx name -> (gymnasium id, envs, steps)
TASKS = {
    "half-cheetah": ("HalfCheetah-v5", 3, 300),
    "hopper": ("Hopper-v5", 4, 300),
    "walker2d": ("Walker2d-v5", 4, 300),
    "ant": ("Ant-v5", 3, 300),
    "humanoid": ("Humanoid-v5", 2, 300),
    "humanoid-standup": ("HumanoidStandup-v5", 2, 120),
    "inverted-pendulum": ("InvertedPendulum-v5", 4, 300),
    "inverted-double-pendulum": ("InvertedDoublePendulum-v5", 4, 300),
    "reacher": ("Reacher-v5", 3, 300),
    "swimmer": ("Swimmer-v5", 3, 300),
    "pusher": ("Pusher-v5", 3, 300),
}


def ensure_packages(use_venv):
    probe = ("import gymnasium, gymnasium.envs.mujoco, mujoco, numpy; assert gymnasium.__version__ == '1.4.0'; "
             "assert mujoco.__version__ == '4.0.0'; assert numpy.__version__ == '2.4.6'")
    if use_venv:
        pinned_venv.run_inside("gym-mujoco", PINS, probe)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = fixture_files.parse_args(__doc__, os.path.join(here, "..", "tests", "fixtures", "mujoco"))
    ensure_packages(not args.no_venv)

    import gymnasium as gym
    import mujoco
    import numpy as np

    folder = fixture_files.FixtureFolder(args.out)
    # MuJoCo's default log handler appends to MUJOCO_LOG.TXT in the working
    # directory: keep that out of the checkout.
    os.chdir(tempfile.mkdtemp(prefix="acx-mujoco-fixtures-"))
    rng = np.random.default_rng(SEED)
    save = folder.save

    def run(task, gym_id, n_envs, n_steps, tag=""):
        env = gym.make(gym_id)
        u = env.unwrapped
        nq, nv, nu = u.model.nq, u.model.nv, u.model.nu
        low, high = env.action_space.low, env.action_space.high
        inits = []
        for j in range(n_envs):
            env.reset(seed=int(rng.integers(1 << 31)))
            qpos = u.data.qpos.copy() + rng.uniform(-0.05, 0.05, nq) * (j > 0)
            qvel = u.data.qvel.copy() + rng.normal(0, 0.2, nv) * (j > 0)
            inits.append(np.concatenate([qpos, qvel]))
        init = np.array(inits)
        # Actions: env j draws inside a box scaled by 0.2, 0.5, 1, 1, ... (so that
        # the first envs of the falling tasks live long), and a tenth of all
        # steps draw up to 1.5x outside the full box.
        mid, half = (high + low) / 2.0, (high - low) / 2.0
        scale = np.array([0.2, 0.5] + [1.0] * n_envs)[:n_envs].reshape(1, n_envs, 1)
        acts = mid + half * scale * rng.uniform(-1, 1, size=(n_steps, n_envs, nu))
        wild = mid + half * rng.uniform(-1.5, 1.5, size=(n_steps, n_envs, nu))
        acts = np.where(rng.random((n_steps, n_envs, 1)) < 0.1, wild, acts).astype(np.float32)
        obs = np.zeros((n_steps, n_envs, env.observation_space.shape[0]), np.float32)
        rew = np.zeros((n_steps, n_envs), np.float64)
        term = np.zeros((n_steps, n_envs), np.uint8)
        trunc = np.zeros((n_steps, n_envs), np.uint8)
        length = np.zeros(n_envs, np.int32)
        for j in range(n_envs):
            env.reset(seed=int(rng.integers(1 << 31)))
            u.set_state(init[j, :nq], init[j, nq:])
            for t in range(n_steps):
                o, r, te, tr, _ = env.step(acts[t, j])
                obs[t, j], rew[t, j], term[t, j], trunc[t, j] = o, r, te, tr
                length[j] = t + 1
                if te or tr:
                    break
        env.close()
        p = task + tag
        save(f"{p}_init.npy", init, f"{gym_id}: qpos ({nq}), qvel ({nv}) per env, set after a reset")
        save(f"{p}_actions.npy", acts, f"{gym_id}: actions (n_steps, n_envs, {nu}); a tenth of the steps up to 1.5x outside the box")
        save(f"{p}_obs.npy", obs, f"{gym_id}: observations after each step (float64 rounded to float32)")
        save(f"{p}_reward.npy", rew, f"{gym_id}: rewards (float64)")
        save(f"{p}_terminated.npy", term, f"{gym_id}: terminated")
        save(f"{p}_truncated.npy", trunc, f"{gym_id}: truncated (TimeLimit 1000)")
        save(f"{p}_length.npy", length, f"{gym_id}: steps recorded per env (to termination, inclusive)")
        print(f"{task}{tag}: {n_envs} envs, lengths {length.tolist()}")

    for task, (gym_id, n_envs, n_steps) in TASKS.items():
        run(task, gym_id, n_envs, n_steps)
    run("half-cheetah", "HalfCheetah-v5", 1, 1001, tag="_long")

    folder.write_manifest(
        generator="tools/gen_mujoco_fixtures.py",
        gymnasium=gym.__version__,
        mujoco=mujoco.__version__,
        numpy=np.__version__,
        seed=SEED,
    )


if __name__ == "__main__":
    main()
