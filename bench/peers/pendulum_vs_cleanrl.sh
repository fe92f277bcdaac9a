#!/usr/bin/env bash
# Wall time to reach -200 on Pendulum-v1: CleanRL's TD3 (PyTorch, CPU) and
# acx's TD3 with CleanRL's settings (1 env, 256x256, batch 256, 1 update per
# step, learning starts 1000), seeds 1-3, one after the other on an idle
# machine, both with 2 threads. The figure for both is the wall time until
# the mean of the last 5 training episode returns reaches -200 (acx: the
# first metrics row whose train_return, over the 5 episodes since the
# previous row, reaches it). Usage: bench/peers/pendulum_vs_cleanrl.sh [ACX]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ACX=${1:-build/acx}
OUT=${OUT:-runs/peers}
mkdir -p "$OUT"
for seed in 1 2 3; do
  python3 bench/peers/cleanrl_td3.py --seed "$seed" --total-timesteps 30000 --learning-starts 1000 \
    > "$OUT/cleanrl-seed$seed.json"
  dir="$OUT/acx-cleanrl-settings-seed$seed"
  rm -rf "$dir"
  "$ACX" train --env pendulum --seed "$seed" --device cpu --out "$dir" --set env.n_envs=1 \
    --set 'net.actor_hidden=[256,256]' --set 'net.critic_hidden=[256,256]' --set run.threads=2 \
    --set algo.learning_starts=1000 --set algo.warmup_steps=1000 --set run.total_env_steps=20000 > "$dir.log" 2>&1
done
python3 - "$OUT" <<'PY'
import csv, json, os, statistics, sys
out = sys.argv[1]
rows = []
for seed in (1, 2, 3):
    c = json.load(open(os.path.join(out, f"cleanrl-seed{seed}.json")))
    acx_t = acx_steps = None
    with open(os.path.join(out, f"acx-cleanrl-settings-seed{seed}", "metrics.csv")) as f:
        for r in csv.DictReader(f):
            if r["train_return"] and float(r["train_return"]) >= -200:
                acx_t, acx_steps = float(r["wall_s"]), int(r["env_steps"])
                break
    rows.append((seed, c["seconds_to_threshold"], c["steps_to_threshold"], acx_t, acx_steps))
print("| seed | CleanRL TD3 s (steps) | acx TD3 s (steps) | CleanRL / acx |")
print("| ---: | ---: | ---: | ---: |")
for s, ct, cs, at, as_ in rows:
    ratio = f"{ct / at:.1f}x" if ct and at else "-"
    print(f"| {s} | {ct:.0f} ({cs}) | {at:.0f} ({as_}) | {ratio} |" if ct and at else f"| {s} | {ct} ({cs}) | {at} ({as_}) | - |")
ok = [(r[1], r[3]) for r in rows if r[1] and r[3]]
if ok:
    print(f"\nmean: CleanRL {statistics.mean(x for x, _ in ok):.0f} s, acx {statistics.mean(y for _, y in ok):.0f} s, "
          f"ratio of means {statistics.mean(x for x, _ in ok) / statistics.mean(y for _, y in ok):.1f}x")
PY
