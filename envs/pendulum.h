// pendulum.h: gymnasium's Pendulum-v1 (classic_control/pendulum.py,
// gymnasium 1.0.0), float32. Swing a frictionless rod up and keep it there
// with a bounded torque; never terminates, truncated at 200 steps.
//
// Precision: gymnasium steps in float64 and casts the observation to float32.
// This struct keeps a float32 state but computes the step in double, with
// gymnasium's order of operations and its float32 torque terms: one step
// then agrees with gymnasium to ~1e-7 (float32 rounding of the result), and
// a whole 200-step episode does too when gymnasium's state is rounded the
// same way between steps (tests/fixtures/pendulum_traj_f32state_*). In
// float32 a step agrees to ~2.5e-6, but the pendulum near the top amplifies
// any 1e-7 difference by ~1.2x a step, so float32 trajectories part from
// gymnasium's after ~20 steps; double costs a few flops per env step.
// Against pure gymnasium (float64 state) the float32 state alone makes
// trajectories part after ~25 steps: that is the state's precision, not the
// step's. theta is stored wrapped to [-pi, pi) (gymnasium lets it grow
// without bound, where a float32 theta would lose digits: at |theta| ~ 80 an
// ulp is 8e-6); observation and reward depend on theta only modulo 2*pi.
#pragma once

#include "envs/env_api.h"

namespace acx {

struct Pendulum {
  static constexpr const char* kName = "pendulum";
  static constexpr const char* kStateLayout =
      "[theta (rad, 0 = upright, kept in [-pi, pi)), theta_dot (rad/s, in [-8, 8])]";
  static constexpr const char* kSource =
      "gymnasium 1.0.0 gymnasium/envs/classic_control/pendulum.py (Pendulum-v1, g = 10)";
  static constexpr int kStateDim = 2, kObsDim = 3, kActDim = 1;
  static constexpr int kMaxSteps = 200;

  static constexpr float kMaxSpeed = 8.0f;
  static constexpr float kMaxTorque = 2.0f;
  static constexpr float kDt = 0.05f;
  static constexpr float kGravity = 10.0f;
  static constexpr float kMass = 1.0f;
  static constexpr float kLength = 1.0f;

  static constexpr float kActionLow[kActDim] = {-kMaxTorque};
  static constexpr float kActionHigh[kActDim] = {kMaxTorque};
  static constexpr float kObsLow[kObsDim] = {-1.0f, -1.0f, -kMaxSpeed};
  static constexpr float kObsHigh[kObsDim] = {1.0f, 1.0f, kMaxSpeed};

  struct Params {};

  // theta ~ U(-pi, pi), theta_dot ~ U(-1, 1).
  ACX_HD static void reset(const Params&, float* state, PhiloxStream& rng) {
    state[0] = rng.uniform(-envmath::kPi, envmath::kPi);
    state[1] = rng.uniform(-1.0f, 1.0f);
  }

  ACX_HD static void step(const Params& params, float* state, const float* action, float* reward,
                          bool* terminated) {
    step_in<double>(params, state, action, reward, terminated);
  }

  // One step with the arithmetic in T (double for step(); float only to
  // measure the choice). The torque terms stay float32 as in gymnasium: it
  // gets u as np.float32, and numpy keeps 3.0 * u and 0.001 * u**2 in float32
  // before adding them to float64 terms.
  template <typename T>
  ACX_HD static void step_in(const Params&, float* state, const float* action, float* reward, bool* terminated) {
    const T th = state[0], thdot = state[1];
    const float u = envmath::clip(action[0], -kMaxTorque, kMaxTorque);
    const float torque_term = 3.0f / (kMass * kLength * kLength) * u;
    const float control_cost = 0.001f * (u * u);
    // The cost is charged on the state before the step and the clipped torque.
    const T th_n = angle_normalize<T>(th);
    const T cost = th_n * th_n + T(0.1) * (thdot * thdot) + T(control_cost);
    // Semi-implicit Euler; the speed is clipped before it moves the angle.
    constexpr T kGravityTerm = T(3) * T(kGravity) / (T(2) * T(kLength));  // 15
    constexpr T dt = T(0.05);
    const T max_speed = kMaxSpeed;
    T sin_th;
    if constexpr (sizeof(T) == sizeof(double)) sin_th = envmath::sin_f64(th);
    else sin_th = sinf(th);
    T new_thdot = thdot + (kGravityTerm * sin_th + T(torque_term)) * dt;
    new_thdot = new_thdot < -max_speed ? -max_speed : (new_thdot > max_speed ? max_speed : new_thdot);
    state[0] = static_cast<float>(angle_normalize<T>(th + new_thdot * dt));
    state[1] = static_cast<float>(new_thdot);
    *reward = static_cast<float>(-cost);
    *terminated = false;
  }

  // ((x + pi) mod 2 pi) - pi with a floor-based mod, in [-pi, pi).
  template <typename T>
  ACX_HD static T angle_normalize(T x) {
    if constexpr (sizeof(T) == sizeof(float)) {
      return envmath::angle_normalize(x);
    } else {
      // fmod is exact; the sign fix-up makes it numpy's floor-based mod.
      using std::fmod;
      constexpr T pi = 3.14159265358979323846, two_pi = 2 * pi;
      T r = fmod(x + pi, two_pi);
      if (r < 0) r += two_pi;
      return r - pi;
    }
  }

  // [cos theta, sin theta, theta_dot]
  ACX_HD static void observe(const Params&, const float* state, float* obs) {
    obs[0] = envmath::cos_f32(state[0]);
    obs[1] = envmath::sin_f32(state[0]);
    obs[2] = state[1];
  }
};

}  // namespace acx
