"""A trained acx actor as a Python callable."""
import numpy as np

from . import _acx


class Policy:
    """The deterministic policy of an acx checkpoint (TD3, DDPG: mu(s); SAC:
    the mean action), with the run's observation statistics when it
    normalized observations. Call it on a batch of observations:

        actions = policy(obs)            # obs (n, obs_dim) or (obs_dim,)
        actions = policy(obs, agent=2)   # a run of several agents
        actions = policy.all_agents(obs) # obs (K, n, obs_dim) -> (K, n, act_dim)

    NumPy in, NumPy out (float32; a new array each call).
    `parameters` holds the actor's layers as the checkpoint stores them:
    "actor.layers.L.weight" (K, out, in) and "actor.layers.L.bias" (K, out).
    """

    def __init__(self, checkpoint, device="cpu"):
        self._p = _acx.Policy(str(checkpoint), device)
        info = self._p.info
        self.env = info["name"]
        self.obs_dim = info["obs_dim"]
        self.act_dim = info["act_dim"]
        self.agents = self._p.agents
        self.algo = self._p.algo
        self.parameters = self._p.parameters()

    def all_agents(self, obs):
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if obs.ndim != 3 or obs.shape[0] != self.agents or obs.shape[2] != self.obs_dim:
            raise ValueError(f"observations must have shape ({self.agents}, n, {self.obs_dim}), got {obs.shape}")
        return self._p.act(obs)

    def __call__(self, obs, agent=0):
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        if single:
            obs = obs[None]
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"observations must have shape (n, {self.obs_dim}) or ({self.obs_dim},), got {obs.shape}")
        if not 0 <= agent < self.agents:
            raise ValueError(f"agent must be in [0, {self.agents}), got {agent}")
        batch = np.zeros((self.agents,) + obs.shape, dtype=np.float32)
        batch[agent] = obs
        out = self.all_agents(batch)[agent]
        return out[0] if single else out

    def __repr__(self):
        return f"acx.Policy({self.env!r}, {self.algo}, agents={self.agents})"


def load_policy(checkpoint, device="cpu"):
    """The deterministic policy of `checkpoint` (a checkpoint.safetensors that
    acx train wrote); RuntimeError for a corrupt file, ValueError for a
    missing one."""
    return Policy(checkpoint, device)
