#!/usr/bin/env python3
"""Table of bench/many_envs_pendulum.sh's runs: per run, the first evaluation
whose mean return reaches -200 (env steps, wall time) and the final one.

    python3 bench/many_envs_report.py runs/many-envs
"""
import csv
import json
import os
import re
import sys

THRESHOLD = -200.0


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/many-envs"
    rows = []
    for name in sorted(os.listdir(root)):
        m = re.fullmatch(r"(.+)-seed(\d+)", name)
        path = os.path.join(root, name, "summary.json")
        if not m or not os.path.exists(path):
            continue
        with open(path) as f:
            s = json.load(f)
        # updates at each evaluation's env step, from metrics.csv
        updates = {}
        with open(os.path.join(root, name, "metrics.csv")) as f:
            for r in csv.DictReader(f):
                updates[int(float(r["env_steps"]))] = int(float(r["updates"]))
        hit = next((e for e in s["evals"] if e["mean"] >= THRESHOLD), None)
        rows.append((m.group(1), int(m.group(2)), hit, updates.get(hit["env_steps"]) if hit else None, s))
    print("| config | seed | env steps to -200 | updates then | wall s then | final eval | env steps | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cfg, seed, hit, upd, s in rows:
        reach = (f"{hit['env_steps']} | {upd} | {hit['wall_s']:.1f}" if hit else "not reached | - | -")
        print(f"| {cfg} | {seed} | {reach} | {s['final_eval_return']:.1f} | {s['total_env_steps']} | {s['wall_s']:.1f} |")


if __name__ == "__main__":
    main()
