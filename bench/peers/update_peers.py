#!/usr/bin/env python3
"""TD3 update throughput: acx's CPU backend next to a CleanRL-style TD3 update
in PyTorch on the CPU, same networks, batch and thread count, in one run.

    python3 bench/peers/update_peers.py --acx build/acx [--sizes 256x256,1024x256] [--threads 2] [--quick]

acx: `acx bench --device cpu --threads T --size 1024,B,H --json ...`, the
`update` figure (Agent::update: one critic step per call, the actor step,
its Adam and the Polyak update every second call; the batch is already
sampled). PyTorch: the update body of CleanRL's td3_continuous_action.py
(the algorithm as published there: twin Q networks Linear-ReLU-Linear-ReLU-
Linear, an actor with a tanh output scaled to the action box, Adam 3e-4, target
policy smoothing 0.2 clipped at 0.5, policy delay 2, tau 0.005, MSE TD loss),
written out here in a few lines of torch so that only the update is timed, on
a random batch of the env's dimensions. Each PyTorch figure is the median of
--repeats timed blocks of at least --seconds after a warm-up; acx's is the
median of its own rounds (docs/benchmarks.md).

Runs in the venv of bench/peers/cleanrl_td3.py (ACX_CLEANRL_VENV, default
$TMPDIR/acx-cleanrl-venv), installing torch from PyPI there when it is
missing. Prints a Markdown table (updates/s and the acx / PyTorch ratio) and
writes --json (default bench/peers/update_peers.json) with every figure.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402


def ensure_torch():
    # The venv of cleanrl_td3.py: torch once, for both.
    pinned_venv.run_inside("cleanrl", ["torch", "numpy"], "import torch, numpy")


def torch_td3_updates_per_s(obs_dim, act_dim, batch, hidden, threads, seconds, repeats, seed=1):
    """Updates/s of the CleanRL TD3 update body (the mean over critic-only and critic + actor steps)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    low, high = -2.0, 2.0  # Pendulum's box; the cost does not depend on it
    gamma, tau, policy_noise, noise_clip, policy_frequency = 0.99, 0.005, 0.2, 0.5, 2

    class QNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(obs_dim + act_dim, hidden)
            self.fc2 = nn.Linear(hidden, hidden)
            self.fc3 = nn.Linear(hidden, 1)

        def forward(self, x, a):
            x = torch.cat([x, a], 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(obs_dim, hidden)
            self.fc2 = nn.Linear(hidden, hidden)
            self.fc_mu = nn.Linear(hidden, act_dim)
            self.register_buffer("action_scale", torch.full((act_dim,), (high - low) / 2.0))
            self.register_buffer("action_bias", torch.full((act_dim,), (high + low) / 2.0))

        def forward(self, x):
            x = torch.tanh(self.fc_mu(F.relu(self.fc2(F.relu(self.fc1(x))))))
            return x * self.action_scale + self.action_bias

    actor, qf1, qf2 = Actor(), QNetwork(), QNetwork()
    target_actor, qf1_target, qf2_target = Actor(), QNetwork(), QNetwork()
    target_actor.load_state_dict(actor.state_dict())
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=3e-4)
    actor_optimizer = torch.optim.Adam(list(actor.parameters()), lr=3e-4)

    obs = torch.rand(batch, obs_dim) * 2 - 1
    next_obs = torch.rand(batch, obs_dim) * 2 - 1
    actions = torch.rand(batch, act_dim) * (high - low) + low
    rewards = torch.rand(batch, 1) * 2 - 1
    dones = torch.zeros(batch, 1)
    step = [0]

    def update():
        with torch.no_grad():
            clipped_noise = (torch.randn_like(actions) * policy_noise).clamp(-noise_clip, noise_clip) * target_actor.action_scale
            next_state_actions = (target_actor(next_obs) + clipped_noise).clamp(low, high)
            qf1_next_target = qf1_target(next_obs, next_state_actions)
            qf2_next_target = qf2_target(next_obs, next_state_actions)
            min_qf_next_target = torch.min(qf1_next_target, qf2_next_target)
            next_q_value = rewards.flatten() + (1 - dones.flatten()) * gamma * min_qf_next_target.view(-1)
        qf1_a_values = qf1(obs, actions).view(-1)
        qf2_a_values = qf2(obs, actions).view(-1)
        qf_loss = F.mse_loss(qf1_a_values, next_q_value) + F.mse_loss(qf2_a_values, next_q_value)
        q_optimizer.zero_grad()
        qf_loss.backward()
        q_optimizer.step()
        step[0] += 1
        if step[0] % policy_frequency == 0:
            actor_loss = -qf1(obs, actor(obs)).mean()
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()
            for net, target in ((actor, target_actor), (qf1, qf1_target), (qf2, qf2_target)):
                for p, tp in zip(net.parameters(), target.parameters()):
                    tp.data.copy_(tau * p.data + (1 - tau) * tp.data)

    for _ in range(20):
        update()
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            update()
            update()
            n += 2
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(n / dt)
    return statistics.median(rates), min(rates), max(rates)


