"""acx's vectorized envs behind gymnasium's VectorEnv API (gymnasium 1.x)."""
import numpy as np
import gymnasium as gym
from gymnasium.vector import AutoresetMode

from . import _acx

_MODES = {
    "next_step": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    "native": None,
}


def _bounds(values):
    return np.array([np.inf if v == "inf" else -np.inf if v == "-inf" else v for v in values], dtype=np.float32)


class VectorEnv(gym.vector.VectorEnv):
    """`num_envs` copies of one acx env, stepped together by one call into acx
    (one OpenMP loop on the CPU, one kernel launch on a GPU).

    autoreset_mode:
      "next_step" (gymnasium's default, AutoresetMode.NEXT_STEP): the step that
        ends an episode returns its last observation; the env's next step
        starts the new episode (that step's action is ignored, its reward is
        0, neither flag is set).
      "same_step" (AutoresetMode.SAME_STEP): the step that ends an episode
        returns the new episode's first observation; the last one is in
        info["final_obs"] (an object array, None where no episode ended,
        with the mask info["_final_obs"]), as gymnasium's vector envs do.
      "native": acx's own layout, for off-policy learners: like "same_step",
        but info["final_obs"] is the whole (num_envs, obs_dim) float32 array
        (rows where no episode ended hold the step's own observation), with
        no per-env Python objects.

    The arrays `step` and `reset` return (observation, reward, terminated,
    truncated, and native's final_obs) are views of the env's own buffers,
    not copies, wherever the mode allows it: the next call to step or reset
    overwrites them. Keep one with np.array(x) (or x.copy()). A view stays
    valid after the env is closed or deleted (it holds the env's buffers).
    With "next_step", a step after which an episode ended returns its
    observation as a new array (the last observations are spliced in).
    """

    def __init__(self, name, num_envs, *, device="cpu", seed=0, threads=0, autoreset_mode="next_step",
                 max_steps=None):
        if autoreset_mode not in _MODES:
            raise ValueError(f"autoreset_mode must be one of {sorted(_MODES)}, got {autoreset_mode!r}")
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool):
            raise ValueError(f"num_envs must be an int, got {num_envs!r}")
        if max_steps is not None and (not isinstance(max_steps, (int, np.integer)) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        self._env = _acx.VecEnv(name, int(num_envs), device, int(threads), int(max_steps or 0))
        info = self._env.info
        self.name = name
        self.num_envs = int(num_envs)
        self.device = self._env.device
        self.mode = autoreset_mode
        self.single_observation_space = gym.spaces.Box(_bounds(info["obs_low"]), _bounds(info["obs_high"]),
                                                       dtype=np.float32)
        self.single_action_space = gym.spaces.Box(_bounds(info["action_low"]), _bounds(info["action_high"]),
                                                  dtype=np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = {"autoreset_mode": _MODES[autoreset_mode] or AutoresetMode.SAME_STEP,
                         "acx_autoreset_mode": autoreset_mode}
        self.spec = None
        self.render_mode = None
        self.max_steps = self._env.max_steps
        self._pending = np.zeros(self.num_envs, dtype=np.bool_)  # next_step: envs whose episode ended last step
        self._auto_reset = True
        self._env.reset(int(seed), None)

    # ---- the gymnasium API -------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        """Starts new episodes: every env, or those where options["reset_mask"]
        (a bool array of num_envs) is True. An int seed keys every env's reset
        stream (env i draws from (seed, i)); None draws a fresh seed. A partial
        reset gives the masked envs the episode a full reset with that seed
        would give them. Returns (observation view, {})."""
        self._check_open()
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        mask = None
        if options is not None and "reset_mask" in options:
            mask = options["reset_mask"]
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},)")
            mask = np.ascontiguousarray(mask)
        self._env.reset(None if seed is None else int(seed), mask)
        if mask is None:
            self._pending[:] = False
        else:
            self._pending[mask] = False
        return self._env.obs(), {}

    def step(self, actions):
        """Steps every env with `actions` (num_envs, act_dim), float32 (other
        float dtypes are converted; NaN, a wrong shape or a closed env raise
        ValueError). Returns (observation, reward, terminated, truncated, info)."""
        self._check_open()
        a = self._actions(actions)
        env = self._env
        if self.mode == "next_step" and self._auto_reset:
            skip = self._pending if self._pending.any() else None
            env.step(a, skip)
            terminated, truncated = env.terminated(), env.truncated()
            done = terminated | truncated
            obs = env.obs()
            if done.any():
                obs = np.where(done[:, None], env.final_obs(), obs)  # the episode's last observation
            self._pending = done
            return obs, env.reward(), terminated, truncated, {}
        env.step(a, None)
        terminated, truncated = env.terminated(), env.truncated()
        if self.mode == "native" or not self._auto_reset:
            return env.obs(), env.reward(), terminated, truncated, {"final_obs": env.final_obs()}
        info = {}
        done = terminated | truncated
        if done.any():
            final = env.final_obs()
            objs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                objs[i] = np.array(final[i])
            info = {"final_obs": objs, "_final_obs": done.copy(), "final_info": {}, "_final_info": done.copy()}
        return env.obs(), env.reward(), terminated, truncated, info

    def close_extras(self, **kwargs):
        self._env.close()

    @property
    def closed(self):
        return self._env.closed

    @closed.setter
    def closed(self, value):  # gymnasium's VectorEnv.close sets it
        if value:
            self._env.close()

    # ---- beyond gymnasium ----------------------------------------------------------
    def set_state(self, states, auto_reset=True):
        """Puts env i in physical state states[i] (num_envs, state_dim), float64
        (MuJoCo tasks take it exactly; the others round to float32), episode
        counters at zero; auto_reset=False lets episodes run past their end,
        as `acx rollout` does (gymnasium's AutoresetMode.DISABLED: step returns
        every env's own observation, and info["final_obs"] the same)."""
        self._check_open()
        self._env.set_state(np.ascontiguousarray(states, dtype=np.float64))
        self._env.set_auto_reset(bool(auto_reset))
        self._auto_reset = bool(auto_reset)
        self._pending[:] = False

    def state(self):
        """A copy of every env's physical state, (num_envs, state_dim) float32."""
        return self._env.state()

    def _actions(self, actions):
        a = actions
        if hasattr(a, "__dlpack__") and not isinstance(a, np.ndarray):
            a = np.from_dlpack(a)
        a = np.asarray(a)
        if a.dtype.kind != "f":
            raise ValueError(f"actions must be floating point, got dtype {a.dtype}")
        if a.shape != self.action_space.shape:
            raise ValueError(f"actions must have shape {self.action_space.shape}, got {a.shape}")
        return np.ascontiguousarray(a, dtype=np.float32)

    def _check_open(self):
        if self._env.closed:
            raise ValueError("this env is closed")

    def __repr__(self):
        return f"acx.VectorEnv({self.name!r}, num_envs={self.num_envs}, device={self.device!r}, mode={self.mode!r})"


def make_vec(name, num_envs, *, device="cpu", seed=0, threads=0, autoreset_mode="next_step", **env_params):
    """`num_envs` copies of the acx env `name` (acx.envs() lists them) as a
    gymnasium VectorEnv; see VectorEnv for the autoreset modes and the arrays.

    device: "cpu", "cuda", "cuda:N" or "auto". threads: CPU threads (0: all).
    env_params: max_steps (the time limit; default the env's own)."""
    unknown = sorted(set(env_params) - {"max_steps"})
    if unknown:
        raise ValueError(f"unknown env parameter(s) {unknown}: acx envs take max_steps")
    return VectorEnv(name, num_envs, device=device, seed=seed, threads=threads, autoreset_mode=autoreset_mode,
                     max_steps=env_params.get("max_steps"))
