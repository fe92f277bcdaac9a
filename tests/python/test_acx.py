"""The Python package (python/acx, docs/python.md) against the CLI it wraps
and against gymnasium's definitions. Run by ctest (python_pytest) with
PYTHONPATH=<build>/python and ACX_BINARY=<build>/acx."""
import gc
import json
import os
import subprocess
import sys
import tomllib

import gymnasium as gym
import numpy as np
import pytest

import acx
from acx import _acx

ACX = os.environ.get("ACX_BINARY", "build/acx")


def run_cli(*args, check=True):
    r = subprocess.run([ACX, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"acx {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
    return r


# ---- envs() ------------------------------------------------------------------------

def test_envs_lists_what_the_cli_lists():
    mine = acx.envs()
    cli = json.loads(run_cli("envs", "--json").stdout)
    assert mine == cli
    names = [e["name"] for e in mine]
    assert {"pendulum", "mountain-car-continuous", "lqr"} <= set(names)
    pend = mine[names.index("pendulum")]
    assert (pend["obs_dim"], pend["act_dim"], pend["max_steps"]) == (3, 1, 200)


# ---- the gymnasium API -------------------------------------------------------------

class OneEnv(gym.Env):
    """One acx env as a gymnasium.Env, for gymnasium's check_env."""

    def __init__(self, name):
        self.v = acx.make_vec(name, 1, autoreset_mode="native")
        self.observation_space = self.v.single_observation_space
        self.action_space = self.v.single_action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31))
        obs, _ = self.v.reset(seed=seed)
        return np.array(obs[0]), {}

    def step(self, action):
        obs, r, te, tr, info = self.v.step(np.asarray(action, dtype=np.float32)[None])
        last = info["final_obs"][0] if (te[0] or tr[0]) else obs[0]
        return np.array(last), float(r[0]), bool(te[0]), bool(tr[0]), {}


@pytest.mark.parametrize("name", ["pendulum", "mountain-car-continuous", "cartpole-swingup", "acrobot-continuous"])
def test_gymnasium_check_env_passes(name):
    from gymnasium.utils.env_checker import check_env
    check_env(OneEnv(name), skip_render_check=True)


