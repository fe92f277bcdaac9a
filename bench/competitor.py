#!/usr/bin/env python3
"""A competing process for measurements on a shared machine: one process,
THREADS threads, each keeping a core busy with float32 matrix products
(NumPy's BLAS, as another user's job would), until killed or SECONDS pass.

    /usr/bin/python3 bench/competitor.py [--threads 2] [--seconds 0]

Runs with the system's NumPy (Debian's python3-numpy, OpenBLAS underneath);
its BLAS threads are set before NumPy loads.
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=0, help="0: until killed")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np  # after the thread count is set

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    t0 = time.time()
    n = 0
    while args.seconds <= 0 or time.time() - t0 < args.seconds:
        a = (a @ a) * np.float32(1e-3)
        n += 1
    print(f"competitor: {n} products of 1024^2 in {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