def acx_updates(acx, env, sizes, threads, repeats, quick):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "bench.json")
        cmd = [acx, "bench", "--device", "cpu", "--threads", str(threads), "--env", env, "--repeats", str(repeats),
               "--json", out]
        if quick:
            cmd.append("--quick")
        for b, h in sizes:
            cmd += ["--size", f"1024,{b},{h}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acx", required=True, help="the acx binary")
    ap.add_argument("--env", default="pendulum")
    ap.add_argument("--sizes", default="256x256,1024x256", help="BATCHxHIDDEN,... (CleanRL's TD3: 256x256)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (torch.set_num_threads)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed PyTorch block")
    ap.add_argument("--quick", action="store_true", help="short blocks (smoke test, not for docs/results.md)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "update_peers.json"))
    args = ap.parse_args()
    ensure_torch()
    import torch

    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    seconds = 0.2 if args.quick else args.seconds
    repeats = 3 if args.quick else args.repeats
    run = acx_updates(os.path.abspath(args.acx), args.env, sizes, args.threads, repeats, args.quick)
    obs_dim, act_dim = run["config"]["obs_dim"], run["config"]["act_dim"]
    figs = {f["name"]: f for f in run["figures"]}
    rows = []
    for b, h in sizes:
        f = figs[f"update/n=1024,b={b},h={h}"]
        acx_rate = f["rates"]["updates_per_s"]
        acx_min = 1.0 / f["seconds"]["max"]
        acx_max = 1.0 / f["seconds"]["min"]
        med, lo, hi = torch_td3_updates_per_s(obs_dim, act_dim, b, h, args.threads, seconds, repeats)
        rows.append({"batch": b, "hidden": h, "acx_updates_per_s": acx_rate, "acx_min": acx_min, "acx_max": acx_max,
                     "torch_updates_per_s": med, "torch_min": lo, "torch_max": hi, "ratio": acx_rate / med})

    m = run["machine"]
    print(f"# TD3 update throughput, {args.env} (obs {obs_dim}, act {act_dim}), {args.threads} CPU threads\n")
    print(f"machine: {m['cpu_model']} ({m['hardware_threads']} hardware threads); acx {run['acx_version']} "
          f"({m['blas']}); torch {torch.__version__}; python {platform.python_version()}\n")
    print("| batch | hidden | acx updates/s (min..max) | PyTorch CleanRL-TD3 updates/s (min..max) | acx / PyTorch |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['batch']} | {r['hidden']}x{r['hidden']} | {r['acx_updates_per_s']:.0f} ({r['acx_min']:.0f}..{r['acx_max']:.0f}) | "
              f"{r['torch_updates_per_s']:.0f} ({r['torch_min']:.0f}..{r['torch_max']:.0f}) | {r['ratio']:.2f}x |")
    with open(args.json, "w") as f:
        json.dump({"env": args.env, "threads": args.threads, "quick": args.quick, "torch": torch.__version__,
                   "machine": m, "acx_reference": run["reference"], "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
