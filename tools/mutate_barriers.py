#!/usr/bin/env python3
"""Would the tests notice a missing barrier? Removes each __syncthreads() of
the kernels in turn, rebuilds the SIMT emulation build and runs the kernel
tests in each thread order; a barrier whose removal no order catches is a
gap in the tests. Restores every file, whatever happens.

    python3 tools/mutate_barriers.py [--build build-emu] [--schedules forward,reverse,shuffle]

Needs a configured emulation build (scripts/test.sh emu makes build-emu).
Prints one row per barrier: the file and line, and for each order whether
the tests failed (caught) or passed (missed). Exits 1 when a barrier is
missed in every order.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BARRIER = re.compile(r"^(\s*)__syncthreads\(\);")
TESTS = "*/cuda:*CpuVsCuda*"


def barriers():
    for folder in ("kernels", "envs"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            if os.path.relpath(dirpath, ROOT).startswith(os.path.join("kernels", "runtime")):
                continue  # the emulator's own vocabulary, not a kernel
            for name in sorted(names):
                if not name.endswith((".cu", ".cuh", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                for i, line in enumerate(open(path).read().split("\n")):
                    if BARRIER.match(line):
                        yield path, i


def run_tests(build, schedule):
    env = dict(os.environ, ACX_SIMT_SCHEDULE=schedule, ACX_SIMT_SEED="1")
    env.pop("ACX_SIMT_LAUNCH_LOG", None)
    p = subprocess.run([os.path.join(build, "acx_tests"), f"--gtest_filter={TESTS}"], env=env,
                       capture_output=True, text=True, timeout=1800)
    failed = [n.rstrip(",") for n in re.findall(r"^\[  FAILED  \] (\S+\.\S+)", p.stdout, re.M)]
    return p.returncode != 0, sorted(set(failed))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-emu"))
    ap.add_argument("--schedules", default="forward,reverse,shuffle")
    args = ap.parse_args()
    schedules = args.schedules.split(",")
    if not os.path.exists(os.path.join(args.build, "acx_tests")):
        sys.exit(f"mutate_barriers: no emulation build in {args.build} (scripts/test.sh emu makes one)")
    rows, missed = [], 0
    for path, index in barriers():
        original = open(path).read()
        lines = original.split("\n")
        lines[index] = BARRIER.sub(r"\1/* barrier removed by tools/mutate_barriers.py */", lines[index])
        where = f"{os.path.relpath(path, ROOT)}:{index + 1}"
        try:
            open(path, "w").write("\n".join(lines))
            b = subprocess.run(["cmake", "--build", args.build, "--target", "acx_tests"], capture_output=True, text=True)
            if b.returncode != 0:
                sys.exit(f"mutate_barriers: the build failed with {where} removed:\n{b.stdout[-2000:]}")
            result = {s: run_tests(args.build, s) for s in schedules}
        finally:
            open(path, "w").write(original)
        caught = [s for s in schedules if result[s][0]]
        missed += not caught
        rows.append((where, result))
        print(f"{where}: " + ", ".join(f"{s} {'caught' if result[s][0] else 'MISSED'} ({len(result[s][1])} failing)"
                                       for s in schedules), flush=True)
        for s in schedules:
            for name in result[s][1][:4]:
                print(f"    {s}: {name}")
    subprocess.run(["cmake", "--build", args.build, "--target", "acx_tests"], capture_output=True)
    print(f"{len(rows)} barriers; {missed} missed in every order")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
