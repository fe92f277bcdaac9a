#!/usr/bin/env python3
"""Recheck an `acx gradcheck --dump DIR` with NumPy alone.

Rebuilds the actor and critic from the flat parameter buffers and the layout
in DIR/index.json (docs/gradcheck.md), evaluates them in float64, and
compares every dumped output with that evaluation or with central finite
differences of it. Shares no code with acx. Exits 1 when a quantity exceeds
its tolerance.

    python3 tools/recheck_gradcheck.py DIR [--params-checked N]

A dump of `acx gradcheck --algo sac` (index.json "algo": "sac") is rechecked
from the SAC formulas of docs/gradcheck.md: the squashed Gaussian at the
dumped noise, the smaller twin, the actor's loss and the temperature's.
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


def forward(layout, p, x, with_pattern=False):
    """One member's network on a batch x [B, in]; p is the member's flat parameters [P].

    with_pattern: also return the signs of every hidden ReLU's input, [B, units] bool."""
    h = x
    pattern = []
    for layer in layout["layers"]:
        n_in, n_out = layer["in"], layer["out"]
        w = p[layer["weight_offset"]:layer["weight_offset"] + n_out * n_in].reshape(n_out, n_in)
        b = p[layer["bias_offset"]:layer["bias_offset"] + n_out]
        z = h @ w.T + b
        if layer.get("layer_norm", False):
            # torch.nn.LayerNorm(n_out, eps): biased variance over the features
            g = p[layer["gain_offset"]:layer["gain_offset"] + n_out]
            beta = p[layer["shift_offset"]:layer["shift_offset"] + n_out]
            mean = z.mean(axis=1, keepdims=True)
            var = ((z - mean) ** 2).mean(axis=1, keepdims=True)
            z = g * (z - mean) / np.sqrt(var + layout["layer_norm_eps"]) + beta
        act = layer["activation"]
        if act == "relu":
            h = np.maximum(z, 0.0)
            pattern.append(z > 0)
        elif act == "tanh_scaled":
            lo, hi = np.asarray(layout["out_low"], np.float64), np.asarray(layout["out_high"], np.float64)
            h = (hi + lo) / 2 + (hi - lo) / 2 * np.tanh(z)
        elif act == "identity":
            h = z
        else:
            sys.exit(f"unknown activation {act}")
    if with_pattern:
        return h, (np.concatenate(pattern, axis=1) if pattern else np.zeros((x.shape[0], 0), bool))
    return h


def central_difference(f, h=1e-6):
    """(f(h) - f(-h)) / 2h per row, f(t) -> (values [R, ...], ReLU pattern [R, units]).

    A ReLU whose input crosses 0 between the two ends puts a kink inside the
    step; for those rows the step shrinks by 16 until no ReLU flips."""
    step, d, todo = h, None, None
    while True:
        vp, pp = f(step)
        vm, pm = f(-step)
        dd = (vp - vm) / (2 * step)
        if d is None:
            d, todo = dd, np.ones(dd.shape[0], bool)
        d[todo] = dd[todo]
        todo &= np.any(pp != pm, axis=1)
        if not todo.any() or step < 1e-10:
            return d
        step /= 16


def max_rel_err(got, want):
    """Largest |got - want| / max(|want|, 1e-2 max|want|)."""
    got, want = np.ravel(got), np.ravel(want)
    floor = max(1e-2 * float(np.max(np.abs(want))) if want.size else 0.0, 1e-12)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor))) if want.size else 0.0


