#!/usr/bin/env python3
"""Table and pictures of bench/peers/mujoco_train_vs_peer.sh's runs.

    python3 bench/peers/mujoco_train_report.py runs/mujoco-bench [--pictures docs/img]

Per task and seed: acx's final evaluation (10 episodes, its own), the same
actor scored in gymnasium's task (tools/eval_in_gymnasium.py), the peer's
final evaluation (10 episodes), and both wall times; then the means over
seeds with the ratios the issue sets targets for (acx / peer return, acx /
peer wall time, gymnasium / acx score). Draws one learning-curve picture
per task (acx: evaluation returns; peer: training episode returns, smoothed)
with matplotlib when it is importable.
"""
import argparse
import csv
import glob
import json
import os
import re
import statistics


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--pictures", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                                                        "img"))
    args = ap.parse_args()
    runs = {}
    for d in sorted(glob.glob(os.path.join(args.out, "*-acx-seed*"))):
        m = re.match(r"(.+)-acx-seed(\d+)$", os.path.basename(d))
        if not m or not os.path.isdir(d):
            continue
        task, seed = m.group(1), int(m.group(2))
        s = load(os.path.join(d, "summary.json"))
        if not s:
            continue
        g = load(os.path.join(d, "gymnasium_eval.json"))
        a100 = load(os.path.join(d, "acx_eval100.json"))
        g100 = load(os.path.join(d, "gymnasium_eval100.json"))
        p = load(os.path.join(args.out, f"{task}-peer-seed{seed}.json"))
        runs.setdefault(task, []).append({"seed": seed, "acx": s["final_eval_return"], "acx_s": s["wall_s"],
                                          "steps": s["total_env_steps"], "gym": g["mean_return"] if g else None,
                                          "peer": p["final_eval_mean"] if p else None,
                                          "peer_s": p["total_seconds"] if p else None, "dir": d,
                                          "curve": p["curve"] if p else [],
                                          "acx100": a100["mean_return"] if a100 else None,
                                          "gym100": g100["mean_return"] if g100 else None})
    print("| task | seed | env steps | acx eval | acx actor in gymnasium | gymnasium / acx | 100 episodes: acx eval, "
          "gymnasium, ratio | peer eval | acx s | peer s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    f = lambda x, d=1: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    for task, rs in runs.items():
        for r in sorted(rs, key=lambda r: r["seed"]):
            ratio = f"{r['gym'] / r['acx']:.3f}" if r["gym"] is not None and r["acx"] else "-"
            hundred = "-"
            if r["acx100"] is not None and r["gym100"] is not None and r["acx100"]:
                hundred = f"{r['acx100']:.1f}, {r['gym100']:.1f}, {r['gym100'] / r['acx100']:.3f}"
            print(f"| {task} | {r['seed']} | {r['steps']} | {f(r['acx'])} | {f(r['gym'])} | {ratio} | {hundred} | "
                  f"{f(r['peer'])} | {f(r['acx_s'], 0)} | {f(r['peer_s'], 0)} |")
    print()
    print("| task | seeds | acx mean eval | peer mean eval | acx / peer return | acx wall / peer wall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for task, rs in runs.items():
        a = statistics.mean(r["acx"] for r in rs)
        peers = [r for r in rs if r["peer"] is not None]
        if peers:
            p = statistics.mean(r["peer"] for r in peers)
            wa = statistics.mean(r["acx_s"] for r in peers)
            wp = statistics.mean(r["peer_s"] for r in peers)
            per_seed = ", ".join(f"{r['acx_s'] / r['peer_s']:.2f}" for r in sorted(peers, key=lambda r: r["seed"]))
            print(f"| {task} | {len(rs)} | {a:.1f} | {p:.1f} | {a / p:.2f} | {wa / wp:.2f} (per seed {per_seed}) |")
        else:
            print(f"| {task} | {len(rs)} | {a:.1f} | - | - | - |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    os.makedirs(args.pictures, exist_ok=True)
    for task, rs in runs.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in sorted(rs, key=lambda r: r["seed"]):
            xs, ys = [], []
            with open(os.path.join(r["dir"], "metrics.csv")) as fh:
                for row in csv.DictReader(fh):
                    if row.get("eval_return") not in (None, "", "nan"):
                        xs.append(int(row["env_steps"]))
                        ys.append(float(row["eval_return"]))
            ax.plot(xs, ys, color="tab:blue", label="acx TD3 (evaluation)" if r["seed"] == rs[0]["seed"] else None)
            if r["curve"]:
                steps = [c[0] for c in r["curve"]]
                rets = [c[1] for c in r["curve"]]
                k = 10
                sm = [statistics.mean(rets[max(0, i - k + 1):i + 1]) for i in range(len(rets))]
                ax.plot(steps, sm, color="tab:orange", alpha=0.8,
                        label="CleanRL-style TD3, PyTorch (training episodes, mean of 10)"
                        if r["seed"] == rs[0]["seed"] else None)
        ax.set_xlabel("env steps")
        ax.set_ylabel("return")
        with_peer = any(r["curve"] for r in rs)
        ax.set_title(f"{task}: TD3, acx and its peer, same budget" if with_peer else
                     f"{task}: acx TD3, {len(rs)} seed{'s' if len(rs) > 1 else ''} (no peer run)")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        path = os.path.join(args.pictures, f"mujoco_{task}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
