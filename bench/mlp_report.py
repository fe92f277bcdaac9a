#!/usr/bin/env python3
"""Markdown tables from a bench_mlp.cpp run (Google Benchmark JSON).

    build/acx_bench_kernels --benchmark_filter='Sgemm|Td3|ActorGrad|MlpElement' --benchmark_out=mlp.json
    python3 bench/mlp_report.py mlp.json

With --benchmark_repetitions, the medians are used. The sgemm peak is the
best GFLOP/s of the BM_Sgemm entries of the same run;
each update's GFLOP/s (its GEMM FLOPs over its whole time) is shown as a
fraction of it. Exits 1 when the run has no sgemm entry to compare with.
"""
import argparse
import json
import re
import sys


def rate(entry):
    """GFLOP/s: the counter is GFLOP per iteration as a rate (per second)."""
    return float(entry["GFLOP/s"])


def ms(entry):
    t, unit = float(entry["real_time"]), entry.get("time_unit", "ns")
    return t * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    args = ap.parse_args()
    with open(args.json) as f:
        run = json.load(f)
    entries = [b for b in run["benchmarks"] if "error_occurred" not in b]
    medians = [b for b in entries if b.get("aggregate_name") == "median"]
    if medians:
        entries = medians
    else:
        entries = [b for b in entries if b.get("run_type", "iteration") == "iteration"]
    for b in entries:  # names without the repetition suffix
        b["name"] = b.get("run_name", b["name"])
    reps = run["benchmarks"][0].get("repetitions", 1) if run["benchmarks"] else 1
    sgemm = [b for b in entries if b["name"].startswith("BM_Sgemm/")]
    if not sgemm:
        sys.exit("no BM_Sgemm entry in the run: the peak must be measured in the same run")
    peak = max(rate(b) for b in sgemm)
    ctx = run.get("context", {})
    print(f"Machine: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load average {', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))} at the start; {ctx.get('date', '')}; "
          f"{'median of %d repetitions' % reps if medians else 'one run'}")
    print()
    print("| sgemm (acx::gemm, OpenBLAS) | time | GFLOP/s |")
    print("| --- | ---: | ---: |")
    for b in sgemm:
        n = b["name"].split("/")[1]
        print(f"| {n}^3 | {ms(b):.2f} ms | {rate(b):.1f} |")
    print(f"\nsgemm peak (best of the above): **{peak:.1f} GFLOP/s**\n")

    updates = [b for b in entries if b["name"].startswith("BM_Td3")]
    if updates:
        print("| update | dims | B | time | GEMM GFLOP per update | GFLOP/s | fraction of sgemm peak |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for b in updates:
            m = re.match(r"BM_Td3(\w+)Update/(\w+)/(\d+)", b["name"])
            kind, dims, batch = m.group(1).lower(), m.group(2), m.group(3)
            print(f"| {kind} | {dims} | {batch} | {ms(b):.2f} ms | {float(b['GFLOP']):.3f} | {rate(b):.1f} | "
                  f"{100 * rate(b) / peak:.0f}% |")
        print()
        print("Where the time goes (ms per update, stage timers inside the loop):\n")
        for kind in ("Critic", "Actor"):
            rows = [b for b in updates if b["name"].startswith(f"BM_Td3{kind}Update")]
            if not rows:
                continue
            stages = [k for k in rows[0] if k.startswith("ms_")]
            print("| " + kind.lower() + " update | B | " + " | ".join(s[3:] for s in stages) + " |")
            print("| --- | ---: | " + " | ".join("---:" for _ in stages) + " |")
            for b in rows:
                _, dims, batch = b["name"].split("/")[:3]
                print(f"| {dims} | {batch} | " + " | ".join(f"{float(b[s]):.2f}" for s in stages) + " |")
            print()

    grads = [b for b in entries if b["name"].startswith("BM_ActorGrad/")]
    if grads:
        print("| actor gradient (obs 3, hidden 64x64, act 1, B 256) | time | extra memory | GEMM GFLOP | rel. diff to VJP |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for b in grads:
            what = b["name"].split("/")[1]
            print(f"| {what} (P = {int(float(b['P']))}) | {ms(b):.2f} ms | {float(b['MB_extra']):.2f} MB | "
                  f"{float(b['GFLOP']):.3f} | {float(b['max_rel_diff']):.1e} |")
        by = {b["name"].split("/")[1]: b for b in grads}
        if "vjp" in by and "explicit_jacobian" in by:
            print(f"\nexplicit Jacobian / VJP: {ms(by['explicit_jacobian']) / ms(by['vjp']):.0f}x the time, "
                  f"{float(by['explicit_jacobian']['MB_extra']) / float(by['vjp']['MB_extra']):.0f}x the memory")
        print()

    elems = [b for b in entries if b["name"].startswith("BM_MlpElementKernels/")]
    if elems:
        print("| element kernel (E 2, B 4096, 256 features) | time | GB/s |")
        print("| --- | ---: | ---: |")
        for b in elems:
            print(f"| {b.get('label', b['name'])} | {ms(b) * 1e3:.0f} us | {float(b['bytes_per_second']) * 1e-9:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
