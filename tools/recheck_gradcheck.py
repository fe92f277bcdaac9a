#!/usr/bin/env python3
"""Recheck an `acx gradcheck --dump DIR` with NumPy alone.

Rebuilds the actor and critic from the flat parameter buffers and the layout
in DIR/index.json (docs/gradcheck.md), evaluates them in float64, and
compares every dumped output with that evaluation or with central finite
differences of it. Shares no code with acx. Exits 1 when a quantity exceeds
its tolerance.

    python3 tools/recheck_gradcheck.py DIR [--params-checked N]
"""
import argparse
import json
import os
import sys

import numpy as np


def load(d, index, key):
    entry = index["files"][key]
    a = np.load(os.path.join(d, entry["file"])).astype(np.float64)
    if list(a.shape) != list(entry["shape"]):
        sys.exit(f"{entry['file']}: shape {a.shape}, index says {entry['shape']}")
    return a


def forward(layout, p, x):
    """One member's network on a batch x [B, in]; p is the member's flat parameters [P]."""
    h = x
    for layer in layout["layers"]:
        n_in, n_out = layer["in"], layer["out"]
        w = p[layer["weight_offset"]:layer["weight_offset"] + n_out * n_in].reshape(n_out, n_in)
        b = p[layer["bias_offset"]:layer["bias_offset"] + n_out]
        z = h @ w.T + b
        act = layer["activation"]
        if act == "relu":
            h = np.maximum(z, 0.0)
        elif act == "tanh_scaled":
            lo, hi = np.asarray(layout["out_low"], np.float64), np.asarray(layout["out_high"], np.float64)
            h = (hi + lo) / 2 + (hi - lo) / 2 * np.tanh(z)
        elif act == "identity":
            h = z
        else:
            sys.exit(f"unknown activation {act}")
    return h


def max_rel_err(got, want):
    """Largest |got - want| / max(|want|, 1e-2 max|want|)."""
    got, want = np.ravel(got), np.ravel(want)
    floor = max(1e-2 * float(np.max(np.abs(want))) if want.size else 0.0, 1e-12)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor))) if want.size else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--params-checked", type=int, default=64, help="parameters per member checked one by one")
    args = ap.parse_args()
    d = args.dir
    with open(os.path.join(d, "index.json")) as f:
        index = json.load(f)
    if index.get("format") != "acx-gradcheck-1":
        sys.exit(f"{d}/index.json: unknown format {index.get('format')!r}")
    E, B, S, A = index["members"], index["batch"], index["obs_dim"], index["act_dim"]
    actor, critic = index["actor"], index["critic"]
    obs = load(d, index, "obs")
    u, w = load(d, index, "actor_params"), load(d, index, "critic_params")
    actions, q = load(d, index, "actions"), load(d, index, "q")
    dq_da, actor_grad = load(d, index, "dq_da"), load(d, index, "actor_grad")
    critic_grad, v, jvp = load(d, index, "critic_grad"), load(d, index, "jvp_direction"), load(d, index, "jvp")
    h = 1e-6
    rng = np.random.default_rng(0)
    errs = {k: 0.0 for k in ["actions", "Q", "dQ/da", "actor grad", "critic grad", "actor JVP"]}

    def qfn(we, a):
        return forward(critic, we, np.concatenate([obs, a], axis=1))[:, 0]

    for e in range(E):
        a64 = forward(actor, u[e], obs)
        errs["actions"] = max(errs["actions"], max_rel_err(actions[e], a64))
        errs["Q"] = max(errs["Q"], max_rel_err(q[e], qfn(w[e], actions[e])))
        fd = np.zeros((B, A))
        for k in range(A):
            step = np.zeros(A)
            step[k] = h
            fd[:, k] = (qfn(w[e], actions[e] + step) - qfn(w[e], actions[e] - step)) / (2 * h)
        errs["dQ/da"] = max(errs["dQ/da"], max_rel_err(dq_da[e], fd))

        def actor_objective(ue):
            return np.mean(qfn(w[e], forward(actor, ue, obs)))

        def critic_objective(we):
            return np.mean(qfn(we, actions[e]))

        for name, params, grad, objective in [("actor grad", u[e], actor_grad[e], actor_objective),
                                              ("critic grad", w[e], critic_grad[e], critic_objective)]:
            idx = rng.choice(params.size, size=min(args.params_checked, params.size), replace=False)
            fd = []
            for j in idx:
                plus, minus = params.copy(), params.copy()
                plus[j] += h
                minus[j] -= h
                fd.append((objective(plus) - objective(minus)) / (2 * h))
            errs[name] = max(errs[name], max_rel_err(grad[idx], np.asarray(fd)))
            # and one random direction through all parameters at once
            dirn = rng.uniform(-1, 1, params.size)
            fd_dir = (objective(params + h * dirn) - objective(params - h * dirn)) / (2 * h)
            errs[name] = max(errs[name], max_rel_err(np.dot(grad, dirn), fd_dir))

        fd = (forward(actor, u[e] + h * v[e], obs) - forward(actor, u[e] - h * v[e], obs)) / (2 * h)
        errs["actor JVP"] = max(errs["actor JVP"], max_rel_err(jvp[e], fd))

    tol = {"actions": 1e-4, "Q": 1e-4, "dQ/da": 1e-3, "actor grad": 1e-3, "critic grad": 1e-3, "actor JVP": 1e-3}
    print(f"recheck {d}: env {index['env']}, members {E}, batch {B}, obs {S}, act {A}")
    ok = True
    for k, err in errs.items():
        passed = err <= tol[k]
        ok = ok and passed
        print(f"  {k:<12} max rel err {err:.2e} (tol {tol[k]:.0e})  {'ok' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