def test_spaces_and_metadata():
    env = acx.make_vec("pendulum", 8)
    assert env.num_envs == 8
    assert env.single_observation_space.shape == (3,) and env.observation_space.shape == (8, 3)
    assert env.single_action_space.shape == (1,) and env.action_space.shape == (8, 1)
    assert np.all(env.single_action_space.high == 2.0)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert acx.make_vec("pendulum", 2, autoreset_mode="same_step").metadata["autoreset_mode"] == \
        gym.vector.AutoresetMode.SAME_STEP
    obs, info = env.reset(seed=3)
    assert obs.shape == (8, 3) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    out = env.step(env.action_space.sample())
    assert len(out) == 5
    assert out[1].shape == (8,) and out[2].dtype == np.bool_ and out[3].dtype == np.bool_
    # The same seed, the same episode starts; another seed, others.
    a = np.array(env.reset(seed=3)[0])
    assert np.array_equal(a, obs) or True  # obs is a view: compare copies below
    b = np.array(env.reset(seed=3)[0])
    c = np.array(env.reset(seed=4)[0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def run_modes(name, n, steps, seed, max_steps, rng):
    """The same seeds and actions through the three modes; every step's returns, copied."""
    envs = {m: acx.make_vec(name, n, seed=seed, autoreset_mode=m, max_steps=max_steps)
            for m in ("next_step", "same_step", "native")}
    for e in envs.values():
        e.reset(seed=seed)
    actions = rng.uniform(-1, 1, size=(steps, n, envs["native"].single_action_space.shape[0])).astype(np.float32)
    out = {m: [] for m in envs}
    for m, e in envs.items():
        for t in range(steps):
            o, r, te, tr, info = e.step(actions[t])
            out[m].append((np.array(o), np.array(r), np.array(te), np.array(tr),
                           {k: (np.array(v) if isinstance(v, np.ndarray) and v.dtype != object else v)
                            for k, v in info.items()}))
    return out, actions


def test_same_step_puts_the_last_observation_in_final_obs():
    out, _ = run_modes("pendulum", 3, 12, 7, 5, np.random.default_rng(0))
    for (o, r, te, tr, info), (no, nr, nte, ntr, ninfo) in zip(out["same_step"], out["native"]):
        assert np.array_equal(o, no) and np.array_equal(r, nr) and np.array_equal(tr, ntr)
        done = te | tr
        if done.any():  # gymnasium's layout: an object array and its mask
            assert np.array_equal(info["_final_obs"], done)
            for i in range(3):
                if done[i]:
                    assert np.array_equal(info["final_obs"][i], ninfo["final_obs"][i])
                else:
                    assert info["final_obs"][i] is None
        else:
            assert "final_obs" not in info
    # Truncation at max_steps=5: steps 5 and 10 (1-based) end every episode.
    assert [bool(x[3].all()) for x in out["native"]] == [t in (4, 9) for t in range(12)]


def test_next_step_ends_with_the_last_observation_and_resets_on_the_next_step():
    """gymnasium's NEXT_STEP: the step that ends an episode returns its last
    observation; the next step ignores the action, returns the new episode's
    first observation, reward 0 and no flags. With the same seed, that first
    observation is the one SAME_STEP returned at the end, and the env then
    runs one step behind SAME_STEP."""
    n, T = 3, 14
    rng = np.random.default_rng(1)
    nxt = acx.make_vec("pendulum", n, autoreset_mode="next_step", max_steps=5)
    same = acx.make_vec("pendulum", n, autoreset_mode="same_step", max_steps=5)
    nxt.reset(seed=9)
    same.reset(seed=9)
    acts = rng.uniform(-2, 2, size=(T, n, 1)).astype(np.float32)
    s_out = []
    for t in range(T):
        o, r, te, tr, info = same.step(acts[t])
        s_out.append((np.array(o), np.array(r), np.array(tr), info))
    n_out = []
    k = 0  # same_step's step that next_step's step t matches
    for t in range(T):
        # next_step gets the action same_step got at its matching step
        o, r, te, tr, info = nxt.step(acts[k] if k < T else acts[-1])
        n_out.append((np.array(o), np.array(r), np.array(tr)))
        if t == 5 or t == 11:  # the step after an end: the reset step
            assert np.all(r == 0) and not tr.any() and not te.any()
            assert np.array_equal(o, s_out[k - 1][0])  # same_step's obs at the end: the new episode's first
            continue
        assert np.array_equal(r, s_out[k][1]), t
        if s_out[k][2].any():  # the end: the last observation, as same_step's final_obs
            assert np.array_equal(o, np.stack(s_out[k][3]["final_obs"])), t
            assert tr.all()
        else:
            assert np.array_equal(o, s_out[k][0]), t
        k += 1


def test_partial_reset_resets_only_the_masked_envs_and_desynchronizes_next_step():
    env = acx.make_vec("pendulum", 4, max_steps=6)
    env.reset(seed=2)
    full = acx.make_vec("pendulum", 4, max_steps=6)
    want = np.array(full.reset(seed=11)[0])
    a = np.zeros((4, 1), np.float32)
    for _ in range(3):
        before = np.array(env.step(a)[0])
    mask = np.array([False, True, False, True])
    obs, _ = env.reset(seed=11, options={"reset_mask": mask})
    assert np.array_equal(obs[mask], want[mask])  # the episode a full reset with that seed starts
    assert not np.array_equal(obs[~mask], want[~mask])
    # Envs 0 and 2 end after 3 more steps, envs 1 and 3 after 6.
    ends = []
    for t in range(8):
        o, r, te, tr, _ = env.step(a)
        ends.append(np.array(tr))
    assert [list(e) for e in ends[:7]][2] == [True, False, True, False]
    assert list(ends[3]) == [False] * 4  # 0 and 2 reset (NEXT_STEP); 1 and 3 step on
    assert list(ends[5]) == [False, True, False, True]
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(seed=1, options={"reset_mask": np.array([1, 0, 0, 1])})
    with pytest.raises(ValueError, match="no True"):
        env.reset(seed=1, options={"reset_mask": np.zeros(4, dtype=bool)})


# ---- Python rollouts against acx rollout -------------------------------------------

@pytest.mark.parametrize("name", [e["name"] for e in acx.envs()])
def test_python_rollout_is_bitwise_acx_rollout(name, tmp_path):
    n, T = 3, 25
    env = acx.make_vec(name, n, seed=5)
    env.reset(seed=5)
    init = env.state().astype(np.float64)
    rng = np.random.default_rng(2)
    lo, hi = env.single_action_space.low, env.single_action_space.high
    actions = rng.uniform(lo, hi, size=(T, n, len(lo))).astype(np.float32)
    np.save(tmp_path / "init.npy", init)
    np.save(tmp_path / "actions.npy", actions)
    run_cli("rollout", "--env", name, "--init", tmp_path / "init.npy", "--actions", tmp_path / "actions.npy",
            "--out", tmp_path / "out", "--device", "cpu")
    env.set_state(init, auto_reset=False)
    obs, rew, te, tr = [], [], [], []
    for t in range(T):
        o, r, a, b, _ = env.step(actions[t])
        obs.append(np.array(o)), rew.append(np.array(r)), te.append(np.array(a)), tr.append(np.array(b))
    assert np.array_equal(np.stack(obs), np.load(tmp_path / "out" / "obs.npy"))
    assert np.array_equal(np.stack(rew), np.load(tmp_path / "out" / "reward.npy"))
    assert np.array_equal(np.stack(te), np.load(tmp_path / "out" / "terminated.npy").astype(bool))
    assert np.array_equal(np.stack(tr), np.load(tmp_path / "out" / "truncated.npy").astype(bool))
    assert np.any(np.stack(rew) != 0)


# ---- zero copy and lifetimes -------------------------------------------------------

def test_arrays_are_views_of_the_envs_buffers_and_outlive_the_env():
    env = acx.make_vec("pendulum", 16, autoreset_mode="native")
    obs, _ = env.reset(seed=1)
    addr = env._env.obs_address()
    assert obs.__array_interface__["data"][0] == addr
    assert np.from_dlpack(obs).__array_interface__["data"][0] == addr  # DLPack: the same memory
    o2, r, te, tr, info = env.step(np.zeros((16, 1), np.float32))
    assert o2.__array_interface__["data"][0] == addr  # the same buffer, overwritten by the step
    assert np.shares_memory(obs, o2)
    keep = np.array(o2)
    final = info["final_obs"]
    del env
    gc.collect()
    assert np.array_equal(o2, keep)  # the view holds the env's buffers
    assert final.shape == (16, 3) and np.all(np.isfinite(final))


def test_no_instances_leak_at_exit():
    code = (
        "import acx, numpy as np, gc\n"
        "e = acx.make_vec('pendulum', 4); o, _ = e.reset(seed=0); e.step(np.zeros((4, 1), np.float32))\n"
        "kept = e.step(np.zeros((4, 1), np.float32))[0]\n"
        "e.close(); del e; gc.collect()\n"
        "print(kept.sum())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert "leak" not in r.stderr.lower(), r.stderr


def test_torch_wraps_the_arrays_without_copying():
    torch = pytest.importorskip("torch", reason="torch is not installed in this Python: interop not checked")
    env = acx.make_vec("pendulum", 4, autoreset_mode="native")
    obs, _ = env.reset(seed=0)
    t = torch.from_dlpack(obs)
    assert t.data_ptr() == env._env.obs_address()


def test_jax_wraps_the_arrays():
    jnp = pytest.importorskip("jax.numpy", reason="jax is not installed in this Python: interop not checked")
    env = acx.make_vec("pendulum", 4, autoreset_mode="native")
    obs, _ = env.reset(seed=0)
    assert np.array_equal(np.asarray(jnp.from_dlpack(obs)), obs)


def test_cuda_envs_step_on_the_gpu():
    try:
        env = acx.make_vec("pendulum", 64, device="cuda")
    except (ValueError, RuntimeError) as e:
        pytest.skip(f"no usable GPU: {e}")
    obs, _ = env.reset(seed=0)
    assert hasattr(obs, "__dlpack__") and obs.shape == (64, 3)
    env.step(np.zeros((64, 1), np.float32))


# ---- bad input ---------------------------------------------------------------------

def test_bad_input_raises_with_the_cli_message():
    env = acx.make_vec("pendulum", 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        env.step(np.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match="floating point"):
        env.step(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="must be finite"):
        env.step(np.array([[0.0], [np.inf]], np.float32))
    env.step(np.zeros((2, 1), np.float64))  # other float dtypes are converted
    with pytest.raises(ValueError, match="unknown env"):
        acx.make_vec("no-such-env", 2)
    with pytest.raises(ValueError, match="num_envs must be at least 1"):
        acx.make_vec("pendulum", 0)
    with pytest.raises(ValueError, match="unknown env parameter"):
        acx.make_vec("pendulum", 2, gravity=3.0)
    with pytest.raises(ValueError, match="autoreset_mode"):
        acx.make_vec("pendulum", 2, autoreset_mode="sometimes")
    env.close()
    with pytest.raises(ValueError, match="closed"):
        env.step(np.zeros((2, 1), np.float32))
    with pytest.raises(ValueError, match="closed"):
        env.reset(seed=0)


# ---- training and policies ---------------------------------------------------------

SMALL = {"env.name": "pendulum", "net.actor_hidden": [16, 16], "net.critic_hidden": [16, 16],
         "algo.batch_size": 32, "env.n_envs": 4, "algo.learning_starts": 100, "algo.warmup_steps": 100,
         "run.total_env_steps": 600, "run.eval_every": 300, "run.eval_episodes": 2, "run.threads": 1,
         "run.agents": 2, "run.seed": 3}


def cli_sets(d):
    out = []
    for k, v in d.items():
        if k == "env.name":
            continue
        out += ["--set", f"{k}={json.dumps(v) if not isinstance(v, list) else str(v).replace(' ', '')}"]
    return out


def same_summary(a, b):
    drop = {"wall_s", "cpu_threads", "device", "cpu"}
    strip = lambda s: {k: ([{kk: vv for kk, vv in e.items() if kk != "wall_s"} for e in v] if k == "evals" else v)
                       for k, v in s.items() if k not in drop}
    return strip(a) == strip(b)


def test_train_is_the_cli_run_and_load_policy_takes_acx_evals_actions(tmp_path):
    run_dir, summary = acx.train(SMALL, out=tmp_path / "py", quiet=True)
    assert run_dir == str(tmp_path / "py") and summary["env_steps"] == 600 and summary["updates"] > 0
    run_cli("train", "--env", "pendulum", *cli_sets(SMALL), "--out", tmp_path / "cli")
    cli = json.load(open(tmp_path / "cli" / "summary.json"))
    assert same_summary(summary, cli), (summary, cli)

    ckpt = tmp_path / "py" / "checkpoint.safetensors"
    policy = acx.load_policy(ckpt)
    assert policy.agents == 2 and policy.env == "pendulum"
    assert policy.parameters["actor.layers.0.weight"].shape == (2, 16, 3)
    # acx eval's episodes, replayed from Python with the loaded policy: the same returns, bit for bit.
    E, seed = 3, 77
    ev = json.loads(run_cli("eval", "--checkpoint", ckpt, "--episodes", E, "--seed", seed, "--device", "cpu").stdout)
    cfg = tomllib.load(open(tmp_path / "py" / "config.toml", "rb"))
    max_steps = cfg["run"]["eval_max_steps"] or cfg["env"]["max_steps"] or 0
    env = acx.make_vec("pendulum", 2 * E, autoreset_mode="native", max_steps=max_steps or None)
    obs, _ = env.reset(seed=_acx.mix_seed(seed, _acx.EVAL_SALT))
    returns = np.full(2 * E, np.nan)
    while np.isnan(returns).any():
        a = policy.all_agents(np.array(obs).reshape(2, E, 3)).reshape(2 * E, 1)
        obs, r, te, tr, _ = env.step(a)
        done = (te | tr) & np.isnan(returns)
        returns[done] = env._env.done_return()[done]
    assert list(returns) == ev["returns"]
    # One agent's actions on a batch, and a single observation.
    o = np.random.default_rng(0).uniform(-1, 1, (5, 3)).astype(np.float32)
    both = policy.all_agents(np.stack([o, o]))
    assert np.array_equal(policy(o, agent=1), both[1]) and np.array_equal(policy(o[0]), both[0, 0])
    assert not np.array_equal(both[0], both[1])


def test_load_policy_matches_an_independent_float64_forward(tmp_path):
    """The actor recomputed in float64 from `parameters` (ReLU hidden layers,
    tanh output scaled to the action bounds) agrees with the policy."""
    run_dir, _ = acx.train({**SMALL, "run.agents": 1, "run.total_env_steps": 300}, out=tmp_path / "r", quiet=True)
    policy = acx.load_policy(f"{run_dir}/checkpoint.safetensors")
    p = policy.parameters
    o = np.random.default_rng(1).uniform(-1, 1, (64, 3))
    h = o
    L = len(p) // 2
    for l in range(L):
        h = h @ p[f"actor.layers.{l}.weight"][0].astype(np.float64).T + p[f"actor.layers.{l}.bias"][0]
        h = np.maximum(h, 0) if l < L - 1 else np.tanh(h)
    want = 2.0 * h  # pendulum's bounds are [-2, 2]
    got = policy(o.astype(np.float32))
    assert np.max(np.abs(got - want)) < 1e-5, np.max(np.abs(got - want))
    assert np.std(got) > 0


def test_train_errors_are_python_exceptions(tmp_path):
    with pytest.raises(ValueError, match="algo.batchsize"):
        acx.train({"algo.batchsize": 3}, env="pendulum", out=tmp_path / "bad")
    with pytest.raises(ValueError, match="out="):
        acx.train({})
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises((RuntimeError, ValueError), match="junk.safetensors"):
        acx.load_policy(tmp_path / "junk.safetensors")


def test_the_docs_stepping_example_runs():
    """docs/python.md's first example, run as the doc shows it."""
    import pathlib
    import re
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    stepping = [b for b in blocks if "make_vec(\"pendulum\", 1024" in b]
    assert len(stepping) == 1
    exec(compile(stepping[0], "docs/python.md", "exec"), {})
