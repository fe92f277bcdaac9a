#!/usr/bin/env python3
"""Summarize acx training runs for docs/results.md.

    python3 tools/collect_results.py runs/results/*  [--images docs/img]

Reads each run's summary.json, groups runs by env, and prints a Markdown
table: seeds, final eval return (mean over seeds, and each seed), wall time
per seed, env steps, and for pendulum the wall time to the first evaluation
at or above -200; for lqr the cost as a multiple of the Riccati optimum.
With --images, copies each run's learning_curve.png to IMAGES/<run>.png.
"""
import argparse
import json
import os
import shutil
import statistics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--images", default=None)
    args = ap.parse_args()
    by_env = {}
    for run in args.runs:
        path = os.path.join(run, "summary.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            s = json.load(f)
        s["run"] = os.path.basename(os.path.normpath(run))
        by_env.setdefault(s["env"], []).append(s)
        png = os.path.join(run, "learning_curve.png")
        if args.images and os.path.exists(png):
            os.makedirs(args.images, exist_ok=True)
            shutil.copy(png, os.path.join(args.images, s["run"] + ".png"))
    print("| env | algo | seeds | final eval return, mean over seeds | per seed | wall s per seed | env steps | notes |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | --- |")
    for env, runs in by_env.items():
        finals = [r["final_eval_return"] for r in runs]
        walls = [r["wall_s"] for r in runs]
        notes = []
        if env == "pendulum":
            t = []
            for r in runs:
                hit = [e for e in r["evals"] if e["mean"] >= -200]
                t.append(f"{hit[0]['wall_s']:.0f} s / {hit[0]['env_steps']}" if hit else "never")
            notes.append("first eval >= -200 (wall, env steps): " + ", ".join(t))
        if env == "lqr":
            ratios = [r.get("lqr_cost_ratio") for r in runs]
            opt = runs[0].get("lqr_optimal_return")
            notes.append(f"optimal return {opt:.3f}; cost / optimal: " + ", ".join(f"{x:.3f}" for x in ratios))
        print(f"| {env} | {runs[0]['algo']} | {len(runs)} | {statistics.mean(finals):.1f} | "
              f"{', '.join(f'{x:.1f}' for x in finals)} | {statistics.mean(walls):.0f} | {runs[0]['env_steps']} | "
              f"{'; '.join(notes)} |")


if __name__ == "__main__":
    main()
