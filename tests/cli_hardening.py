#!/usr/bin/env python3
"""The CLI against an attacker and a careless user, class by class.

    python3 tests/cli_hardening.py BUILD/acx

Each case runs acx as a user would and asserts the exit code and the message
(and, where data is at stake, what is left on disk): shell injection through
paths, terminal escapes and huge values echoed back, two trainings in one
directory, resume bookkeeping after kills, checkpoint metadata and tensors
that lie, non-finite and overflowing values, unbounded reads, and the small
ones (empty paths, a file where a directory belongs, negative seeds). Prints
one line per check; exits 1 if any failed. Uses only the standard library.
"""
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ACX = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else sys.exit(__doc__)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILED = []

# A run small enough to take a second or two, big enough to be killed mid-way.
SMALL = ["--env", "pendulum", "--device", "cpu", "--set", "run.threads=1", "--set", "env.n_envs=4",
         "--set", "net.actor_hidden=[32, 32]", "--set", "net.critic_hidden=[32, 32]", "--set", "algo.batch_size=64",
         "--set", "algo.learning_starts=200", "--set", "algo.warmup_steps=200", "--set", "run.eval_episodes=2",
         "--set", "replay.capacity=20000"]


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond else f"\n    {detail}"))
    if not cond:
        FAILED.append(what)


def acx(*args, cwd=None, timeout=300):
    p = subprocess.run([ACX, *args], cwd=cwd, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), p.stderr


def error_line(err):
    lines = [l for l in err.splitlines() if l.startswith("acx: error:")]
    return lines[-1] if lines else ""


def expect(code, what, args, needles=(), cwd=None):
    rc, out, err, raw = acx(*args, cwd=cwd)
    line = error_line(err)
    ok = rc == code and all(n in err for n in needles)
    if code == 2:
        ok = ok and line != "" and b"\x1b" not in raw
    check(ok, what, f"exit {rc} (want {code}); stderr: {err[-600:]!r}; want {needles}")
    return rc, out, err


# ---- safetensors editing (the format by hand, checksums recomputed) --------------

def read_st(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), bytearray(raw[8 + n:])


def write_st(path, header, data, fix_crc=True):
    meta = header["__metadata__"]
    if fix_crc:
        crcs = json.loads(meta["crc32"])
        m = 0
        for k in sorted(meta):
            if k == "crc32":
                continue
            m = zlib.crc32(k.encode() + b"\0" + meta[k].encode() + b"\0", m)
        crcs["__metadata__"] = "%08x" % m
        for name, e in header.items():
            if name != "__metadata__":
                a, b = e["data_offsets"]
                crcs[name] = "%08x" % zlib.crc32(bytes(data[a:b]))
        meta["crc32"] = json.dumps(crcs, separators=(",", ":"))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))


def tensor_slice(header, name):
    return slice(*header[name]["data_offsets"])


def summary_evals(run):
    s = json.load(open(os.path.join(run, "summary.json")))
    return [{k: v for k, v in e.items() if k != "wall_s"} for e in s["evals"]]


def metric_rows(run):
    rows = open(os.path.join(run, "metrics.csv")).read().splitlines()
    head = rows[0].split(",")
    keep = [i for i, h in enumerate(head) if h not in ("wall_s", "env_steps_per_s", "updates_per_s")]
    return [[r.split(",")[i] for i in keep] for r in rows]


