#!/usr/bin/env python3
"""The peer of acx's MuJoCo training benchmark: TD3 with the semantics of
CleanRL's td3_continuous_action.py, on gymnasium 1.4.0's v5 task and MuJoCo
4.0.0, PyTorch on the CPU.

    python3 bench/peers/td3_mujoco_peer.py --env-id HalfCheetah-v5 --seed 1 \
        [--total-timesteps 200000] [--threads 2] [--json out.json]

CleanRL's published script (cleanrl 1.2.0 on PyPI) is written for gym 0.23,
which has no v5 tasks, so the algorithm is written out here as that script
runs it (its defaults): one env with episode statistics; uniform random
actions for the first 25k steps, then actor + N(0, 0.1 * action half-range),
clipped to the box; a 1M replay that stores `terminated` (a truncated
episode bootstraps from its final observation); from step 25k on one update
per env step: batch 256, twin critics (Linear-ReLU 256-256-1) trained on
r + 0.99 (1 - terminated) min(Q1', Q2')(s', clip(actor'(s') + clip(N(0, 0.2),
-0.5, 0.5) * half-range)), MSE, one Adam (3e-4) over both; every second
step the actor (Linear-ReLU 256-256, tanh scaled to the box) ascends Q1
with Adam (3e-4), and the three targets move by tau 0.005.
At the end: 10 evaluation episodes with the deterministic actor (seeds
10000+), as acx's final evaluation does. Prints and writes JSON: final
evaluation mean and std, wall seconds, training episode returns by step.

Installs its peers into a private venv on first use (torch, gymnasium[mujoco]
1.4.0, mujoco 4.0.0, numpy; tools/pinned_venv.py).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402

PINS = ["torch==2.15.0", "gymnasium[mujoco]==1.4.0", "mujoco==4.0.0", "numpy==2.4.6"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env-id", default="HalfCheetah-v5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--total-timesteps", type=int, default=200000)
    ap.add_argument("--learning-starts", type=int, default=25000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.json:
        args.json = os.path.abspath(args.json)
    pinned_venv.run_inside("td3-mujoco-peer", PINS,
                           "import torch, gymnasium, gymnasium.envs.mujoco, mujoco; assert mujoco.__version__ == '4.0.0'")
    os.chdir(os.environ.get("TMPDIR", "/tmp"))  # MuJoCo's log file stays out of the checkout
    import gymnasium as gym
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(args.env_id))
    env.action_space.seed(args.seed)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    scale = torch.tensor((high - low) / 2.0, dtype=torch.float32)
    bias = torch.tensor((high + low) / 2.0, dtype=torch.float32)

    class QNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(obs_dim + act_dim, 256), nn.Linear(256, 256), nn.Linear(256, 1)

        def forward(self, x, a):
            x = F.relu(self.fc1(torch.cat([x, a], 1)))
            return self.fc3(F.relu(self.fc2(x)))

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc_mu = nn.Linear(obs_dim, 256), nn.Linear(256, 256), nn.Linear(256, act_dim)

        def forward(self, x):
            x = F.relu(self.fc2(F.relu(self.fc1(x))))
            return torch.tanh(self.fc_mu(x)) * scale + bias

    actor, qf1, qf2 = Actor(), QNetwork(), QNetwork()
    actor_t, qf1_t, qf2_t = Actor(), QNetwork(), QNetwork()
    for t, s in ((actor_t, actor), (qf1_t, qf1), (qf2_t, qf2)):
        t.load_state_dict(s.state_dict())
    q_opt = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=3e-4)
    a_opt = torch.optim.Adam(list(actor.parameters()), lr=3e-4)

    cap = min(1000000, args.total_timesteps)
    rb_o = np.zeros((cap, obs_dim), np.float32)
    rb_n = np.zeros((cap, obs_dim), np.float32)
    rb_a = np.zeros((cap, act_dim), np.float32)
    rb_r = np.zeros(cap, np.float32)
    rb_d = np.zeros(cap, np.float32)
    size = pos = 0

    t0 = time.perf_counter()
    curve = []
    obs, _ = env.reset(seed=args.seed)
    for step in range(args.total_timesteps):
        if step < args.learning_starts:
            action = env.action_space.sample()
        else:
            with torch.no_grad():
                a = actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
                a += torch.normal(0.0, scale * 0.1)
            action = a.numpy().clip(low, high)
        next_obs, reward, terminated, truncated, info = env.step(action)
        if "episode" in info:
            curve.append((step + 1, float(info["episode"]["r"]), time.perf_counter() - t0))
        rb_o[pos], rb_n[pos], rb_a[pos], rb_r[pos], rb_d[pos] = obs, next_obs, action, reward, float(terminated)
        pos, size = (pos + 1) % cap, min(size + 1, cap)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if step > args.learning_starts:
            idx = rng.integers(0, size, 256)
            o, n, a = (torch.as_tensor(x[idx]) for x in (rb_o, rb_n, rb_a))
            r, d = torch.as_tensor(rb_r[idx]), torch.as_tensor(rb_d[idx])
            with torch.no_grad():
                noise = (torch.randn_like(a) * 0.2).clamp(-0.5, 0.5) * scale
                na = (actor_t(n) + noise).clamp(torch.as_tensor(low), torch.as_tensor(high))
                target = r + (1 - d) * 0.99 * torch.min(qf1_t(n, na), qf2_t(n, na)).view(-1)
            loss = F.mse_loss(qf1(o, a).view(-1), target) + F.mse_loss(qf2(o, a).view(-1), target)
            q_opt.zero_grad()
            loss.backward()
            q_opt.step()
            if step % 2 == 0:
                actor_loss = -qf1(o, actor(o)).mean()
                a_opt.zero_grad()
                actor_loss.backward()
                a_opt.step()
                with torch.no_grad():
                    for t, s in ((actor_t, actor), (qf1_t, qf1), (qf2_t, qf2)):
                        for pt, ps in zip(t.parameters(), s.parameters()):
                            pt.mul_(1 - 0.005).add_(0.005 * ps)
    train_seconds = time.perf_counter() - t0

    eval_env = gym.make(args.env_id)
    returns = []
    for ep in range(args.eval_episodes):
        o, _ = eval_env.reset(seed=10000 + ep)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                act = actor(torch.as_tensor(o, dtype=torch.float32)[None])[0].numpy()
            o, r, te, tr, _ = eval_env.step(act)
            total += float(r)
            done = te or tr
        returns.append(total)
    out = {"peer": "TD3 as CleanRL's td3_continuous_action.py (PyTorch, CPU)", "env_id": args.env_id,
           "seed": args.seed, "total_timesteps": args.total_timesteps, "threads": args.threads,
           "torch": torch.__version__, "gymnasium": gym.__version__,
           "final_eval_mean": float(np.mean(returns)), "final_eval_std": float(np.std(returns)),
           "eval_returns": returns, "train_seconds": train_seconds,
           "total_seconds": time.perf_counter() - t0, "curve": curve}
    text = json.dumps(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
