#!/usr/bin/env python3
"""GPU static report: for every CUDA kernel of the CUDA build, its registers,
shared memory, stack, spills and local memory from the compiler, and its
theoretical occupancy on sm_80 and sm_90 at its launch block size, from CUDA's
occupancy calculator header (cuda_occupancy.h; no GPU needed).

    tools/gpu_static_report.py --lib BUILD/libacx_core.a --cuobjdump CUOBJDUMP \\
        --source . --md docs/gpu_static_report.md --json report.json --check
    tools/gpu_static_report.py --compile-commands BUILD/compile_commands.json ...   # no cuobjdump

Resource usage comes from `cuobjdump --dump-resource-usage LIB` (registers,
static shared memory, stack, local memory per kernel and architecture) or,
without cuobjdump, from ptxas -v: every .cu command of compile_commands.json
is re-run with -Xptxas=-v into a scratch object (the build itself does not
print that report: it is this tool's job, not every build's), and
ptxas's lines give the same figures plus spill stores and loads.

The block size of each kernel is read from its launch in the source:
ACX_LAUNCH(kernel, grid, BLOCK, SHARED, ...) with BLOCK a literal or a
`constexpr int` of the same file (kBlock).

--check exits 1 when any kernel spills, uses local memory or a stack frame
(every kernel is hot today), or has no launch whose block size can be read.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

ARCHS = (80, 90)
HERE = os.path.dirname(os.path.abspath(__file__))


def demangle(names):
    if not names:
        return {}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return {n: d.replace("(anonymous namespace)", "{anon}") for n, d in zip(names, out.splitlines())}


def base_name(demangled):
    """acx::vec_env_detail::env_step_kernel<acx::Pendulum>(...) -> env_step_kernel."""
    s = demangled.split("(", 1)[0]
    depth, plain = 0, ""
    for ch in s:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            plain += ch
    return plain.split("::")[-1].strip()


# ---- resource usage ------------------------------------------------------------------------
def from_cuobjdump(cuobjdump, lib):
    out = subprocess.run([cuobjdump, "--dump-resource-usage", lib], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"gpu_static_report: cuobjdump failed on {lib}: {out.stderr.strip()}")
    rows, member, arch = [], None, None
    for line in out.stdout.splitlines():
        m = re.match(r"member \S+:(\S+):", line)
        if m:
            member, arch = m.group(1), None
            continue
        m = re.match(r"\s*arch = sm_(\d+)", line)
        if m:
            arch = int(m.group(1))
            continue
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            rows.append({"mangled": m.group(1), "object": member, "arch": arch})
            continue
        if rows and line.strip().startswith("REG:") and "regs" not in rows[-1]:
            f = dict(re.findall(r"(\w+(?:\[\d+\])?):(\d+)", line))
            rows[-1].update({"regs": int(f["REG"]), "smem": int(f["SHARED"]), "stack": int(f["STACK"]),
                             "lmem": int(f["LOCAL"]), "spill_stores": None, "spill_loads": None})
    return [r for r in rows if "regs" in r]


def from_ptxas(compile_commands):
    with open(compile_commands) as f:
        cmds = [c for c in json.load(f) if c["file"].endswith(".cu")]
    if not cmds:
        sys.exit(f"gpu_static_report: no .cu file in {compile_commands} (is it a CUDA build?)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in cmds:
            args = shlex.split(c["command"]) if "command" in c else list(c["arguments"])
            if "-o" in args:
                args[args.index("-o") + 1] = os.path.join(tmp, "scratch.o")
            args = [a for a in args if not a.startswith("-Werror")] + ["-Xptxas=-v"]
            p = subprocess.run(args, cwd=c["directory"], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"gpu_static_report: compiling {c['file']} failed:\n{p.stderr}")
            obj = os.path.basename(c["file"]) + ".o"
            cur = None
            for line in p.stderr.splitlines():
                m = re.search(r"Compiling entry function '(\S+)' for 'sm_(\d+)'", line)
                if m:
                    cur = {"mangled": m.group(1), "object": obj, "arch": int(m.group(2)), "regs": 0, "smem": 0,
                           "stack": 0, "lmem": 0, "spill_stores": 0, "spill_loads": 0}
                    rows.append(cur)
                    continue
                if cur is None:
                    continue
                m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
                if m:
                    cur["stack"], cur["spill_stores"], cur["spill_loads"] = map(int, m.groups())
                m = re.search(r"Used (\d+) registers", line)
                if m:
                    cur["regs"] = int(m.group(1))
                    s = re.search(r"(\d+) bytes smem", line)
                    lm = re.search(r"(\d+) bytes lmem", line)
                    cur["smem"] = int(s.group(1)) if s else 0
                    cur["lmem"] = int(lm.group(1)) if lm else 0
    return rows


# ---- launch block sizes from the source ----------------------------------------------------------
def launch_blocks(source):
    """kernel base name -> (block, dynamic shared bytes, where)."""
    found = {}
    for sub in ("kernels", "envs", "host"):
        d = os.path.join(source, sub)
        for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if not fn.endswith((".cu", ".cuh", ".h")):
                continue
            path = os.path.join(d, fn)
            text = open(path).read()
            consts = dict(re.findall(r"constexpr\s+(?:int|unsigned)\s+(\w+)\s*=\s*(\d+)\s*;", text))
            for m in re.finditer(r"ACX_LAUNCH\(\s*(\w+)(?:<[^,]*>)?\s*,", text):
                args, depth, cur, i = [], 0, "", m.end()
                while i < len(text) and len(args) < 3:  # grid, block, shared
                    ch = text[i]
                    if ch in "(<[":
                        depth += 1
                    elif ch in ")>]":
                        if depth == 0:
                            break
                        depth -= 1
                    if ch == "," and depth == 0:
                        args.append(cur.strip())
                        cur = ""
                    else:
                        cur += ch
                    i += 1
                if len(args) < 3:
                    continue

                def value(tok):
                    tok = tok.strip()
                    if tok.isdigit():
                        return int(tok)
                    return int(consts[tok]) if tok in consts else None

                line = text.count("\n", 0, m.start()) + 1
                found[m.group(1)] = (value(args[1]), value(args[2]), f"{sub}/{fn}:{line}")
    return found


# ---- occupancy --------------------------------------------------------------------------------
def occupancy(rows, cuda_include):
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "occupancy_calc")
        subprocess.run(["g++", "-std=c++17", "-O1", f"-I{cuda_include}", os.path.join(HERE, "occupancy_calc.cpp"),
                        "-o", exe], check=True)
        todo = [r for r in rows if r["block"]]
        inp = "".join(f"{r['arch']} {r['regs']} {r['smem']} {r['block']} {r['dyn_smem'] or 0}\n" for r in todo)
        out = subprocess.run([exe], input=inp, capture_output=True, text=True, check=True).stdout.splitlines()
        for r, line in zip(todo, out):
            blocks, warps, max_warps, limiter = line.split()
            r["blocks_per_sm"], r["occupancy"], r["limiter"] = int(blocks), int(warps) / int(max_warps), limiter


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", help="libacx_core.a of a CUDA build (with --cuobjdump)")
    ap.add_argument("--cuobjdump", help="cuobjdump binary")
    ap.add_argument("--compile-commands", help="compile_commands.json of a CUDA build (ptxas -v instead of cuobjdump)")
    ap.add_argument("--source", default=os.path.dirname(HERE), help="repository root (launch block sizes)")
    ap.add_argument("--cuda-include", default="/usr/local/cuda/include", help="where cuda_occupancy.h is")
    ap.add_argument("--md", help="write the Markdown report here")
    ap.add_argument("--json", help="write the JSON report here")
    ap.add_argument("--check", action="store_true", help="exit 1 on spills, local memory, stack or unknown launches")
    args = ap.parse_args()

    if args.cuobjdump and os.path.exists(args.cuobjdump) and args.lib:
        rows, source_tool = from_cuobjdump(args.cuobjdump, args.lib), "cuobjdump --dump-resource-usage"
    elif args.compile_commands:
        rows, source_tool = from_ptxas(args.compile_commands), "ptxas -v (objects recompiled)"
    else:
        sys.exit("gpu_static_report: give --lib and --cuobjdump, or --compile-commands")
    if not rows:
        sys.exit("gpu_static_report: no kernel found")
    names = demangle(sorted({r["mangled"] for r in rows}))
    blocks = launch_blocks(args.source)
    for r in rows:
        # void acx::vec_env_detail::env_step_kernel<acx::Pendulum>(...) -> env_step_kernel<Pendulum>
        k = re.sub(r"^void ", "", names[r["mangled"]].split("(", 1)[0])
        r["kernel"] = re.sub(r"(\bacx|\bvec_env_detail|\{anon\})::", "", k)
        b = blocks.get(base_name(names[r["mangled"]]))
        r["block"], r["dyn_smem"], r["launch"] = b if b else (None, None, None)
    occupancy(rows, args.cuda_include)
    rows.sort(key=lambda r: (r["object"], r["kernel"], r["arch"]))

    problems = []
    for r in rows:
        why = []
        if r["spill_stores"] or r["spill_loads"]:
            why.append(f"spills ({r['spill_stores']} B stores, {r['spill_loads']} B loads)")
        if r["lmem"]:
            why.append(f"{r['lmem']} B local memory")
        if r["stack"]:
            why.append(f"{r['stack']} B stack frame")
        if not r["block"]:
            why.append("no ACX_LAUNCH with a readable block size")
        r["ok"] = not why
        if why:
            problems.append(f"{r['kernel']} (sm_{r['arch']}): " + ", ".join(why))

    def fmt_spill(r):
        return "?" if r["spill_stores"] is None else f"{r['spill_stores']}/{r['spill_loads']}"

    md = ["# GPU static report", "",
          "Generated by `tools/gpu_static_report.py` from the CUDA build (" + source_tool + "); "
          "occupancy from CUDA's `cuda_occupancy.h` with the A100 (sm_80) and H100 (sm_90) limits, "
          "at the block size of each kernel's `ACX_LAUNCH`. Do not edit by hand.", "",
          "| kernel | object | arch | block | regs | smem B | stack B | spill st/ld B | lmem B | blocks/SM | occupancy | limiter |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        occ = f"{100 * r['occupancy']:.0f}%" if r.get("occupancy") is not None else "?"
        md.append(f"| `{r['kernel']}` | {r['object']} | sm_{r['arch']} | {r['block'] or '?'} | {r['regs']} | {r['smem']} | "
                  f"{r['stack']} | {fmt_spill(r)} | {r['lmem']} | {r.get('blocks_per_sm', '?')} | {occ} | "
                  f"{r.get('limiter', '?')} |")
    md += ["", f"{len(rows)} kernel builds ({len({r['kernel'] for r in rows})} kernels x architectures); "
           + ("no spills, local memory or stack frames." if not problems else f"{len(problems)} problem(s):"), ""]
    md += [f"- {p}" for p in problems]
    text = "\n".join(md) + "\n"
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "acx-gpu-static-report", "schema_version": 1, "source": source_tool,
                       "kernels": rows}, f, indent=1)
    if not args.md:
        sys.stdout.write(text)
    if args.check and problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print(f"ok: {len(rows)} kernel builds, no spills, local memory or stack frames" if not problems
          else f"{len(problems)} problem(s) (not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
