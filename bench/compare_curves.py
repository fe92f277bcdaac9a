#!/usr/bin/env python3
"""Evaluation curves of several algorithms on one task, one colour each.

    bench/compare_curves.py OUT.png --title TEXT LABEL=DIR[,DIR...] [LABEL=DIR,...]

Each DIR is a run directory (or a copy of one in bench/results) with a
metrics.csv, or such a CSV file itself; every seed of a label is drawn as a thin line in the label's
colour and the mean over its seeds (at the steps all of them evaluated) as
a thick one. --hline VALUE draws a target line. Needs matplotlib.
"""
import argparse
import csv
import os
import sys


def eval_curve(run_dir):
    path = run_dir if run_dir.endswith(".csv") else os.path.join(run_dir, "metrics.csv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"compare_curves: cannot read {path}: {e.strerror}")
    out = {}
    for r in rows:
        v = r.get("eval_return", "")
        if v not in ("", "nan"):
            out[int(float(r["env_steps"]))] = float(v)
    if not out:
        sys.exit(f"compare_curves: {path} has no evaluations")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("groups", nargs="+", help="LABEL=DIR[,DIR...]")
    ap.add_argument("--title", default="")
    ap.add_argument("--hline", type=float, action="append", default=[], help="a target line at this return")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, group in enumerate(args.groups):
        label, sep, dirs = group.partition("=")
        if not sep or not dirs:
            sys.exit(f"compare_curves: {group!r} is not LABEL=DIR[,DIR...]")
        curves = [eval_curve(d) for d in dirs.split(",")]
        c = colours[i % len(colours)]
        for cur in curves:
            xs = sorted(cur)
            ax.plot(xs, [cur[x] for x in xs], color=c, alpha=0.35, linewidth=1)
        common = sorted(set.intersection(*(set(cur) for cur in curves)))
        ax.plot(common, [sum(cur[x] for cur in curves) / len(curves) for x in common], color=c, linewidth=2.2,
                label=f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''}, mean thick)")
    for y in args.hline:
        ax.axhline(y, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(args.out)


if __name__ == "__main__":
    main()
