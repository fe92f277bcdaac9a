// acrobot_continuous.h: gymnasium's Acrobot-v1 (classic_control/acrobot.py,
// gymnasium 1.0.0; Sutton & Barto's "book" equations of the two-link
// underactuated pendulum, Sutton 1996 / Sutton & Barto 1998) with a
// continuous torque in [-1, 1] on the elbow instead of the choice {-1, 0, +1}.
// With the torque in {-1, 0, +1} it is Acrobot-v1 step for step.
//
// Integration as gymnasium: one classic RK4 step over dt = 0.2 s with the
// torque held, then both angles wrapped to [-pi, pi] and the speeds clipped
// to 4*pi and 9*pi. The goal: the tip above one link length over the pivot,
// -cos(th1) - cos(th1 + th2) > 1. Reward -1 per step, 0 on the terminal step.
//
// Precision: the RK4 is computed in double (on the GPU too: 4 evaluations
// of a few dozen flops per env step, negligible next to the networks).
// Measured against gymnasium on 1500 injected states: in float32 one 0.2 s
// step is off by up to 2.3e-4 on fast states (74 of 9000 obs entries over
// 1e-5); in double by 1.2e-7, the float32 rounding of the result. The double
// pendulum is chaotic, so float32 state storage still parts trajectories
// from gymnasium's eventually (after ~250 steps in the fixtures).
#pragma once

#include "envs/env_api.h"

namespace acx {

struct AcrobotContinuous {
  static constexpr const char* kName = "acrobot-continuous";
  static constexpr const char* kStateLayout =
      "[theta1 (rad, 0 = hanging down, in [-pi, pi]), theta2 (rad, relative to link 1, in [-pi, pi]), "
      "dtheta1 (rad/s, in [-4pi, 4pi]), dtheta2 (rad/s, in [-9pi, 9pi])]";
  static constexpr const char* kSource =
      "gymnasium 1.0.0 gymnasium/envs/classic_control/acrobot.py (Acrobot-v1, book equations), "
      "continuous torque; Sutton & Barto, Reinforcement Learning: An Introduction (1998), sec. 11.3";
  static constexpr int kStateDim = 4, kObsDim = 6, kActDim = 1;
  static constexpr int kMaxSteps = 500;

  static constexpr double kDt = 0.2;
  static constexpr double kLinkLength1 = 1.0;
  static constexpr double kLinkMass1 = 1.0, kLinkMass2 = 1.0;
  static constexpr double kLinkComPos1 = 0.5, kLinkComPos2 = 0.5;
  static constexpr double kLinkMoi = 1.0;  // both links
  static constexpr double kGravity = 9.8;
  static constexpr double kPi = 3.14159265358979323846;
  static constexpr float kMaxVel1 = 4.0f * envmath::kPi;
  static constexpr float kMaxVel2 = 9.0f * envmath::kPi;
  static constexpr float kMaxTorque = 1.0f;

  static constexpr float kActionLow[kActDim] = {-kMaxTorque};
  static constexpr float kActionHigh[kActDim] = {kMaxTorque};
  static constexpr float kObsLow[kObsDim] = {-1.0f, -1.0f, -1.0f, -1.0f, -kMaxVel1, -kMaxVel2};
  static constexpr float kObsHigh[kObsDim] = {1.0f, 1.0f, 1.0f, 1.0f, kMaxVel1, kMaxVel2};

  struct Params {};

  // All four state variables ~ U(-0.1, 0.1).
  ACX_HD static void reset(const Params&, float* state, PhiloxStream& rng) {
    for (int i = 0; i < kStateDim; ++i) state[i] = rng.uniform(-0.1f, 0.1f);
  }

  // d/dt [th1, th2, dth1, dth2] for the torque `a` on the second joint, in
  // the precision T (double for step(); float only to measure the choice).
  template <typename T>
  ACX_HD static T sin_t(T x) {
    if constexpr (sizeof(T) == sizeof(double)) return envmath::sin_f64(x);
    else return sinf(x);
  }
  template <typename T>
  ACX_HD static T cos_t(T x) {
    if constexpr (sizeof(T) == sizeof(double)) return envmath::cos_f64(x);
    else return cosf(x);
  }