def recheck_sac(d, index, params_checked):
    """The SAC dump: returns {quantity: max rel err} and the tolerances."""
    K, B, A = index["members"], index["batch"], index["act_dim"]
    actor, critic = index["actor"], index["critic"]
    lo_std, hi_std, eps_lp = index["log_std_min"], index["log_std_max"], index["log_prob_eps"]
    low, high = np.asarray(index["action_low"], np.float64), np.asarray(index["action_high"], np.float64)
    half, mid = (high - low) / 2, (high + low) / 2
    H = index["target_entropy"]
    obs, u, w = load(d, index, "obs"), load(d, index, "actor_params"), load(d, index, "critic_params")
    log_alpha, noise = load(d, index, "log_alpha"), load(d, index, "eps")
    got = {k: load(d, index, k) for k in ["heads", "actions", "log_prob", "q", "dq_da", "d_heads", "actor_grad",
                                          "alpha_grad"]}
    rng = np.random.default_rng(0)

    def squash(head, e):
        """[B, 2A] heads and noise -> actions [B, A], log pi [B]; tanh'(x) written as 1 - tanh(x)^2 here."""
        log_std = lo_std + (hi_std - lo_std) * (np.tanh(head[:, A:]) + 1) / 2
        t = np.tanh(head[:, :A] + np.exp(log_std) * e)
        lp = -0.5 * e ** 2 - log_std - 0.5 * np.log(2 * np.pi) - np.log(half * (1 - t ** 2) + eps_lp)
        return mid + half * t, lp.sum(axis=1)

    def qmin(k, a):
        """min over the twins, [B], and (ReLU signs, which twin is smaller) per row."""
        x = np.concatenate([obs, a], axis=1)
        q0, p0 = forward(critic, w[0, k], x, True)
        q1, p1 = forward(critic, w[1, k], x, True)
        return np.minimum(q0[:, 0], q1[:, 0]), np.concatenate([p0, p1, (q1 < q0)], axis=1)

    errs = {k: 0.0 for k in ["heads", "actions", "log pi", "Q", "dQmin/da", "dL/dheads", "actor grad", "alpha grad"]}
    for k in range(K):
        alpha = np.exp(log_alpha[k])

        def row_loss(head):  # per row: (alpha log pi - min Q) / B
            a, lp = squash(head, noise[k])
            qm, pat = qmin(k, a)
            return (alpha * lp - qm) / B, pat

        head64 = forward(actor, u[k], obs)
        a64, lp64 = squash(head64, noise[k])
        errs["heads"] = max(errs["heads"], max_rel_err(got["heads"][k], head64))
        errs["actions"] = max(errs["actions"], max_rel_err(got["actions"][k], a64))
        errs["log pi"] = max(errs["log pi"], max_rel_err(got["log_prob"][k], lp64))
        x = np.concatenate([obs, got["actions"][k]], axis=1)
        for j in range(2):
            errs["Q"] = max(errs["Q"], max_rel_err(got["q"][j, k], forward(critic, w[j, k], x)[:, 0]))
        fd = np.zeros((B, A))
        for i in range(A):
            unit = np.zeros(A)
            unit[i] = 1.0
            fd[:, i] = central_difference(lambda t: qmin(k, got["actions"][k] + t * unit))
        errs["dQmin/da"] = max(errs["dQmin/da"], max_rel_err(got["dq_da"][k], fd))
        fd = np.zeros((B, 2 * A))
        for i in range(2 * A):
            unit = np.zeros(2 * A)
            unit[i] = 1.0
            fd[:, i] = central_difference(lambda t: row_loss(head64 + t * unit))
        errs["dL/dheads"] = max(errs["dL/dheads"], max_rel_err(got["d_heads"][k], fd))

        def loss(uk):
            head, pa = forward(actor, uk, obs, True)
            v, pat = row_loss(head)
            return np.array([v.sum()]), np.concatenate([pa.ravel(), pat.ravel()])[None, :]

        idx = rng.choice(u[k].size, size=min(params_checked, u[k].size), replace=False)
        fd = []
        for j in idx:
            unit = np.zeros(u[k].size)
            unit[j] = 1.0
            fd.append(central_difference(lambda t: loss(u[k] + t * unit))[0])
        errs["actor grad"] = max(errs["actor grad"], max_rel_err(got["actor_grad"][k][idx], np.asarray(fd)))
        dirn = rng.uniform(-1, 1, u[k].size)
        fd_dir = central_difference(lambda t: loss(u[k] + t * dirn))[0]
        errs["actor grad"] = max(errs["actor grad"], max_rel_err(np.dot(got["actor_grad"][k], dirn), fd_dir))
        # J(l) = -exp(l) mean(log pi + H): dJ/dl = J itself
        errs["alpha grad"] = max(errs["alpha grad"], max_rel_err(got["alpha_grad"][k], -alpha * (lp64.mean() + H)))
    tol = {"heads": 1e-4, "actions": 1e-4, "log pi": 1e-4, "Q": 1e-4, "dQmin/da": 1e-3, "dL/dheads": 1e-3,
           "actor grad": 1e-3, "alpha grad": 1e-4}
    return errs, tol


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
    if index.get("algo", "td3") == "sac":
        errs, tol = recheck_sac(d, index, args.params_checked)
        return report(d, index, errs, tol)
    actor, critic = index["actor"], index["critic"]
    obs = load(d, index, "obs")
    u, w = load(d, index, "actor_params"), load(d, index, "critic_params")
    actions, q = load(d, index, "actions"), load(d, index, "q")
    dq_da, actor_grad = load(d, index, "dq_da"), load(d, index, "actor_grad")
    critic_grad, v, jvp = load(d, index, "critic_grad"), load(d, index, "jvp_direction"), load(d, index, "jvp")
    rng = np.random.default_rng(0)
    errs = {k: 0.0 for k in ["actions", "Q", "dQ/da", "actor grad", "critic grad", "actor JVP"]}

    def qfn(we, a, with_pattern=False):
        out = forward(critic, we, np.concatenate([obs, a], axis=1), with_pattern)
        return (out[0][:, 0], out[1]) if with_pattern else out[:, 0]

    for e in range(E):
        a64 = forward(actor, u[e], obs)
        errs["actions"] = max(errs["actions"], max_rel_err(actions[e], a64))
        errs["Q"] = max(errs["Q"], max_rel_err(q[e], qfn(w[e], actions[e])))
        fd = np.zeros((B, A))
        for k in range(A):
            unit = np.zeros(A)
            unit[k] = 1.0
            fd[:, k] = central_difference(lambda t: qfn(w[e], actions[e] + t * unit, True))
        errs["dQ/da"] = max(errs["dQ/da"], max_rel_err(dq_da[e], fd))

        # Objectives as one row: (value [1], every ReLU sign over the batch [1, units]).
        def actor_objective(ue):
            a, pa = forward(actor, ue, obs, True)
            qv, pq = qfn(w[e], a, True)
            return np.array([np.mean(qv)]), np.concatenate([pa.ravel(), pq.ravel()])[None, :]

        def critic_objective(we):
            qv, pq = qfn(we, actions[e], True)
            return np.array([np.mean(qv)]), pq.ravel()[None, :]

        for name, layout, params, grad, objective in [("actor grad", actor, u[e], actor_grad[e], actor_objective),
                                                      ("critic grad", critic, w[e], critic_grad[e], critic_objective)]:
            idx = rng.choice(params.size, size=min(args.params_checked, params.size), replace=False)
            # and a few LayerNorm gains and shifts of every layer that has them
            ln_idx = [layer[k] + o for layer in layout["layers"] if layer.get("layer_norm", False)
                      for k in ("gain_offset", "shift_offset") for o in range(min(4, layer["out"]))]
            idx = np.concatenate([idx, np.asarray(ln_idx, dtype=idx.dtype)])
            fd = []
            for j in idx:
                unit = np.zeros(params.size)
                unit[j] = 1.0
                fd.append(central_difference(lambda t: objective(params + t * unit))[0])
            errs[name] = max(errs[name], max_rel_err(grad[idx], np.asarray(fd)))
            # and one random direction through all parameters at once
            dirn = rng.uniform(-1, 1, params.size)
            fd_dir = central_difference(lambda t: objective(params + t * dirn))[0]
            errs[name] = max(errs[name], max_rel_err(np.dot(grad, dirn), fd_dir))

        fd = central_difference(lambda t: forward(actor, u[e] + t * v[e], obs, True))
        errs["actor JVP"] = max(errs["actor JVP"], max_rel_err(jvp[e], fd))

    tol = {"actions": 1e-4, "Q": 1e-4, "dQ/da": 1e-3, "actor grad": 1e-3, "critic grad": 1e-3, "actor JVP": 1e-3}
    return report(d, index, errs, tol)


def report(d, index, errs, tol):
    ln = " with LayerNorm" if index.get("layer_norm", False) else ""
    print(f"recheck {d}: {index.get('algo', 'td3')}, env {index['env']}{ln}, members {index['members']}, "
          f"batch {index['batch']}, obs {index['obs_dim']}, act {index['act_dim']}")
    ok = True
    for k, err in errs.items():
        passed = err <= tol[k]
        ok = ok and passed
        print(f"  {k:<12} max rel err {err:.2e} (tol {tol[k]:.0e})  {'ok' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
