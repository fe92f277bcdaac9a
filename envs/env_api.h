// env_api.h: what an environment is in acx. The built-in envs follow it, and
// so does a user's custom env: write one struct, check it with
// `static_assert(acx::Environment<MyEnv>)`, and the vectorized stepper (CPU
// loop and CUDA kernel alike) can run thousands of copies of it.
//
// THE CONTRACT
//
//   struct MyEnv {
//     static constexpr const char* kName = "my-env";      // registry / CLI name
//     static constexpr const char* kStateLayout = "[x, x_dot]";  // what state[i] means
//     static constexpr int kStateDim = 2, kObsDim = 2, kActDim = 1;  // compile-time maxima
//     static constexpr int kMaxSteps = 200;               // time limit (truncation)
//     struct Params {};  // runtime constants; trivially copyable (it is copied to
//                        // the device as is); Params{} is the default config
//
//     ACX_HD static void reset(const Params&, float* state, acx::PhiloxStream& rng);
//     ACX_HD static void step(const Params&, float* state /*in-out*/, const float* action,
//                             float* reward, bool* terminated);
//     ACX_HD static void observe(const Params&, const float* state, float* obs);
//
//     // bounds, host side: either constexpr arrays ...
//     static constexpr float kActionLow[kActDim] = {-1}, kActionHigh[kActDim] = {1};
//     static constexpr float kObsLow[kObsDim] = {...},   kObsHigh[kObsDim] = {...};
//     // ... or, when they depend on Params, static host functions
//     static void action_bounds(const Params&, float* low, float* high);
//     static void obs_bounds(const Params&, float* low, float* high);
//
//     // optional: runtime dims <= the k*Dim maxima (default: the maxima)
//     ACX_HD static int state_dim(const Params&);  // likewise obs_dim, act_dim
//     // optional: static constexpr const char* kSource = "paper / reference file";
//   };
//
// Rules the stepper relies on:
// - step() receives the action exactly as the agent produced it (unclipped):
//   the env clips what its physics needs and may charge the unclipped action
//   in the reward (MountainCarContinuous-v0 does).
// - step() sets *terminated for a true end of the MDP (goal reached, fell
//   off). The time limit is NOT applied by step(): the stepper counts steps
//   and truncates at kMaxSteps; a truncated transition still bootstraps.
// - reset() draws only from the stream it is given. The stepper keys that
//   stream by (seed, RngPurpose::kEnvReset, env index, episode), so a run is
//   reproducible whatever the thread layout.
// - state is float32. Element math is float32 unless an env says otherwise.
// - Element functions must not allocate, throw, or touch globals: they run
//   inside a CUDA kernel.
#pragma once

#include "kernels/philox.h"
#include "kernels/runtime/common.h"

#include <cmath>
#include <concepts>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace acx {

namespace env_detail {

template <typename E>
concept HasActionBoundArrays = requires {
  E::kActionLow[0];
  E::kActionHigh[0];
} && std::extent_v<decltype(E::kActionLow)> == static_cast<size_t>(E::kActDim) &&
                               std::extent_v<decltype(E::kActionHigh)> == static_cast<size_t>(E::kActDim);

template <typename E>
concept HasActionBoundFunction = requires(const typename E::Params& p, float* lo, float* hi) {
  E::action_bounds(p, lo, hi);
};

template <typename E>
concept HasObsBoundArrays = requires {
  E::kObsLow[0];
  E::kObsHigh[0];
} && std::extent_v<decltype(E::kObsLow)> == static_cast<size_t>(E::kObsDim) &&
                            std::extent_v<decltype(E::kObsHigh)> == static_cast<size_t>(E::kObsDim);

template <typename E>
concept HasObsBoundFunction = requires(const typename E::Params& p, float* lo, float* hi) {
  E::obs_bounds(p, lo, hi);
};

}  // namespace env_detail

// Checks the contract above at compile time.
template <typename E>
concept Environment =
    requires(const typename E::Params& params, float* state, const float* cstate, const float* action,
             float* out, bool* terminated, PhiloxStream& rng) {
      { E::kName } -> std::convertible_to<const char*>;
      { E::kStateLayout } -> std::convertible_to<const char*>;
      { E::kStateDim } -> std::convertible_to<int>;
      { E::kObsDim } -> std::convertible_to<int>;
      { E::kActDim } -> std::convertible_to<int>;
      { E::kMaxSteps } -> std::convertible_to<int>;
      E::reset(params, state, rng);
      E::step(params, state, action, out, terminated);
      E::observe(params, cstate, out);
    } &&
    std::default_initializable<typename E::Params> && std::is_trivially_copyable_v<typename E::Params> &&
    (E::kStateDim > 0) && (E::kObsDim > 0) && (E::kActDim > 0) && (E::kMaxSteps > 0) &&
    (env_detail::HasActionBoundArrays<E> || env_detail::HasActionBoundFunction<E>) &&
    (env_detail::HasObsBoundArrays<E> || env_detail::HasObsBoundFunction<E>);

// Runtime dims: the env's own function if it has one, else the compile-time maximum.
template <Environment E>
ACX_HD int state_dim(const typename E::Params& p) {
  if constexpr (requires { E::state_dim(p); }) return E::state_dim(p);
  else return E::kStateDim;
}
template <Environment E>
ACX_HD int obs_dim(const typename E::Params& p) {
  if constexpr (requires { E::obs_dim(p); }) return E::obs_dim(p);
  else return E::kObsDim;
}
template <Environment E>
ACX_HD int act_dim(const typename E::Params& p) {
  if constexpr (requires { E::act_dim(p); }) return E::act_dim(p);
  else return E::kActDim;
}