  template <typename T>
  ACX_HD static void derivatives(const T* s, T a, T* ds) {
    constexpr T m1 = kLinkMass1, m2 = kLinkMass2, l1 = kLinkLength1;
    constexpr T lc1 = kLinkComPos1, lc2 = kLinkComPos2, i1 = kLinkMoi, i2 = kLinkMoi, g = kGravity;
    constexpr T half_pi = static_cast<T>(kPi / 2.0);
    const T th1 = s[0], th2 = s[1], dth1 = s[2], dth2 = s[3];
    const T cos2 = cos_t(th2), sin2 = sin_t(th2);
    const T d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + T(2) * l1 * lc2 * cos2) + i1 + i2;
    const T d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
    const T phi2 = m2 * lc2 * g * cos_t(th1 + th2 - half_pi);
    const T phi1 = -m2 * l1 * lc2 * dth2 * dth2 * sin2 - T(2) * m2 * l1 * lc2 * dth2 * dth1 * sin2 +
                   (m1 * lc1 + m2 * l1) * g * cos_t(th1 - half_pi) + phi2;
    const T ddth2 =
        (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dth1 * dth1 * sin2 - phi2) / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    const T ddth1 = -(d2 * ddth2 + phi1) / d1;
    ds[0] = dth1;
    ds[1] = dth2;
    ds[2] = ddth1;
    ds[3] = ddth2;
  }

  // x wrapped into [lo, hi] by whole periods (gymnasium's wrap()).
  template <typename T>
  ACX_HD static T wrap(T x, T lo, T hi) {
    using std::ceil;
    const T period = hi - lo;
    if (x > hi) x -= period * ceil((x - hi) / period);
    if (x < lo) x += period * ceil((lo - x) / period);
    return x;
  }

  ACX_HD static void step(const Params& params, float* state, const float* action, float* reward,
                          bool* terminated) {
    step_in<double>(params, state, action, reward, terminated);
  }

  // One step with the RK4 computed in T.
  template <typename T>
  ACX_HD static void step_in(const Params&, float* state, const float* action, float* reward, bool* terminated) {
    constexpr T dt = static_cast<T>(kDt), pi = static_cast<T>(kPi);
    const T torque = envmath::clip(action[0], -kMaxTorque, kMaxTorque);
    T y[4], k1[4], k2[4], k3[4], k4[4], tmp[4];
    for (int i = 0; i < 4; ++i) y[i] = state[i];
    derivatives<T>(y, torque, k1);
    for (int i = 0; i < 4; ++i) tmp[i] = y[i] + dt / T(2) * k1[i];
    derivatives<T>(tmp, torque, k2);
    for (int i = 0; i < 4; ++i) tmp[i] = y[i] + dt / T(2) * k2[i];
    derivatives<T>(tmp, torque, k3);
    for (int i = 0; i < 4; ++i) tmp[i] = y[i] + dt * k3[i];
    derivatives<T>(tmp, torque, k4);
    for (int i = 0; i < 4; ++i) y[i] = y[i] + dt / T(6) * (k1[i] + T(2) * k2[i] + T(2) * k3[i] + k4[i]);
    y[0] = wrap<T>(y[0], -pi, pi);
    y[1] = wrap<T>(y[1], -pi, pi);
    const T max_vel1 = kMaxVel1, max_vel2 = kMaxVel2;
    y[2] = y[2] < -max_vel1 ? -max_vel1 : (y[2] > max_vel1 ? max_vel1 : y[2]);
    y[3] = y[3] < -max_vel2 ? -max_vel2 : (y[3] > max_vel2 ? max_vel2 : y[3]);
    for (int i = 0; i < 4; ++i) state[i] = static_cast<float>(y[i]);
    // The goal is judged on the unrounded state, as gymnasium does.
    const bool done = -cos_t(y[0]) - cos_t(y[1] + y[0]) > T(1);
    *reward = done ? 0.0f : -1.0f;
    *terminated = done;
  }

  // [cos th1, sin th1, cos th2, sin th2, dth1, dth2]
  ACX_HD static void observe(const Params&, const float* state, float* obs) {
    obs[0] = envmath::cos_f32(state[0]);
    obs[1] = envmath::sin_f32(state[0]);
    obs[2] = envmath::cos_f32(state[1]);
    obs[3] = envmath::sin_f32(state[1]);
    obs[4] = state[2];
    obs[5] = state[3];
  }
};

}  // namespace acx
