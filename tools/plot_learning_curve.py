#!/usr/bin/env python3
"""Plot a run's learning curve: DIR/metrics.csv -> DIR/learning_curve.png.

    tools/plot_learning_curve.py DIR [--out FILE.png] [--title TEXT]
                                     [--x env_steps] [--y eval_return,train_return]

Draws each --y column against the --x column (empty fields, e.g. steps
without an evaluation, are skipped; a column COL_std, when present, is drawn
as a band around COL). The title is the run directory's name with the env
and algorithm read from DIR/summary.json or DIR/config.toml when they say.
For lqr runs (summary.json with lqr_cost_ratio_per_agent in its
evaluations) a second panel shows the cost over the optimal cost, log scale.
Needs matplotlib (Debian: python3-matplotlib; scripts/install_deps.sh).
"""
import argparse
import csv
import json
import math
import os
import sys


def fail(message, code=1):
    print(f"plot_learning_curve: {message}", file=sys.stderr)
    sys.exit(code)


def read_metrics(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    if not rows:
        fail(f"{path} is empty (no header line)")
    header, body = rows[0], rows[1:]
    columns = {name: [] for name in header}
    for line_no, row in enumerate(body, start=2):
        if len(row) != len(header):  # a torn last line of a run that crashed
            if line_no == len(rows):
                break
            fail(f"{path}:{line_no}: {len(row)} fields, the header has {len(header)}")
        for name, field in zip(header, row):
            try:
                columns[name].append(float(field) if field != "" else math.nan)
            except ValueError:
                fail(f"{path}:{line_no}: column {name} is not a number: {field!r}")
    return columns


def run_description(run_dir):
    """(env, algo) from summary.json or config.toml, each None when unknown."""
    env = algo = None
    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            summary = json.load(f)
        env, algo = summary.get("env"), summary.get("algo")
    except (OSError, ValueError, AttributeError):
        pass
    if env is None or algo is None:
        try:
            import tomllib  # Python 3.11+

            with open(os.path.join(run_dir, "config.toml"), "rb") as f:
                config = tomllib.load(f)
        except (ImportError, OSError, ValueError):
            config = {}

        def pick(*paths):
            for path in paths:
                node = config
                for part in path.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                if isinstance(node, str) and node:
                    return node
            return None

        env = env or pick("env", "env.name", "env.id")
        algo = algo or pick("algo", "algo.name")
    return env, algo


def lqr_cost_ratios(run_dir):
    """[(env_steps, mean cost ratio over agents)] from summary.json, or []."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            evals = json.load(f).get("evals", [])
    except (OSError, ValueError, AttributeError):
        return []
    out = []
    for e in evals:
        ratios = e.get("lqr_cost_ratio_per_agent") if isinstance(e, dict) else None
        if ratios:
            out.append((e["env_steps"], sum(ratios) / len(ratios)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="the run directory (holds metrics.csv)")
    parser.add_argument("--out", help="the picture to write (default DIR/learning_curve.png)")
    parser.add_argument("--title", help="the plot title (default: the run's name, env and algorithm)")
    parser.add_argument("--x", default="env_steps", help="the x column (default env_steps)")
    parser.add_argument("--y", default="eval_return,train_return", help="comma-separated y columns")
    args = parser.parse_args()

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        # A python3 earlier in PATH (pyenv, a venv) may lack the Debian package
        # that the system interpreter has: try that one before giving up.
        system = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(system) and os.access(system, os.X_OK) \
                and not os.environ.get("ACX_PLOT_REEXEC"):
            os.environ["ACX_PLOT_REEXEC"] = "1"
            os.execv(system, [system, os.path.abspath(__file__)] + sys.argv[1:])
        fail(f"matplotlib is not installed for {sys.executable}: apt-get install python3-matplotlib "
             "(scripts/install_deps.sh does)")

    csv_path = os.path.join(args.dir, "metrics.csv")
    columns = read_metrics(csv_path)
    if args.x not in columns:
        fail(f"{csv_path} has no column {args.x!r} (it has: {', '.join(columns)})")
    wanted = [c.strip() for c in args.y.split(",") if c.strip()]
    missing = [c for c in wanted if c not in columns]
    if missing:
        fail(f"{csv_path} has no column {', '.join(missing)} (it has: {', '.join(columns)})")

    xs = columns[args.x]
    ratios = lqr_cost_ratios(args.dir) if args.x == "env_steps" else []
    if ratios:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 7), dpi=120, sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
        rx, ry = zip(*ratios)
        rax.plot(rx, ry, marker="o", markersize=3, linewidth=1.6, label="cost / optimal cost (same starts)")
        rax.axhline(1.05, color="tab:red", linestyle="--", linewidth=1, label="1.05 (target)")
        rax.axhline(1.0, color="gray", linestyle=":", linewidth=1, label="1 (optimal)")
        rax.set_yscale("log")
        rax.set_ylabel("cost / optimal")
        rax.set_xlabel(args.x.replace("_", " "))
        rax.grid(True, which="both", alpha=0.3)
        rax.legend(loc="best")
        ax.set_yscale("symlog")  # returns span 1e6 early to ~6 at the end
    else:
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    n_points = 0
    for name in wanted:
        points = [(x, y) for x, y in zip(xs, columns[name]) if not (math.isnan(x) or math.isnan(y))]
        if not points:
            continue
        n_points += len(points)
        px, py = zip(*points)
        style = {"marker": "o", "markersize": 3} if len(points) < 50 else {}
        (line,) = ax.plot(px, py, label=name.replace("_", " "), linewidth=1.6, **style)
        std = columns.get(name + "_std")
        if std is not None:
            band = [(x, y, s) for x, y, s in zip(xs, columns[name], std) if not any(map(math.isnan, (x, y, s)))]
            if band:
                bx, by, bs = zip(*band)
                ax.fill_between(bx, [y - s for y, s in zip(by, bs)], [y + s for y, s in zip(by, bs)],
                                color=line.get_color(), alpha=0.2, linewidth=0)
    if n_points == 0:
        fail(f"{csv_path} has no values in {', '.join(wanted)} yet")

    run_dir = os.path.abspath(args.dir)
    env, algo = run_description(run_dir)
    title = args.title
    if title is None:
        title = os.path.basename(run_dir.rstrip(os.sep)) or run_dir
        details = ", ".join(d for d in (env, algo) if d)
        if details:
            title += f" ({details})"
    ax.set_title(title)
    ax.set_xlabel(args.x.replace("_", " "))
    ax.set_ylabel("return")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 4), useMathText=True)
    fig.tight_layout()

    out = args.out or os.path.join(args.dir, "learning_curve.png")
    try:
        fig.savefig(out)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror}")
    print(out)


if __name__ == "__main__":
    main()
