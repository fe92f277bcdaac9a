#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/TARGET/):
small valid inputs of each parser and a few near misses, made with the
standard library only so that the seeds do not come from acx's own writers.

    python3 tools/make_fuzz_corpus.py [--out tests/fuzz/corpus]
"""
import argparse
import json
import os
import struct
import zlib


def safetensors_bytes(tensors, metadata, checksums=True):
    """tensors: [(name, dtype, shape, raw bytes)]; the format by its description."""
    header, data = {}, b""
    meta = dict(metadata)
    if checksums:
        m = 0
        for k in sorted(meta):
            m = zlib.crc32(k.encode() + b"\0" + meta[k].encode() + b"\0", m)
        crcs = {"__metadata__": "%08x" % m}
        crcs.update({n: "%08x" % zlib.crc32(raw) for n, _, _, raw in tensors})
        meta["crc32"] = json.dumps(crcs, separators=(",", ":"))
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def npy_bytes(descr, shape, raw, version=1):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, "(%s)" % "".join(f"{s}, " for s in shape).rstrip(" ") if len(shape) != 1 else f"({shape[0]},)")
    head = d.encode()
    pre = 10 if version == 1 else 12
    head += b" " * ((64 - (pre + len(head) + 1) % 64) % 64) + b"\n"
    length = struct.pack("<H", len(head)) if version == 1 else struct.pack("<I", len(head))
    return b"\x93NUMPY" + bytes([version, 0]) + length + head + raw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus"))
    out = ap.parse_args().out
    f32 = struct.pack("<6f", 1, -2.5, 0.5, 3, 1e-3, -7)
    seeds = {
        "safetensors": {
            "checkpoint_like": safetensors_bytes(
                [("actor.params", "F32", [2, 3], f32), ("stats.sums", "F64", [1, 3], struct.pack("<3d", 1, 2, 3)),
                 ("replay.ring", "I64", [6], struct.pack("<6q", 4, 2, 3, 1, 0, 0)), ("flags", "U8", [3], b"\0\1\0")],
                {"format": "acx-checkpoint-2", "env_steps": "400"}),
            "no_checksums": safetensors_bytes([("a", "F32", [2], struct.pack("<2f", 1, 2))], {"format": "pt"}, False),
            "empty_tensor": safetensors_bytes([("e", "I32", [0, 4], b""), ("u", "U32", [], struct.pack("<I", 7))], {}),
            "truncated": safetensors_bytes([("a", "F32", [2], struct.pack("<2f", 1, 2))], {})[:-3],
        },
        "npy": {
            "f4_2x3": npy_bytes("<f4", [2, 3], f32),
            "f8_v2": npy_bytes("<f8", [2], struct.pack("<2d", 1, 2), version=2),
            "bool": npy_bytes("|b1", [3], b"\0\1\1"),
            "i4_scalar": npy_bytes("<i4", [], struct.pack("<i", -5)),
            "u1_3d": npy_bytes("|u1", [1, 2, 2], b"\0\1\2\3"),
        },
        "config": {
            "resolved": b"algo.gamma=0.98\n[env]\nname = \"pendulum\"\nn_envs = 4\n[algo]\nname = \"td3\"\nbatch_size = 64\n"
                        b"[net]\nactor_hidden = [32, 32]\n[run]\ntotal_env_steps = 2000\n",
            "dotted": b"net.critic_hidden=64,64\nalgo.tau = 0.01\nrun.seed = 3\n",
            "variants": b"variants.actor_lr=[1e-3, 3e-4]\n[run]\nagents = 2\n[variants]\ncritic_lr = [1e-3, 2e-3]\n",
            "bad_type": b"algo.gamma=x\n[algo]\ngamma = \"high\"\n",
            "strings": b"explore.noise=ou\n[env]\nname = \"lqr\"\n[algo]\nloss = 'huber'\n",
        },
        "checkpoint_meta": {
            "same": b"{}",
            "steps": b'{"env_steps": "404"}',
            "evals": b'{"evals": "[{\\"env_steps\\":400,\\"wall_s\\":1,\\"mean\\":-1,\\"std\\":0,\\"per_agent\\":[-1]}]"}',
            "missing": b'{"updates": null}',
            "config": b'{"config": "[algo]\\nname = \\"ddpg\\"\\n", "algo": "ddpg"}',
            "not_json": b"env_steps=abc",
        },
    }
    for target, files in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds in {d}")


if __name__ == "__main__":
    main()
