// vec_env_step.h: the per-env element math of vectorized stepping, shared by
// the CPU loop and the CUDA kernel (one thread per env). It loads one env's
// SoA state into registers, steps it, tracks the episode, auto-resets on
// done, and writes the observation row back.
//
// Layouts (n = number of envs):
//   state         (state_dim, n)  SoA: consecutive threads read consecutive words
//   obs, final_obs (n, obs_dim)   row-major: the networks' input rows
//   action        (n, act_dim)    row-major: the actor's output rows
#pragma once

#include "envs/env_api.h"
#include "kernels/philox.h"

namespace acx {

struct VecEnvArrays {
  int64_t n_envs = 0;
  float* state = nullptr;            // (state_dim, n_envs)
  float* obs = nullptr;              // (n_envs, obs_dim) after the step (after the reset where one happened)
  float* final_obs = nullptr;        // (n_envs, obs_dim) the step's own observation, before any reset:
                                     //   what a truncated episode bootstraps from
  float* reward = nullptr;           // (n_envs)
  uint8_t* terminated = nullptr;     // (n_envs)
  uint8_t* truncated = nullptr;      // (n_envs)
  int32_t* episode_step = nullptr;   // (n_envs) steps taken in the current episode
  uint32_t* episode_index = nullptr; // (n_envs) episodes begun so far; keys the reset stream
  float* episode_return = nullptr;   // (n_envs) running return of the current episode
  float* done_return = nullptr;      // (n_envs) return of the episode that ended at this step
  int32_t* done_length = nullptr;    // (n_envs) its length
};

// The reset stream of env `i`'s episode `episode`: its own Philox key range,
// independent of the thread layout and of every other env and episode.
ACX_HD PhiloxStream env_reset_stream(uint64_t seed, int64_t i, uint32_t episode) {
  return PhiloxStream(seed, RngPurpose::kEnvReset, static_cast<uint32_t>(i), static_cast<uint64_t>(episode) << 32);
}

template <Environment E>
ACX_HD void vec_env_write_obs(const typename E::Params& p, const float* s, float* row) {
  float obs[E::kObsDim];
  E::observe(p, s, obs);
  const int od = obs_dim<E>(p);
  for (int k = 0; k < E::kObsDim; ++k)
    if (k < od) row[k] = obs[k];
}

template <Environment E>
ACX_HD void vec_env_load_state(const typename E::Params& p, const VecEnvArrays& a, int64_t i, float* s) {
  const int sd = state_dim<E>(p);
  for (int d = 0; d < E::kStateDim; ++d) s[d] = d < sd ? a.state[d * a.n_envs + i] : 0.0f;
}

template <Environment E>
ACX_HD void vec_env_store_state(const typename E::Params& p, const VecEnvArrays& a, int64_t i, const float* s) {
  const int sd = state_dim<E>(p);
  for (int d = 0; d < E::kStateDim; ++d)
    if (d < sd) a.state[d * a.n_envs + i] = s[d];
}

// Starts episode `episode` of env i: fresh state, zeroed counters, its obs.
template <Environment E>
ACX_HD void vec_env_reset_one(const typename E::Params& p, const VecEnvArrays& a, int64_t i, uint64_t seed,
                              uint32_t episode) {
  float s[E::kStateDim];
  for (int d = 0; d < E::kStateDim; ++d) s[d] = 0.0f;
  PhiloxStream rng = env_reset_stream(seed, i, episode);
  E::reset(p, s, rng);
  vec_env_store_state<E>(p, a, i, s);
  const int od = obs_dim<E>(p);
  vec_env_write_obs<E>(p, s, a.obs + i * od);
  a.episode_step[i] = 0;
  a.episode_index[i] = episode;
  a.episode_return[i] = 0.0f;
}

// Puts env i in a given physical state (acx rollout --init): counters zeroed.
template <Environment E>
ACX_HD void vec_env_set_state_one(const typename E::Params& p, const VecEnvArrays& a, int64_t i,
                                  const float* state_row) {
  float s[E::kStateDim];
  const int sd = state_dim<E>(p);
  for (int d = 0; d < E::kStateDim; ++d) s[d] = d < sd ? state_row[d] : 0.0f;
  vec_env_store_state<E>(p, a, i, s);
  vec_env_write_obs<E>(p, s, a.obs + i * obs_dim<E>(p));
  a.episode_step[i] = 0;
  a.episode_index[i] = 0;
  a.episode_return[i] = 0.0f;
}

// One step of env i with its action row. On termination or truncation and
// with auto_reset, the episode's last observation goes to final_obs, its
// return and length to done_return/done_length, and the env starts its next
// episode, whose first observation goes to obs.
template <Environment E>
ACX_HD void vec_env_step_one(const typename E::Params& p, const VecEnvArrays& a, int64_t i, const float* action,
                             uint64_t seed, int max_steps, bool auto_reset) {
  float s[E::kStateDim];
  vec_env_load_state<E>(p, a, i, s);
  const int ad = act_dim<E>(p), od = obs_dim<E>(p);
  float u[E::kActDim];
  for (int k = 0; k < E::kActDim; ++k) u[k] = k < ad ? action[i * ad + k] : 0.0f;

  float r = 0.0f;
  bool terminated = false;
  E::step(p, s, u, &r, &terminated);
  const int32_t t = a.episode_step[i] + 1;
  const bool truncated = !terminated && t >= max_steps;
  const float ret = a.episode_return[i] + r;

  vec_env_write_obs<E>(p, s, a.final_obs + i * od);
  a.reward[i] = r;
  a.terminated[i] = terminated ? 1 : 0;
  a.truncated[i] = truncated ? 1 : 0;
  if ((terminated || truncated) && auto_reset) {
    a.done_return[i] = ret;
    a.done_length[i] = t;
    vec_env_reset_one<E>(p, a, i, seed, a.episode_index[i] + 1);
    return;
  }
  vec_env_store_state<E>(p, a, i, s);
  for (int k = 0; k < od; ++k) a.obs[i * od + k] = a.final_obs[i * od + k];
  a.episode_step[i] = t;
  a.episode_return[i] = ret;
}

}  // namespace acx
