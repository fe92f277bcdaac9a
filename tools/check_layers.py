#!/usr/bin/env python3
"""Check acx's floors: no source file includes one from a floor it may not stand on.

Usage: check_layers.py [REPO_ROOT]      (default: the repository this script is in)
       check_layers.py --self-test      (shows that a violation is caught)

Every C++/CUDA file (.h .hpp .cpp .cu .cuh) belongs to the floor of the longest
folder prefix below, and each `#include "..."` of a project file must name a
file of a floor in its `may include` set (its own floor always allowed). The
floors form a partial order, not a line: the file formats and the kernels
both stand on the runtime alone and know nothing of each other, and the
benchmarks and the Python module stand on the learning system, not on the
command line.

Exit 0 with a one-line summary; 1 listing `file:line: includes "x" (floor a
may not include floor b)` for every violation, a quoted include that names no
file in the tree, and a source file in no floor; 2 on bad arguments.
"""

import re
import sys
import tempfile
from pathlib import Path

# floor: (folders, the floors beneath it that it may include, one sentence)
FLOORS = {
    "runtime": (["kernels/runtime/"], set(),
                "device, buffers, errors, BLAS, the CUDA API and its emulated and absent twins, the kernel vocabulary and its SIMT emulation"),
    "io": (["host/io/"], {"runtime"},
           "file formats and logs: npy, safetensors, TensorBoard events, metrics.csv, the TOML config schema, atomic writes"),
    "kernels": (["kernels/"], {"runtime"},
                "host+device math with its CUDA and CPU shells"),
    "envs": (["envs/"], {"runtime", "kernels"},
             "environment dynamics, vectorized stepping, the env registry"),
    "dist": (["host/dist/"], {"runtime", "io"},
             "the processes of an mpirun or srun launch and their collectives (Open MPI)"),
    "learn": (["host/learn/"], {"runtime", "io", "kernels", "envs", "dist"},
              "the learning system: agents, the trainer and its configuration"),
    "cli": (["host/cli/"], {"runtime", "io", "kernels", "envs", "dist", "learn"},
            "the command line: acx and each of its commands"),
    "bench": (["bench/"], {"runtime", "io", "kernels", "envs", "dist", "learn"},
              "Google Benchmark kernels"),
    "python": (["python/"], {"runtime", "io", "kernels", "envs", "learn"},
               "the Python module"),
    "tests": (["tests/"], {"runtime", "io", "kernels", "envs", "dist", "learn", "cli", "bench", "python"},
              "tests may include anything"),
    "tools": (["tools/"], {"runtime", "io", "kernels", "envs", "dist", "learn", "cli"},
              "stand-alone helpers"),
}

SUFFIXES = {".h", ".hpp", ".cpp", ".cu", ".cuh"}
SKIP_DIRS = {".git", ".tools", "runs", "__pycache__"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def floor_of(rel):
    best, best_len = None, -1
    for name, (folders, _, _) in FLOORS.items():
        for f in folders:
            if rel.startswith(f) and len(f) > best_len:
                best, best_len = name, len(f)
    return best


def source_files(root):
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts and (rel.parts[0] in SKIP_DIRS or rel.parts[0].startswith(("build", ".venv"))):
            continue
        if p.is_file() and p.suffix in SUFFIXES:
            yield rel.as_posix()


def generated_exists(root, inc):
    # protoc output: host/io/x.pb.h is generated from host/io/x.proto.
    return inc.endswith(".pb.h") and (root / (inc[: -len(".pb.h")] + ".proto")).is_file()


def check(root):
    problems, n_files, n_includes = [], 0, 0
    for rel in source_files(root):
        n_files += 1
        me = floor_of(rel)
        if me is None:
            problems.append(f"{rel}: in no floor (tools/check_layers.py lists the folders of each)")
            continue
        allowed = FLOORS[me][1] | {me}
        for lineno, line in enumerate((root / rel).read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            if not (root / inc).is_file() and not generated_exists(root, inc):
                # A path relative to the including file is not how acx includes.
                problems.append(f'{rel}:{lineno}: includes "{inc}", which is no file of the tree '
                                f"(acx includes by the path from the repository root)")
                continue
            n_includes += 1
            theirs = floor_of(inc)
            if theirs not in allowed:
                problems.append(f'{rel}:{lineno}: includes "{inc}" (floor {me} may not include floor {theirs}; '
                                f"{me} stands on: {', '.join(sorted(FLOORS[me][1])) or 'nothing'})")
    return problems, n_files, n_includes


def self_test():
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        files = {
            "kernels/runtime/device.h": "#pragma once\n",
            "kernels/mlp.h": '#include "kernels/runtime/device.h"\n',
            "host/learn/agent.h": '#include "kernels/mlp.h"\n',
            "kernels/bad.h": '#include "host/learn/agent.h"\n',
            "envs/missing.h": '#include "envs/nowhere.h"\n',
            "host/stray.cpp": "\n",
        }
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        problems, _, _ = check(root)
        expect = ['kernels/bad.h:1: includes "host/learn/agent.h" (floor kernels may not include floor learn',
                  'envs/missing.h:1: includes "envs/nowhere.h", which is no file',
                  "host/stray.cpp: in no floor"]
        missing = [e for e in expect if not any(p.startswith(e) for p in problems)]
        if missing or len(problems) != len(expect):
            print("check_layers self-test FAILED; expected:\n  " + "\n  ".join(expect) + "\ngot:\n  " +
                  "\n  ".join(problems))
            return 1
    print(f"check_layers self-test: the {len(expect)} planted violations are reported, the 2 allowed includes are not")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parent.parent
    if not (root / "CMakeLists.txt").is_file():
        print(f"check_layers: {root} is not the acx source tree (no CMakeLists.txt)", file=sys.stderr)
        return 2
    problems, n_files, n_includes = check(root)
    if problems:
        print(f"check_layers: {len(problems)} problem(s):\n" + "\n".join(problems))
        return 1
    print(f"check_layers: {n_files} files, {n_includes} project includes, every one from an allowed floor")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
