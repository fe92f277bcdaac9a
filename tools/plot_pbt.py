#!/usr/bin/env python3
"""Draws the members' evaluation returns of a population launch with and
without PBT (bench/pbt_pendulum.sh's run directories), side by side, with
each PBT copy marked where it happened.

  tools/plot_pbt.py PLAIN_DIR PBT_DIR OUT.png
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def member_curves(run_dir):
    """{member: ([env_steps], [return])} over the launch's rank directories."""
    dist = json.load(open(os.path.join(run_dir, "dist.json")))
    per = dist["agents_per_rank"]
    curves = {}
    for r in range(dist["ranks"]):
        s = json.load(open(os.path.join(run_dir, f"rank-{r}", "summary.json")))
        for e in s["evals"]:
            for k, v in enumerate(e["per_agent"]):
                xs, ys = curves.setdefault(r * per + k, ([], []))
                xs.append(e["env_steps"])
                ys.append(v)
    return curves


def main():
    plain, pbt, out = sys.argv[1:4]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    lrs = json.load(open(os.path.join(plain, "summary.json")))
    for ax, d, title in ((axes[0], plain, "without PBT"), (axes[1], pbt, "with PBT (pbt.interval 4000)")):
        curves = member_curves(d)
        cmap = plt.get_cmap("viridis")
        n = len(curves)
        for m, (xs, ys) in sorted(curves.items()):
            ax.plot(xs, ys, color=cmap(m / max(1, n - 1)), lw=1.5, label=f"member {m}")
        lineage = os.path.join(d, "pbt.csv")
        if os.path.exists(lineage):
            for row in csv.DictReader(open(lineage)):
                m, step = int(row["member"]), int(row["env_steps"])
                ax.annotate("", xy=(step, float(row["source_return"])), xytext=(step, float(row["member_return"])),
                            arrowprops=dict(arrowstyle="->", color=cmap(m / max(1, n - 1)), lw=1, alpha=0.8))
        ax.set_title(title)
        ax.set_xlabel("env steps per member")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("evaluation return (10 episodes)")
    axes[1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("pendulum, 8 members over 2 MPI ranks, actor learning rates 1e-6 ... 3e-3 "
                 f"(seed {lrs.get('seed')}); arrows: a member copying a better one")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
