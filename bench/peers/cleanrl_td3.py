#!/usr/bin/env python3
"""CleanRL's TD3 (PyPI package cleanrl 1.2.0, PyTorch on the CPU) on
Pendulum-v1, timed the way acx's runs are: wall seconds until the mean of
the last 5 training episode returns reaches a threshold (default -200).

    python3 bench/peers/cleanrl_td3.py --seed 1 [--total-timesteps 30000] [--learning-starts 1000]

Installs its peers into a private venv on first use: torch, gym 0.23.1 and
pygame from PyPI, stable-baselines3 1.2.0 (cleanrl 1.2.0's pin) and the
cleanrl 1.2.0 wheel itself (its metadata says Python < 3.11; the TD3 script
runs on 3.11, so both are installed with --no-deps --ignore-requires-python). The script is run unmodified as
`python -m cleanrl.td3_continuous_action`; its hyper-parameters are its own
defaults except the env, the step budget, learning-starts and --cuda False.
Prints one JSON line: seed, seconds to threshold (null if never), final
mean return, total wall seconds, torch threads.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import pinned_venv  # noqa: E402

# cleanrl 1.2.0's td3_continuous_action.py is written for gym 0.23 (4-tuple
# step, env.seed) and stable-baselines3 1.2.0's ReplayBuffer.
PEERS = ["torch", "tensorboard", "gym==0.23.1", "pygame", "numpy"]
NO_DEPS = ["stable-baselines3==1.2.0"]


def install_cleanrl(py):
    subprocess.check_call([py, "-m", "pip", "install", "-q", "--no-deps"] + NO_DEPS)
    with tempfile.TemporaryDirectory() as d:
        subprocess.check_call([py, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "--python-version", "3.10", "-d", d, "cleanrl==1.2.0"])
        wheel = [f for f in os.listdir(d) if f.endswith(".whl")][0]
        subprocess.check_call([py, "-m", "pip", "install", "-q", "--no-deps", "--ignore-requires-python",
                               os.path.join(d, wheel)])


def venv_python():
    return pinned_venv.venv_python("cleanrl", PEERS,
                                   "import torch, gym, pygame, stable_baselines3, cleanrl.td3_continuous_action",
                                   install=install_cleanrl)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--total-timesteps", type=int, default=30000)
    ap.add_argument("--learning-starts", type=int, default=1000)
    ap.add_argument("--threshold", type=float, default=-200.0)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--run-to-end", action="store_true",
                    help="keep training after the threshold (default: stop there, the figure is the time to it)")
    args = ap.parse_args()
    py = venv_python()
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [py, "-u", "-m", "cleanrl.td3_continuous_action", "--env-id", "Pendulum-v1", "--seed", str(args.seed),
               "--total-timesteps", str(args.total_timesteps), "--learning-starts", str(args.learning_starts),
               "--cuda", "False"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=run_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        returns, reached = [], None
        pat = re.compile(r"global_step=(\d+), episodic_return=\[?(-?[0-9.e+-]+)")
        for line in proc.stdout:
            m = pat.search(line)
            if not m:
                continue
            returns.append(float(m.group(2)))
            recent = returns[-args.window:]
            if reached is None and len(recent) == args.window and sum(recent) / len(recent) >= args.threshold:
                reached = {"seconds": time.perf_counter() - t0, "global_step": int(m.group(1))}
                if not args.run_to_end:
                    proc.terminate()
                    break
        proc.wait()
        total = time.perf_counter() - t0
    if proc.returncode != 0 and not (reached and not args.run_to_end):
        sys.exit(f"cleanrl exited with {proc.returncode}")
    threads = subprocess.run([py, "-c", "import torch; print(torch.get_num_threads())"], capture_output=True,
                             text=True).stdout.strip()
    tail = returns[-args.window:]
    print(json.dumps({"peer": "cleanrl-1.2.0 td3_continuous_action", "seed": args.seed,
                      "seconds_to_threshold": reached["seconds"] if reached else None,
                      "steps_to_threshold": reached["global_step"] if reached else None,
                      "final_mean_return": sum(tail) / len(tail) if tail else None,
                      "episodes": len(returns), "total_seconds": total, "torch_threads": int(threads or 0),
                      "total_timesteps": args.total_timesteps, "learning_starts": args.learning_starts}))


if __name__ == "__main__":
    main()
