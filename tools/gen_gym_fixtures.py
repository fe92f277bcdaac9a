#!/usr/bin/env python3
"""gen_gym_fixtures.py: parity fixtures for acx's classic-control envs.

Steps gymnasium's own environments (Pendulum-v1, MountainCarContinuous-v0,
Acrobot-v1) from injected states and writes what they return as small .npy
files under tests/fixtures/, plus MANIFEST.json (gymnasium/numpy versions,
column meanings). tests/test_env_dynamics.cpp replays them against envs/*.h.

States are injected through env.unwrapped.state, so the TimeLimit and the
other wrappers of gymnasium.make play no part. Every injected state and
action is float32-representable (acx keeps float32 state), stored as float64.

Usage (creates a private venv with a pinned gymnasium unless --no-venv):
    python3 tools/gen_gym_fixtures.py [--out tests/fixtures] [--no-venv]
"""
import argparse
import json
import os
import sys

import pinned_venv

GYMNASIUM_VERSION = "1.0.0"
SEED = 20240601


def ensure_gymnasium(use_venv):
    """Re-executes this script inside a venv that has the pinned gymnasium."""
    probe = f"import gymnasium; assert gymnasium.__version__ == {GYMNASIUM_VERSION!r}"
    if not use_venv:
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            sys.exit("gymnasium is not installed; run without --no-venv")
        return
    pinned_venv.run_inside("gym-fixtures", [f"gymnasium=={GYMNASIUM_VERSION}"], probe)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures"))
    ap.add_argument("--no-venv", action="store_true", help="use the gymnasium already importable")
    args = ap.parse_args()
    ensure_gymnasium(not args.no_venv)

    import numpy as np
    import gymnasium as gym

    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    f32 = lambda x: np.asarray(x, dtype=np.float32).astype(np.float64)  # noqa: E731
    files = {}

    def save(name, arr, doc):
        path = os.path.join(args.out, name)
        np.save(path, np.ascontiguousarray(arr))
        files[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "doc": doc}

    def single_steps(env_id, states, actions, to_gym_action):
        env = gym.make(env_id).unwrapped
        env.reset(seed=0)
        rows = []
        for s, a in zip(states, actions):
            env.state = np.array(s, dtype=np.float64)
            obs, reward, terminated, truncated, _ = env.step(to_gym_action(a))
            rows.append(list(s) + [a] + [float(o) for o in obs] + [float(reward), float(terminated)])
        return np.array(rows, dtype=np.float64)

    def trajectories(env_id, init, actions, to_gym_action, store_state=None):
        """init (n_envs, state_dim); actions (n_steps, n_envs). No resets.
        store_state, if given, maps gymnasium's state after each step to what
        is kept for the next one (to emulate acx's float32 state)."""
        n_steps, n_envs = actions.shape
        env = gym.make(env_id).unwrapped
        env.reset(seed=0)
        obs_out, rew_out, term_out = [], [], []
        for e in range(n_envs):
            env.state = np.array(init[e], dtype=np.float64)
            o_e, r_e, t_e = [], [], []
            for t in range(n_steps):
                obs, reward, terminated, _, _ = env.step(to_gym_action(actions[t, e]))
                if store_state is not None:
                    env.state = store_state(env.state)
                o_e.append(np.asarray(obs, dtype=np.float32))
                r_e.append(float(reward))
                t_e.append(bool(terminated))
            obs_out.append(o_e)
            rew_out.append(r_e)
            term_out.append(t_e)
        obs = np.transpose(np.array(obs_out, dtype=np.float32), (1, 0, 2))
        rew = np.array(rew_out, dtype=np.float64).T
        term = np.array(term_out, dtype=np.uint8).T
        return obs, rew, term

    box_action = lambda a: np.array([a], dtype=np.float32)  # noqa: E731

    # ---- Pendulum-v1: single steps -----------------------------------------
    pi = np.pi
    ths = [-pi, pi, pi - 1e-6, pi + 1e-6, -pi - 1e-6, -pi + 1e-6, 0.0, pi / 2, -pi / 2,
           3.5, -3.5, 7.0, -7.0, 20.0, -20.0, 2 * pi, -2 * pi]
    thdots = [-9.0, -8.0, -7.99, -1.0, 0.0, 1.0, 7.99, 8.0, 9.0]
    acts = [-5.0, -2.0, -1.999, 0.0, 0.5, 2.0, 5.0]
    states, actions = [], []
    for th in ths:
        for thd in thdots:
            for a in acts:
                states.append([th, thd])
                actions.append(a)
    n_rand = 1000
    states += np.stack([rng.uniform(-2 * pi, 2 * pi, n_rand), rng.uniform(-10, 10, n_rand)], 1).tolist()
    actions += rng.uniform(-3, 3, n_rand).tolist()
    states, actions = f32(states), f32(actions)
    save("pendulum_step.npy", single_steps("Pendulum-v1", states, actions, box_action),
         "rows: theta, theta_dot, action (unclipped), obs[3] after, reward, terminated")

    # ---- Pendulum-v1: trajectories -----------------------------------------
    n_envs, n_steps = 64, 200
    init = np.stack([rng.uniform(-pi, pi, n_envs), rng.uniform(-1, 1, n_envs)], 1)
    init[0] = [pi, 0.0]
    init[1] = [0.0, 0.0]
    init[2] = [pi - 1e-3, 8.0]
    init = f32(init)
    acts = rng.uniform(-3, 3, (n_steps, n_envs)).astype(np.float32)
    acts[:, 3] = 0.0
    acts[:, 4] = 2.0
    obs, rew, term = trajectories("Pendulum-v1", init, acts, box_action)
    save("pendulum_traj_init.npy", init, "initial state (n_envs, 2): theta, theta_dot")
    save("pendulum_traj_actions.npy", acts[..., None], "actions (n_steps, n_envs, 1), unclipped")
    save("pendulum_traj_obs.npy", obs, "obs after each step (n_steps, n_envs, 3)")
    save("pendulum_traj_reward.npy", rew, "reward of each step (n_steps, n_envs)")
    # The same runs with gymnasium's state stored as acx stores it after each
    # step (theta wrapped by gymnasium's angle_normalize, both rounded to
    # float32): the pendulum amplifies float32 rounding near the top (~1.2x
    # per step), so only this flavour can be held to 1e-5 for all 200 steps.
    from gymnasium.envs.classic_control.pendulum import angle_normalize
    f32_state = lambda s: f32([angle_normalize(s[0]), s[1]])  # noqa: E731
    obs, rew, term = trajectories("Pendulum-v1", init, acts, box_action, f32_state)
    save("pendulum_traj_f32state_obs.npy", obs,
         "obs after each step (n_steps, n_envs, 3), state kept as float32 with theta wrapped between steps")
    save("pendulum_traj_f32state_reward.npy", rew.astype(np.float32),
         "reward of each step (n_steps, n_envs), float32, state kept as float32 between steps")

    # ---- MountainCarContinuous-v0: single steps ----------------------------
    poss = [-1.2, -1.19999, -1.1, -0.5236, -0.5, 0.0, 0.4, 0.449, 0.45, 0.4501, 0.5, 0.6]
    vels = [-0.08, -0.07, -0.069, -0.01, 0.0, 0.001, 0.01, 0.069, 0.07, 0.08]
    acts = [-5.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.0001, 5.0]
    states, actions = [], []
    for p in poss:
        for v in vels:
            for a in acts:
                states.append([p, v])
                actions.append(a)
    n_rand = 1000
    states += np.stack([rng.uniform(-1.2, 0.6, n_rand), rng.uniform(-0.07, 0.07, n_rand)], 1).tolist()
    actions += rng.uniform(-2, 2, n_rand).tolist()
    states, actions = f32(states), f32(actions)
    save("mcc_step.npy", single_steps("MountainCarContinuous-v0", states, actions, box_action),
         "rows: position, velocity, action (unclipped), obs[2] after, reward, terminated")

    # ---- MountainCarContinuous-v0: trajectories ----------------------------
    # Half the envs act at random (some actions out of range), half pump
    # energy (push along the velocity) so that the goal and the walls are hit.
    # Envs are stepped on past termination (gymnasium's raw env allows it).
    n_envs, n_steps = 16, 999
    init = f32(np.stack([rng.uniform(-0.6, -0.4, n_envs), np.zeros(n_envs)], 1))
    acts = np.zeros((n_steps, n_envs), dtype=np.float32)
    env = gym.make("MountainCarContinuous-v0").unwrapped
    env.reset(seed=0)
    for e in range(n_envs):
        env.state = np.array(init[e], dtype=np.float64)
        for t in range(n_steps):
            if e % 2 == 0:
                a = rng.uniform(-1.5, 1.5)
            else:
                a = (1.0 if env.state[1] >= 0 else -1.0) * rng.uniform(0.5, 1.2)
            acts[t, e] = a
            env.step(box_action(acts[t, e]))
    obs, rew, term = trajectories("MountainCarContinuous-v0", init, acts, box_action)
    save("mcc_traj_init.npy", init, "initial state (n_envs, 2): position, velocity")
    save("mcc_traj_actions.npy", acts[..., None], "actions (n_steps, n_envs, 1), unclipped")
    save("mcc_traj_obs.npy", obs, "obs after each step (n_steps, n_envs, 2)")
    save("mcc_traj_reward.npy", rew, "reward of each step (n_steps, n_envs)")
    save("mcc_traj_terminated.npy", term, "terminated flag of each step (n_steps, n_envs), uint8")

    # ---- Acrobot-v1 (torque -1, 0, +1): single steps -----------------------
    torque_to_index = lambda a: int(round(a)) + 1  # noqa: E731  AVAIL_TORQUE = [-1, 0, +1]
    n_rand = 1500
    states = np.stack([rng.uniform(-pi, pi, n_rand), rng.uniform(-pi, pi, n_rand),
                       rng.uniform(-4 * pi, 4 * pi, n_rand), rng.uniform(-9 * pi, 9 * pi, n_rand)], 1)
    states[:100, 2:] *= 0.05  # slow ones as after a reset
    states[100:150, 0] = pi - 1e-3  # near the top: termination either way
    states[100:150, 1] = 0.0
    states[150:170, 2] = 4 * pi  # at the velocity bounds
    states[170:190, 3] = -9 * pi
    actions = rng.integers(-1, 2, n_rand).astype(np.float64)
    states = f32(states)
    save("acrobot_step.npy", single_steps("Acrobot-v1", states, actions, torque_to_index),
         "rows: theta1, theta2, dtheta1, dtheta2, torque in {-1,0,1}, obs[6] after, reward, terminated")

    # ---- Acrobot-v1: trajectories (chaotic: compare a prefix) --------------
    n_envs, n_steps = 16, 500
    init = f32(rng.uniform(-0.1, 0.1, (n_envs, 4)))
    acts = rng.integers(-1, 2, (n_steps, n_envs)).astype(np.float32)
    obs, rew, term = trajectories("Acrobot-v1", init, acts, torque_to_index)
    save("acrobot_traj_init.npy", init, "initial state (n_envs, 4): theta1, theta2, dtheta1, dtheta2")
    save("acrobot_traj_actions.npy", acts[..., None], "torque (n_steps, n_envs, 1) in {-1,0,1}")
    save("acrobot_traj_obs.npy", obs, "obs after each step (n_steps, n_envs, 6)")
    save("acrobot_traj_reward.npy", rew, "reward of each step (n_steps, n_envs)")
    save("acrobot_traj_terminated.npy", term, "terminated flag of each step (n_steps, n_envs), uint8")

    manifest = {
        "generator": "tools/gen_gym_fixtures.py",
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "seed": SEED,
        "note": "states injected via env.unwrapped.state; trajectories never reset (stepped past termination)",
        "files": files,
    }
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    for name, meta in sorted(files.items()):
        print(f"{name:32s} {meta['dtype']:8s} {meta['shape']}  {os.path.getsize(os.path.join(args.out, name))} B")


if __name__ == "__main__":
    main()
