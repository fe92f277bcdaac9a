#!/usr/bin/env python3
"""Check that every CUDA kernel in the tree was launched by an emulation test.

Usage: check_kernel_coverage.py REPO_ROOT LAUNCH_LOG [LAUNCH_LOG ...] [--allow NAME ...]

Finds every __global__ function in *.cu and *.cuh files under kernels/, envs/,
host/ and tests/ of REPO_ROOT, and reads the launch logs the SIMT emulation
writes at exit (ACX_SIMT_LAUNCH_LOG: one bare kernel name per line). Exits 0
with "N of N kernels covered" when each kernel was launched at least once,
1 listing each kernel that no test launched (and where it is defined), and 2
when a log is missing or the arguments are wrong. --allow NAME exempts a
kernel, for the rare one that cannot run under the emulation; say why where
the exemption is written.
"""

import argparse
import re
import sys
from pathlib import Path

SOURCE_DIRS = ("kernels", "envs", "host", "tests")
SOURCE_SUFFIXES = (".cu", ".cuh")


def strip_comments_and_strings(text):
    """Blank out comments and string/char literals, keeping line numbers."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_balanced(text, i):
    """text[i] == '(': return the index just past the matching ')'."""
    depth = 0
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


IDENT = re.compile(r"[A-Za-z_]\w*")
GLOBAL = re.compile(r"\b__global__\b")
LAUNCH_BOUNDS = re.compile(r"\s*__launch_bounds__\s*\(")


def kernels_in(text):
    """(name, line) of each __global__ function in C++/CUDA source text.

    The name is the identifier just before the first '(' after __global__,
    skipping __launch_bounds__(...); so `template <...> __global__ void k(`,
    `__global__ void __launch_bounds__(256) k(` and `void __global__ k(` all work.
    """
    text = strip_comments_and_strings(text)
    # Drop preprocessor lines (e.g. `#define __global__` in a shim).
    text = "\n".join("" if line.lstrip().startswith("#") else line for line in text.split("\n"))
    found = []
    for m in GLOBAL.finditer(text):
        i = m.end()
        last_ident = None
        while i < len(text):
            lb = LAUNCH_BOUNDS.match(text, i)
            if lb:
                i = skip_balanced(text, lb.end() - 1)
                continue
            c = text[i]
            if c == "(":
                break
            if c in ";{}":  # not a function declaration after all
                last_ident = None
                break
            ident = IDENT.match(text, i)
            if ident:
                last_ident = ident.group(0)
                i = ident.end()
            else:
                i += 1
        if last_ident:
            found.append((last_ident, text.count("\n", 0, m.start()) + 1))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo_root", type=Path)
    parser.add_argument("launch_logs", type=Path, nargs="+")
    parser.add_argument("--allow", action="append", default=[], metavar="NAME",
                        help="a kernel exempt from the rule (repeatable)")
    args = parser.parse_args()

    kernels = {}  # name -> [(path, line)]
    for d in SOURCE_DIRS:
        root = args.repo_root / d
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and path.is_file():
                rel = path.relative_to(args.repo_root)
                for name, line in kernels_in(path.read_text(encoding="utf-8", errors="replace")):
                    kernels.setdefault(name, []).append((rel, line))

    launched = set()
    for log in args.launch_logs:
        if not log.is_file():
            print(f"check_kernel_coverage: launch log {log} not found: did the emulation tests run, "
                  "with ACX_SIMT_LAUNCH_LOG set to it?", file=sys.stderr)
            return 2
        launched.update(line.strip() for line in log.read_text().splitlines() if line.strip())

    allowed = set(args.allow)
    missing = sorted(name for name in kernels if name not in launched and name not in allowed)
    checked = len([k for k in kernels if k not in allowed])
    if missing:
        print(f"{len(missing)} of {checked} kernels were not launched by any emulation test:")
        for name in missing:
            where = ", ".join(f"{p}:{line}" for p, line in kernels[name])
            print(f"  {name}  ({where})")
        print("Launch each through ACX_LAUNCH in a test that runs under ACX_SIMT_EMULATION "
              "(see docs/testing.md).")
        return 1
    note = f" ({len(allowed & set(kernels))} allowed)" if allowed & set(kernels) else ""
    print(f"{checked} of {checked} kernels covered{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
