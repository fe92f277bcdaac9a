#!/usr/bin/env python3
"""Are two acx outputs the same bits? For refactors that must not change behaviour.

  tools/same_run.py A B

A and B are two `acx gradcheck --dump` directories or two `acx train` run
directories (detected by their contents). Compared byte for byte:
  gradcheck dump  every .npy and index.json
  run directory   summary.json without wall times (and the thread count
                  chosen), metrics.csv without its timing columns, every
                  tensor of checkpoint.safetensors and its metadata without
                  wall times and checksums
Exit 0 when everything is equal, 1 (listing what differs) otherwise, 2 on bad input.
"""
import csv
import json
import os
import re
import struct
import sys

TIMING_COLUMNS = {"wall_s", "env_steps_per_s", "updates_per_s"}
# Wall times, and what follows from how the run was timed or scheduled (the
# thread count the governor chose, how its iterations went through CUDA
# graphs), not from what it computed.
TIMING_KEYS = {"wall_s", "cpu_threads", "cuda_graph"}
# Config lines that choose how a run is scheduled, not what it computes: a
# run with graphs is compared with one without (tests/emu_train.sh), a run on
# 1 CPU thread with one on 2 (every product has the same bits on any count).
SCHEDULING_CONFIG = re.compile(r"(?:^#.*\n)*^(?:cuda_graph|threads) = .*\n", re.M)  # with its comment
# The device line's thread count ("cpu (2 threads, OpenBLAS ...)").
DEVICE_THREADS = re.compile(r"^cpu \(\d+ threads, ")


def drop_timing(obj):
    if isinstance(obj, dict):
        return {k: drop_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [drop_timing(v) for v in obj]
    return obj


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
    # The checksums follow from the rest (and the evaluations' wall times in it).
    meta.pop("crc32", None)
    if "config" in meta:
        meta["config"] = SCHEDULING_CONFIG.sub("", meta["config"])
    if "evals" in meta:
        meta["evals"] = json.dumps(drop_timing(json.loads(meta["evals"])))
    return drop_timing(meta), tensors


def metrics_rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]


def compare_run(a, b, diffs):
    for name in ("summary.json",):
        ja, jb = (drop_timing(json.load(open(os.path.join(d, name)))) for d in (a, b))
        # The device line names the CPU's BLAS (equal on one machine) and thread count (dropped).
        for j in (ja, jb):
            if isinstance(j.get("device"), str):
                j["device"] = DEVICE_THREADS.sub("cpu (", j["device"])
        if ja != jb:
            keys = sorted(k for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
            diffs.append(f"summary.json differs in {keys}")
    ra, rb = metrics_rows(os.path.join(a, "metrics.csv")), metrics_rows(os.path.join(b, "metrics.csv"))
    if ra != rb:
        first = next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), min(len(ra), len(rb)))
        diffs.append(f"metrics.csv differs from row {first + 1} ({len(ra)} vs {len(rb)} rows)")
    ma, ta = read_safetensors(os.path.join(a, "checkpoint.safetensors"))
    mb, tb = read_safetensors(os.path.join(b, "checkpoint.safetensors"))
    if ma != mb:
        diffs.append(f"checkpoint metadata differs in {sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))}")
    if set(ta) != set(tb):
        diffs.append(f"checkpoint tensors differ in name: {sorted(set(ta) ^ set(tb))}")
    for k in sorted(set(ta) & set(tb)):
        if ta[k] != tb[k]:
            diffs.append(f"checkpoint tensor {k} differs")
    return len(ta)


def compare_dump(a, b, diffs):
    names = sorted(n for n in os.listdir(a) if n.endswith(".npy") or n == "index.json")
    other = sorted(n for n in os.listdir(b) if n.endswith(".npy") or n == "index.json")
    if names != other:
        diffs.append(f"file lists differ: {sorted(set(names) ^ set(other))}")
    for n in sorted(set(names) & set(other)):
        if open(os.path.join(a, n), "rb").read() != open(os.path.join(b, n), "rb").read():
            diffs.append(f"{n} differs")
    return len(names)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    a, b = sys.argv[1:]
    diffs = []
    if all(os.path.exists(os.path.join(d, "checkpoint.safetensors")) for d in (a, b)):
        n = compare_run(a, b, diffs)
        what = f"run directories (summary, metrics, {n} checkpoint tensors)"
    elif all(os.path.exists(os.path.join(d, "index.json")) for d in (a, b)):
        n = compare_dump(a, b, diffs)
        what = f"gradcheck dumps ({n} files)"
    else:
        print(f"same_run: {a} and {b} are not both run directories or both gradcheck dumps", file=sys.stderr)
        return 2
    if diffs:
        print(f"DIFFERENT {what}:\n  " + "\n  ".join(diffs))
        return 1
    print(f"same bits: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
