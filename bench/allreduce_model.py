#!/usr/bin/env python3
"""On paper: how many all-reduces of a TD3's gradients per second a ring allows.

  bench/allreduce_model.py [--bytes N] [--gpus-per-node 8]

The alpha-beta model of a ring all-reduce over P GPUs in P/g nodes:

  T(n) = base + (2(P-1) - 2(N-1)) a_intra + 2(N-1) a_inter + 2 (P-1)/P n / B

2(P-1) steps, of which 2(N-1) cross a node boundary; each step costs its
link's latency, and every GPU sends and receives 2 (P-1)/P of the n bytes
over the slowest link on the ring. The latencies are NCCL's own tuning
constants (NVIDIA/nccl src/graph/tuning.cc, baseLat and hwLat, ring
algorithm, LL and Simple protocols, at commit 01afd20a7); NCCL estimates
an all-reduce's time the same way (latency + bytes / bandwidth). The LL
protocol sends 8-byte lines of which 4 are data, so it gets half the link;
Simple gets the whole link. B: NVLink 900 GB/s within a node (H100/H200
NVLink 4), 400 Gb/s InfiniBand NDR (50 GB/s) per GPU between nodes.

Prints, for 8, 64 and 512 GPUs, the time of one all-reduce under each
protocol, the share of it that is latency, and the all-reduces per second
(the ceiling on data-parallel updates per second, before any compute).
"""
import argparse

# NCCL tuning.cc (commit 01afd20a7): ring, microseconds.
BASE_LAT = {"LL": 3.6, "Simple": 8.4}
HW_LAT = {"NVLink": {"LL": 0.47, "Simple": 3.4}, "Net": {"LL": 2.7, "Simple": 9.6}}
PROTOCOL_EFFICIENCY = {"LL": 0.5, "Simple": 1.0}
NVLINK_BYTES_PER_S = 900e9
IB_NDR_BYTES_PER_S = 400e9 / 8


def allreduce_us(n_bytes, gpus, per_node, protocol):
    nodes = max(1, gpus // per_node)
    steps, inter = 2 * (gpus - 1), 2 * (nodes - 1)
    latency = BASE_LAT[protocol] + (steps - inter) * HW_LAT["NVLink"][protocol] + inter * HW_LAT["Net"][protocol]
    link = IB_NDR_BYTES_PER_S if nodes > 1 else NVLINK_BYTES_PER_S
    transfer = 2 * (gpus - 1) / gpus * n_bytes / (link * PROTOCOL_EFFICIENCY[protocol]) * 1e6
    return latency, transfer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=float, default=1.4e6, help="gradient bytes per update (TD3 256x256: ~1.4 MB)")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    a = ap.parse_args()
    print(f"ring all-reduce of {a.bytes / 1e6:.2f} MB, {a.gpus_per_node} GPUs per node")
    print("| GPUs | protocol | latency us | transfer us | total us | latency share | all-reduces/s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for gpus in (8, 64, 512):
        best = None
        for protocol in ("LL", "Simple"):
            lat, xfer = allreduce_us(a.bytes, gpus, a.gpus_per_node, protocol)
            total = lat + xfer
            print(f"| {gpus} | {protocol} | {lat:.1f} | {xfer:.1f} | {total:.1f} | {lat / total:.0%} | "
                  f"{1e6 / total:,.0f} |")
            best = min(best or total, total)
        print(f"| {gpus} | faster of the two | | | {best:.1f} | | {1e6 / best:,.0f} |")


if __name__ == "__main__":
    main()
