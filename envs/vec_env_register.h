// vec_env_register.h: turns an env struct into a registered, vectorized env.
// Include it in a .cu file under envs/ and write ACX_REGISTER_ENV(MyEnv):
//
//   - a CUDA build compiles that file with nvcc: the stepping kernel below
//     is instantiated for MyEnv and runs one thread per env;
//   - the SIMT emulation build compiles it with g++ and runs that same
//     kernel source on the CPU in tests;
//   - a CPU-only build compiles it as plain C++: only the OpenMP loop.
//
// The kernels and the CPU loops call the same element functions
// (envs/vec_env_step.h), which call the env's own reset/step/observe.
#pragma once

#include "envs/vec_env.h"
#include "envs/vec_env_step.h"
#include "kernels/runtime/error.h"

#if defined(__CUDACC__) || defined(ACX_SIMT_EMULATION)
#define ACX_ENV_DEVICE_CODE 1
#include "kernels/runtime/device_api.h"
#else
#define ACX_ENV_DEVICE_CODE 0
#endif

namespace acx {

namespace vec_env_detail {

#if ACX_ENV_DEVICE_CODE
constexpr int kBlock = 256;

// One thread per env over a grid-stride loop, so millions of envs fit the
// grid cap. The Params struct travels by value in kernel parameter space.
template <typename E>
__global__ void env_step_kernel(typename E::Params p, VecEnvArrays a, const float* actions, uint64_t seed,
                                int max_steps, bool auto_reset) {
  ACX_GRID_STRIDE_LOOP(i, a.n_envs) {
    vec_env_step_one<E>(p, a, i, actions, seed, max_steps, auto_reset);
  }
}

template <typename E>
__global__ void env_reset_kernel(typename E::Params p, VecEnvArrays a, uint64_t seed) {
  ACX_GRID_STRIDE_LOOP(i, a.n_envs) {
    vec_env_reset_one<E>(p, a, i, seed, 0u);
  }
}

template <typename E>
__global__ void env_set_state_kernel(typename E::Params p, VecEnvArrays a, const float* states, int state_dim) {
  ACX_GRID_STRIDE_LOOP(i, a.n_envs) {
    vec_env_set_state_one<E>(p, a, i, states + i * state_dim);
  }
}
#endif  // ACX_ENV_DEVICE_CODE

template <Environment E>
class VecEnvImpl final : public VecEnv {
 public:
  VecEnvImpl(const Device& dev, int64_t n_envs) : VecEnv(dev, make_env_info<E>(), n_envs) {
#if !ACX_ENV_DEVICE_CODE
    if (dev.is_cuda()) throw Error(std::string("env '") + E::kName + "' was built without its CUDA kernel");
#endif
  }

  void reset(uint64_t seed) override {
    seed_ = seed;
    const VecEnvArrays a = arrays_;
    if (dev_.is_cuda()) {
#if ACX_ENV_DEVICE_CODE
      ACX_LAUNCH(env_reset_kernel<E>, grid_for(n_envs_, kBlock), kBlock, 0, static_cast<cudaStream_t>(dev_.stream()),
                 params_, a, seed);
#endif
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_envs_; ++i) vec_env_reset_one<E>(params_, a, i, seed, 0u);
  }

  void step(const float* actions) override {
    const VecEnvArrays a = arrays_;
    const uint64_t seed = seed_;
    const int max_steps = max_steps_;
    const bool auto_reset = auto_reset_;
    if (dev_.is_cuda()) {
#if ACX_ENV_DEVICE_CODE
      ACX_LAUNCH(env_step_kernel<E>, grid_for(n_envs_, kBlock), kBlock, 0, static_cast<cudaStream_t>(dev_.stream()),
                 params_, a, actions, seed, max_steps, auto_reset);
#endif
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_envs_; ++i) vec_env_step_one<E>(params_, a, i, actions, seed, max_steps, auto_reset);
  }

  void set_state(const float* states) override {
    const VecEnvArrays a = arrays_;
    const int sd = info_.state_dim;
    if (dev_.is_cuda()) {
#if ACX_ENV_DEVICE_CODE
      ACX_LAUNCH(env_set_state_kernel<E>, grid_for(n_envs_, kBlock), kBlock, 0,
                 static_cast<cudaStream_t>(dev_.stream()), params_, a, states, sd);
#endif
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_envs_; ++i) vec_env_set_state_one<E>(params_, a, i, states + i * sd);
  }

  static std::unique_ptr<VecEnv> create(const Device& dev, int64_t n_envs) {
    return std::make_unique<VecEnvImpl<E>>(dev, n_envs);
  }

 private:
  typename E::Params params_{};
};

}  // namespace vec_env_detail
}  // namespace acx

// Registers env struct E under E::kName. Put it in a .cu file under envs/.
#define ACX_REGISTER_ENV(E)                                                                            \
  static_assert(::acx::Environment<E>, #E " does not meet the env contract (envs/env_api.h)");         \
  namespace {                                                                                          \
  [[maybe_unused]] const bool acx_env_registered_##E =                                                 \
      ::acx::register_env(::acx::make_env_info<E>(), &::acx::vec_env_detail::VecEnvImpl<E>::create);   \
  }