def start(args, cwd):
    return subprocess.Popen([ACX, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(proc, cond, what):
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            check(False, f"{what}: the run was still going when killed", "it finished first (too fast to kill?)")
            return False
        if time.time() - t0 > 240:
            proc.kill()
            check(False, f"{what}: the kill point never came")
            return False
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def main():
    work = tempfile.mkdtemp(prefix="acx_hardening_")
    try:
        run_cases(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all passed'}")
    return 1 if FAILED else 0


def run_cases(w):
    base = os.path.join(w, "uninterrupted")
    length = ["--set", "run.total_env_steps=2400", "--set", "run.eval_every=400", "--set", "run.checkpoint_every=400",
              "--set", "run.log_every=200"]
    rc, _, err, _ = acx("train", *SMALL, *length, "--out", base)
    check(rc == 0, "a small uninterrupted run trains", err[-400:])

    # ---- 1. shell injection: a path is data, never a command ----------------------
    for name in ["x'$(touch PWNED1)'y", "a;touch PWNED2", "$(touch PWNED3)", "`touch PWNED4`", "q\"'$(touch PWNED5)"]:
        acx("train", *SMALL, "--set", "run.total_env_steps=400", "--out", name, cwd=w)
    pwned = [f for f in os.listdir(w) if f.startswith("PWNED")]
    check(not pwned, "run directories named like shell commands run nothing", f"created {pwned}")
    check(os.path.isdir(os.path.join(w, "x'$(touch PWNED1)'y")), "... and are plain directories with those names")
    sources = subprocess.run(["grep", "-rnE", r"std::system|popen\(|\bsystem\(", os.path.join(ROOT, "host"),
                              os.path.join(ROOT, "kernels"), os.path.join(ROOT, "envs")], capture_output=True, text=True)
    check(sources.stdout == "", "no acx source calls system() or popen()", sources.stdout)

    # ---- 2. terminal escapes, NULs and huge values in messages ----------------------
    esc = os.path.join(w, "esc.toml")
    open(esc, "w").write('[env]\nname = "\\u001b]0;owned\\u0007\\u001b[2Jred\\u0000tail"\n')
    rc, _, err, raw = acx("train", "--config", esc)
    check(rc == 2 and b"\x1b" not in raw and b"\x07" not in raw and b"\x00" not in raw and "\\x1B" in err
          and "known envs" in err, "escape sequences and NUL in a config value are shown escaped, the message whole",
          repr(raw[-300:]))
    rc, _, err, raw = acx("train", "--env", "a\x1b[31mb", "--out", os.path.join(w, "e"))
    check(rc == 2 and b"\x1b" not in raw, "an escape in --env is not echoed raw", repr(raw[-300:]))
    rc, _, err, raw = acx("train", "--out", os.path.join(w, "e2"), "--set", "run.name\x1b[2J=1")
    check(rc == 2 and b"\x1b" not in raw, "an escape in a --set key is not echoed raw", repr(raw[-300:]))
    big = os.path.join(w, "big.toml")
    open(big, "w").write('[algo]\nname = "' + "a" * 10_000_000 + '"\n')
    rc, _, err, raw = acx("train", "--config", big)
    check(rc == 2 and len(raw) < 2000 and "more bytes not shown" in err, "a 10 MB value is cut in the message",
          f"{len(raw)} bytes of stderr")
    huge = os.path.join(w, "huge.toml")
    with open(huge, "w") as f:
        f.write("#" + "x" * (20 << 20) + "\n")
    expect(2, "a 20 MB config file is refused by size", ["train", "--config", huge], ["over the 16 MiB limit"])
    bad_npy = os.path.join(w, "bad.npy")
    open(bad_npy, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 40) + b"{'descr': '\x1b[31m', " + b" " * 17 + b"\n")
    rc, _, err, raw = acx("rollout", "--env", "pendulum", "--init", bad_npy, "--actions", bad_npy, "--out",
                          os.path.join(w, "ro"))
    check(rc == 2 and b"\x1b" not in raw, "an escape in an .npy header is not echoed raw", repr(raw[-300:]))

    # ---- 3. one owner per run directory --------------------------------------------
    both = os.path.join(w, "race")
    long = ["--set", "run.total_env_steps=3000", "--set", "run.checkpoint_every=1000"]
    a = start(["train", *SMALL, *long, "--seed", "11", "--out", both], w)
    b = start(["train", *SMALL, *long, "--seed", "12", "--out", both], w)
    ea, eb = a.communicate()[1].decode(), b.communicate()[1].decode()
    codes = sorted([a.returncode, b.returncode])
    loser_err = eb if b.returncode else ea
    winner = a if a.returncode == 0 else b
    check(codes == [0, 2] and f"in use by another acx process (pid {winner.pid}" in loser_err,
          "two trainings into one directory: one trains, the other is refused naming the holder's pid",
          f"exit codes {a.returncode}, {b.returncode}; stderr: {loser_err[-300:]}")
    seed = "11" if winner is a else "12"
    cfg = open(os.path.join(both, "config.toml")).read()
    check(f"\nseed = {seed}\n" in cfg, "... and the winner's config.toml is the winner's")
    rc, _, err, _ = acx("train", "--resume", both, "--set", "run.total_env_steps=3400")
    check(rc == 0, "... and the winner's run resumes", err[-300:])

    # ---- 4. resume bookkeeping: what a run reported survives kills ------------------
    killed = os.path.join(w, "killed")
    p = start(["train", *SMALL, *length, "--out", killed], w)
    ck = os.path.join(killed, "checkpoint.safetensors")
    if kill_when(p, lambda: os.path.exists(ck), "kill after the first checkpoint"):
        for _ in range(2):  # kill the resumed run too, once it has written another checkpoint
            before = os.path.getmtime(ck)
            p = start(["train", "--resume", killed], w)
            if not kill_when(p, lambda: os.path.getmtime(ck) != before, "kill a resumed run"):
                break
        rc, _, err, _ = acx("train", "--resume", killed)
        check(rc == 0, "a run killed twice resumes to the end", err[-300:])
        check(summary_evals(killed) == summary_evals(base),
              "... and its summary.json holds every evaluation, as the uninterrupted run's",
              f"{summary_evals(killed)} vs {summary_evals(base)}")
        check(metric_rows(killed) == metric_rows(base), "... and its metrics.csv matches the uninterrupted run's")
        # The run was started with --device cpu; a plain --resume keeps it there, also in a
        # build where auto would pick a (real or emulated) GPU.
        device = json.load(open(os.path.join(killed, "summary.json")))["device"]
        check(device.startswith("cpu"), "... on the device it was started on (run.device), not auto's", device)
    before_summary = open(os.path.join(base, "summary.json")).read()
    before_metrics = open(os.path.join(base, "metrics.csv")).read()
    n_events = len([f for f in os.listdir(base) if f.startswith("events.out")])
    rc, out, err, _ = acx("train", "--resume", base)
    check(rc == 0 and "nothing to train" in err, "resuming a finished run trains nothing and says so", err[-300:])
    check(summary_evals(base) == [{k: v for k, v in e.items() if k != "wall_s"} for e in json.loads(before_summary)["evals"]]
          and open(os.path.join(base, "metrics.csv")).read() == before_metrics
          and len([f for f in os.listdir(base) if f.startswith("events.out")]) == n_events,
          "... and keeps its evaluations, metrics and event files")
    cfg_before = open(os.path.join(base, "config.toml")).read()
    expect(2, "resuming with fewer steps than done is refused",
           ["train", "--resume", base, "--set", "run.total_env_steps=1000"],
           ["run.total_env_steps = 1000 is below the 2400 env steps"])
    check(open(os.path.join(base, "config.toml")).read() == cfg_before, "... and leaves config.toml as it was")

    # --device moves a resumed run and says that its bits are another device's; the run keeps the new one.
    moved = os.path.join(w, "moved")
    shutil.copytree(base, moved)
    rc, _, err, _ = acx("train", "--resume", moved, "--device", "auto", "--set", "run.total_env_steps=2800")
    check(rc == 0 and "note: the run trained with run.device = cpu and resumes with auto" in err
          and 'device = "auto"' in open(os.path.join(moved, "config.toml")).read(),
          "--resume --device moves a run, says so, and records the new run.device", err[-400:])

    # Temporaries of killed writes are removed on the next start.
    stale = os.path.join(base, "checkpoint.safetensors.tmp.424242")
    open(stale, "wb").write(b"\0" * (2 << 20))
    rc, _, err, _ = acx("train", "--resume", base)
    check(rc == 0 and not os.path.exists(stale) and "removed 1 temporary file (2.1 MB)" in err,
          "a killed write's temporary file is removed on the next start", err[-300:])

    # A run killed before its first checkpoint: refused as a fresh start, restarted by --resume.
    early = os.path.join(w, "early")
    p = start(["train", *SMALL, *length, "--set", "run.checkpoint_every=0", "--out", early], w)
    if kill_when(p, lambda: os.path.exists(os.path.join(early, "metrics.csv"))
                 and len(open(os.path.join(early, "metrics.csv")).read().splitlines()) > 2, "kill before a checkpoint"):
        expect(2, "a fresh start into a run killed before its first checkpoint is refused, pointing at --resume",
               ["train", *SMALL, *length, "--set", "run.checkpoint_every=0", "--out", early],
               ["stopped before its first checkpoint; use --resume"])
        rc, _, err, _ = acx("train", "--resume", early)
        check(rc == 0 and "starting it over from env step 0" in err,
              "--resume starts a run killed before its first checkpoint over", err[-300:])
        check(summary_evals(early) == summary_evals(base), "... and it ends as the uninterrupted run")

    # ---- 5. checkpoint metadata and tensors that lie ---------------------------------
    src = os.path.join(base, "checkpoint.safetensors")

    def spoiled(name, edit, fix_crc=True):
        header, data = read_st(src)
        edit(header, data)
        path = os.path.join(w, name + ".safetensors")
        write_st(path, header, data, fix_crc)
        return path

    def set_meta(key, value):
        return lambda h, d: h["__metadata__"].__setitem__(key, value)

    for value in ["abc", "-400", "400000000000000000000", "999999999999999"]:
        path = spoiled("steps", set_meta("env_steps", value))
        expect(1, f"checkpoint metadata env_steps = {value!r} is named as corruption",
               ["eval", "--checkpoint", path, "--device", "cpu"], ["metadata field 'env_steps'"])
    path = spoiled("nocrc", set_meta("env_steps", "400"), fix_crc=False)
    expect(1, "an edited metadata field without its checksum is corruption",
           ["eval", "--checkpoint", path, "--device", "cpu"], ["the metadata fails its CRC-32 check"])

    def flip_replay(h, d):
        d[tensor_slice(h, "replay.obs").start + 1000] ^= 0x04
    path = spoiled("flip", flip_replay, fix_crc=False)
    resumed = os.path.join(w, "flip_run")
    shutil.copytree(base, resumed)
    shutil.copy(path, os.path.join(resumed, "checkpoint.safetensors"))
    expect(1, "a flipped bit in the replay buffer is named as corruption of replay.obs",
           ["train", "--resume", resumed, "--set", "run.total_env_steps=2800"],
           ['tensor "replay.obs" fails its CRC-32 check'])
    check(open(os.path.join(resumed, "metrics.csv")).read() == open(os.path.join(base, "metrics.csv")).read(),
          "... and the run directory is left as it was")

    # An embedded config that does not parse is corruption (exit 1), not a usage error.
    path = spoiled("cfg", set_meta("config", "[algo\n"))
    expect(1, "an embedded config that does not parse is corruption", ["eval", "--checkpoint", path, "--device", "cpu"],
           ["its embedded config does not parse"])

    # A config that asks for 4096 agents with wide critics: refused from the
    # header's shapes, before anything is allocated.
    def many_agents(h, d):
        m = h["__metadata__"]
        # 4096 agents of two 8192-wide critics: terabytes, were they allocated.
        m["config"] = m["config"].replace("\nagents = 1\n", "\nagents = 4096\n").replace(
            "critic_hidden = [32, 32]", "critic_hidden = [8192, 8192]")
        m["agents"] = "4096"
        evals = json.loads(m["evals"])  # consistent with 4096 agents, so that the shapes are what is checked
        for e in evals:
            e["per_agent"] = e["per_agent"] * 4096
        m["evals"] = json.dumps(evals)
    path = spoiled("agents", many_agents)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rc, _, err, _ = acx("eval", "--checkpoint", path, "--device", "cpu")
    rss_mb = max(r0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    check(rc in (1, 2) and "tensor 'actor.params' is F32 [1, " in err and "expected F32 [4096, " in err and rss_mb < 1000,
          "a checkpoint whose config asks for 4096 agents is refused before allocating",
          f"exit {rc}, peak {rss_mb:.0f} MB; {err[-300:]}")

    # ---- 6. non-finite values --------------------------------------------------------
    def nan_actor(h, d):
        s = tensor_slice(h, "actor.params")
        d[s] = struct.pack("<f", float("nan")) * ((s.stop - s.start) // 4)
    path = spoiled("nan", nan_actor)
    expect(1, "NaN weights are refused on load, naming the tensor", ["eval", "--checkpoint", path, "--device", "cpu"],
           ["tensor 'actor.params' holds nan at element 0"])
    for key, value in [("optim.actor_lr", "inf"), ("algo.updates_per_step", "inf"), ("algo.updates_per_step", "1e300"),
                       ("optim.actor_lr", "1e300"), ("algo.gamma", "nan")]:
        expect(2, f"--set {key}={value} is refused", ["train", "--out", os.path.join(w, "nf"), "--set", f"{key}={value}"],
               [key])

    # ---- 7. values that would overflow ------------------------------------------------
    for key, value in [("env.max_steps", "4294967297"), ("run.threads", "4294967298"), ("replay.capacity", "1e13"),
                       ("run.total_env_steps", "9223372036854775807")]:
        expect(2, f"--set {key}={value} is refused by its range", ["train", "--out", os.path.join(w, "of"),
                                                                   "--set", f"{key}={value}"], [key])
    expect(2, "a replay larger than the machine is refused with the bytes it needs",
           ["train", "--out", os.path.join(w, "mem"), "--device", "cpu", "--set", "replay.capacity=1000000000000",
            "--set", "run.agents=4096"], ["GB (", "replay.capacity 1000000000000 x run.agents 4096"])
    check(not os.path.exists(os.path.join(w, "mem", "config.toml")), "... and writes nothing into the run directory")

    # ---- 8. unbounded reads -------------------------------------------------------------
    t0 = time.time()
    expect(2, "rollout --init /dev/zero is refused at once",
           ["rollout", "--env", "pendulum", "--init", "/dev/zero", "--actions", "/dev/zero", "--out", os.path.join(w, "z")],
           ["not a regular file"])
    expect(2, "--config /dev/zero is refused", ["train", "--config", "/dev/zero"], ["not a regular file"])
    check(time.time() - t0 < 30, "... both within seconds")

    # ---- 9. the small ones ---------------------------------------------------------------
    rc, _, err = expect(2, "--agents 0 names the range", ["train", "--agents", "0", "--out", os.path.join(w, "a0")],
                        ["run.agents = 0 must be in [1, 4096]"])
    check(len(error_line(err)) < 120, "... in a short line", error_line(err))
    expect(2, "--agents -3 is refused, not ignored", ["train", "--agents", "-3", "--out", os.path.join(w, "a0")],
           ["run.agents = -3"])
    expect(2, "--seed -1 is refused by train", ["train", "--seed", "-1", "--out", os.path.join(w, "s")], ["run.seed"])
    expect(2, "--seed -1 is refused by eval", ["eval", "--checkpoint", src, "--seed", "-1"], ["--seed"])
    expect(2, "--out '' is refused", ["train", "--out", ""], ["--out"])
    expect(2, "--resume '' is refused", ["train", "--resume", ""], ["--resume"])
    a_file = os.path.join(w, "a_file")
    open(a_file, "w").write("x")
    expect(2, "--out naming a file is a usage error", ["train", "--out", a_file], ["is a file, not a directory"])
    expect(2, "gradcheck --dump naming a file is a usage error", ["gradcheck", "--dump", a_file, "--device", "cpu"],
           ["is a file, not a directory"])
    expect(2, "eval --checkpoint naming a directory is a usage error", ["eval", "--checkpoint", w], ["directory"])
    check(open(a_file).read() == "x", "... and the file is left as it was")


if __name__ == "__main__":
    sys.exit(main())
