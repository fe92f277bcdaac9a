// vec_env.h: N copies of one environment stepped together on a device, the
// state kept there between steps (SoA), one kernel launch per step on the
// GPU, one OpenMP loop on the CPU. Episodes auto-reset; terminated and
// truncated are kept apart, and the observation that ended an episode stays
// available in final_obs so that a truncated episode can be bootstrapped.
//
// Envs are found by name: every env registers itself with ACX_REGISTER_ENV
// (envs/vec_env_register.h), built-in and custom alike.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "envs/env_api.h"
#include "envs/vec_env_step.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/host_array.h"

namespace acx {

class VecEnv {
 public:
  VecEnv(const Device& dev, EnvInfo info, int64_t n_envs);
  // For envs that keep their arrays themselves (the MuJoCo tasks): nothing is
  // allocated, and the subclass must point arrays_ at n_envs rows of each
  // array before anyone steps it.
  struct OwnArrays {};
  VecEnv(const Device& dev, EnvInfo info, int64_t n_envs, OwnArrays);
  virtual ~VecEnv() = default;
  VecEnv(const VecEnv&) = delete;
  VecEnv& operator=(const VecEnv&) = delete;

  const EnvInfo& info() const { return info_; }
  const Device& device() const { return dev_; }
  int64_t n_envs() const { return n_envs_; }

  // Starts the first episode of every env, keyed by `seed`.
  virtual void reset(uint64_t seed) = 0;
  // Steps every env with `actions` (n_envs, act_dim), device memory, as given
  // (each env applies its own clipping rules).
  virtual void step(const float* actions) = 0;
  // Whether step() is device work only, with no host copies or waits (what
  // a CUDA graph of the training iteration needs); the MuJoCo tasks step on
  // the host and are not.
  virtual bool steps_on_device() const { return true; }
  // Puts env i in physical state row i of `states` (n_envs, state_dim),
  // device memory; episode counters restart at zero.
  virtual void set_state(const float* states) = 0;
  // The same from host rows in float64 (acx rollout --init): envs whose
  // physics runs in double (MuJoCo) take them as they are; the others round
  // them to float32 and call set_state.
  virtual void set_state_rows(const std::vector<double>& rows);

  // Off: envs keep stepping past the end of an episode (acx rollout).
  void set_auto_reset(bool on) { auto_reset_ = on; }
  // Steps after which an episode is truncated (default: the env's limit).
  void set_max_steps(int max_steps);
  int max_steps() const { return max_steps_; }
  uint64_t seed() const { return seed_; }

  // Device views, valid until the VecEnv is destroyed.
  const VecEnvArrays& arrays() const { return arrays_; }
  const float* obs() const { return arrays_.obs; }              // (n_envs, obs_dim)
  const float* final_obs() const { return arrays_.final_obs; }  // (n_envs, obs_dim)
  const float* reward() const { return arrays_.reward; }        // (n_envs)
  const uint8_t* terminated() const { return arrays_.terminated; }
  const uint8_t* truncated() const { return arrays_.truncated; }

  // Host copies, for tests, the CLI and logs (these wait for the device).
  virtual std::vector<float> state_host() const;  // (n_envs, state_dim), row-major
  std::vector<float> obs_host() const { return copy_out(arrays_.obs, n_envs_ * info_.obs_dim); }
  std::vector<float> final_obs_host() const { return copy_out(arrays_.final_obs, n_envs_ * info_.obs_dim); }
  std::vector<float> reward_host() const { return copy_out(arrays_.reward, n_envs_); }
  std::vector<uint8_t> terminated_host() const { return copy_out(arrays_.terminated, n_envs_); }
  std::vector<uint8_t> truncated_host() const { return copy_out(arrays_.truncated, n_envs_); }
  std::vector<int32_t> episode_step_host() const { return copy_out(arrays_.episode_step, n_envs_); }
  std::vector<float> episode_return_host() const { return copy_out(arrays_.episode_return, n_envs_); }
  std::vector<float> done_return_host() const { return copy_out(arrays_.done_return, n_envs_); }
  std::vector<int32_t> done_length_host() const { return copy_out(arrays_.done_length, n_envs_); }

  // Bytes of device memory per env.
  virtual size_t bytes_per_env() const;

  // Every per-env array and the seed, for checkpoints ("env.state", ...), and
  // back: a resumed env continues exactly where the saved one stood.
  virtual std::vector<HostArray> to_host() const;
  virtual void from_host(const std::vector<HostArray>& arrays);

 protected:
  template <typename T>
  std::vector<T> copy_out(const T* p, int64_t n) const {
    std::vector<T> out(static_cast<size_t>(n));
    memory::copy_device_to_host(dev_, out.data(), p, out.size() * sizeof(T));
    return out;
  }
  // The arrays every env has (all but env.state), to and from checkpoints.
  void arrays_to_host(std::vector<HostArray>& out) const;
  void arrays_from_host(const std::vector<HostArray>& arrays);

  Device dev_;
  EnvInfo info_;
  int64_t n_envs_;
  bool auto_reset_ = true;
  int max_steps_;
  uint64_t seed_ = 0;

 private:
  Buffer<float> state_, obs_, final_obs_, reward_, episode_return_, done_return_;
  Buffer<uint8_t> terminated_, truncated_;
  Buffer<int32_t> episode_step_, done_length_;
  Buffer<uint32_t> episode_index_;

 protected:
  VecEnvArrays arrays_;
};

using VecEnvFactory = std::unique_ptr<VecEnv> (*)(const Device& dev, int64_t n_envs);

// Adds an env to the registry (ACX_REGISTER_ENV calls this at start-up).
// Returns true so that it can initialize a namespace-scope constant.
bool register_env(const EnvInfo& info, VecEnvFactory factory);

// Every registered env, in registration order (built-ins first).
std::vector<EnvInfo> registered_envs();

// Every registered env as the JSON array `acx envs --json` prints (and
// the Python package's acx.envs() returns): dims, bounds (non-finite ones
// as "inf" and "-inf"), time limit, state layout, source, and for
// simulator-backed envs the reference id, engine and frame skip.
std::string registered_envs_json();
// The env called `name`; throws UsageError naming the known envs.
EnvInfo find_registered_env(std::string_view name);

// N copies of the env called `name` on `dev`; throws UsageError for an
// unknown name or n_envs < 1.
std::unique_ptr<VecEnv> make_vec_env(const Device& dev, std::string_view name, int64_t n_envs);

}  // namespace acx