// Host side: fills low/high (act_dim<E>(p) entries each).
template <Environment E>
void action_bounds(const typename E::Params& p, float* low, float* high) {
  if constexpr (env_detail::HasActionBoundFunction<E>) {
    E::action_bounds(p, low, high);
  } else {
    for (int i = 0; i < act_dim<E>(p); ++i) low[i] = E::kActionLow[i], high[i] = E::kActionHigh[i];
  }
}

// Host side: fills low/high (obs_dim<E>(p) entries each). May be +-infinity.
template <Environment E>
void obs_bounds(const typename E::Params& p, float* low, float* high) {
  if constexpr (env_detail::HasObsBoundFunction<E>) {
    E::obs_bounds(p, low, high);
  } else {
    for (int i = 0; i < obs_dim<E>(p); ++i) low[i] = E::kObsLow[i], high[i] = E::kObsHigh[i];
  }
}

// What the registry, the CLI and the logs know about an env (host side).
struct EnvInfo {
  std::string name;
  int state_dim = 0, obs_dim = 0, act_dim = 0;
  int max_steps = 0;                  // truncation
  std::vector<float> action_low, action_high;  // (act_dim)
  std::vector<float> obs_low, obs_high;        // (obs_dim), may be +-inf
  std::string state_layout;
  std::string source;                 // the reference it follows (file, version, paper)
  // Simulator-backed envs (the MuJoCo tasks): the id and version of the task
  // they copy, the engine that runs them, and physics steps per env step.
  std::string reference_id;           // e.g. "HalfCheetah-v5 (gymnasium 1.4.0)"
  std::string engine;                 // e.g. "MuJoCo 4.0.0"; empty for kernel envs
  int frame_skip = 0;
};

template <Environment E>
EnvInfo make_env_info(const typename E::Params& params = {}) {
  EnvInfo info;
  info.name = E::kName;
  info.state_dim = state_dim<E>(params);
  info.obs_dim = obs_dim<E>(params);
  info.act_dim = act_dim<E>(params);
  info.max_steps = E::kMaxSteps;
  info.action_low.resize(info.act_dim);
  info.action_high.resize(info.act_dim);
  action_bounds<E>(params, info.action_low.data(), info.action_high.data());
  info.obs_low.resize(info.obs_dim);
  info.obs_high.resize(info.obs_dim);
  obs_bounds<E>(params, info.obs_low.data(), info.obs_high.data());
  info.state_layout = E::kStateLayout;
  if constexpr (requires { E::kSource; }) info.source = E::kSource;
  return info;
}

// ---- small float math shared by the classic-control envs ------------------

namespace envmath {

constexpr float kPi = 3.14159265358979323846f;
constexpr float kTwoPi = 6.28318530717958647692f;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Trig for env math: sin/cos in double, and float ones through double
// (correctly rounded to float but for ties, on both sides). Why not plain
// sinf/cos: on the GPU each CUDA sin/cos/sinf/cosf call carries a cold
// Payne-Hanek path for huge arguments with an array in local memory, and two
// such calls in one kernel trip ptxas's -warn-lmem-usage (an error in this
// build). sinpi/cospi of x/pi reduce exactly without one. The host uses
// std::sin/cos; the two sides may differ by an ulp of double, which the
// float32 results almost never show.
constexpr double kInvPiF64 = 0.318309886183790671537767526745028724;

ACX_HD double sin_f64(double x) {
#if defined(__CUDA_ARCH__)
  return sinpi(x * kInvPiF64);
#else
  return std::sin(x);
#endif
}
ACX_HD double cos_f64(double x) {
#if defined(__CUDA_ARCH__)
  return cospi(x * kInvPiF64);
#else
  return std::cos(x);
#endif
}
ACX_HD float sin_f32(float x) { return static_cast<float>(sin_f64(x)); }
ACX_HD float cos_f32(float x) { return static_cast<float>(cos_f64(x)); }

// x clipped to [lo, hi]; NaN stays NaN, as numpy's clip does.
ACX_HD float clip(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// x - 2*pi*k for an integer k, in float with a two-part 2*pi (Cody-Waite),
// so that the reduction stays within an ulp or two for |k| up to ~1e4 (a float 2*pi
// alone is 1.7e-7 off, which k multiplies).
ACX_HD float minus_two_pi_times(float x, float k) {
  constexpr float kTwoPiHi = 6.28125f;                  // 201/32: k * kTwoPiHi is exact
  constexpr float kTwoPiLo = 0.0019353071693331003f;    // 2*pi - kTwoPiHi
  return (x - k * kTwoPiHi) - k * kTwoPiLo;
}

// ((x + pi) mod 2*pi) - pi with a floor-based mod: the value in [-pi, pi)
// that equals x modulo 2*pi (gymnasium's pendulum angle_normalize).
ACX_HD float angle_normalize(float x) {
  const float k = floorf((x + kPi) * (1.0f / kTwoPi));
  float r = minus_two_pi_times(x, k);
  // k came from a rounded quotient: fix the last step at the boundaries.
  if (r < -kPi) r += kTwoPi;
  if (r >= kPi) r -= kTwoPi;
  return r;
}

}  // namespace envmath

}  // namespace acx
