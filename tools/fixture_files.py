"""Shared by the fixture generators (tools/gen_mujoco_fixtures.py,
tools/gen_dmc_fixtures.py): their command line, and a folder of .npy
files with a MANIFEST.json that says what each file holds."""
import argparse
import json
import os


def parse_args(doc, default_out):
    """--out (made absolute) and --no-venv."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--no-venv", action="store_true", help="use the packages already importable")
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    return args


class FixtureFolder:
    def __init__(self, out):
        self.out = out
        self.files = {}
        os.makedirs(out, exist_ok=True)

    def save(self, name, arr, doc):
        import numpy as np
        np.save(os.path.join(self.out, name), np.ascontiguousarray(arr))
        self.files[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "doc": doc}

    def write_manifest(self, **fields):
        """MANIFEST.json: `fields` (generator, versions, seed) and every saved file."""
        with open(os.path.join(self.out, "MANIFEST.json"), "w") as f:
            json.dump(dict(fields, files=self.files), f, indent=1, sort_keys=True)
            f.write("\n")
