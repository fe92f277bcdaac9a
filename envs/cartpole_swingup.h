// cartpole_swingup.h: continuous cart-pole swing-up. The pole starts hanging
// down; the agent pushes the cart with a bounded force to swing it up and
// balance it over the middle of a finite track.
//
// Dynamics: the frictionless cart-pole of Barto, Sutton & Anderson (1983),
// "Neuronlike adaptive elements that can solve difficult learning control
// problems", in the form derived in R. V. Florian (2007), "Correct equations
// for the dynamics of the cart-pole system" (its angular and cart
// accelerations with both friction coefficients at zero), for a uniform pole (inertia m l^2 / 3 about its
// centre, l = half length). theta = 0 is upright, positive clockwise:
//
//   temp       = (F + m_p l thdot^2 sin th) / (m_c + m_p)
//   th_ddot    = (g sin th - cos th temp) / (l (4/3 - m_p cos^2 th / (m_c + m_p)))
//   x_ddot     = temp - m_p l th_ddot cos th / (m_c + m_p)
//
// Constants as in the classic balancing task (gymnasium's CartPole-v1):
// g = 9.8, m_c = 1.0, m_p = 0.1, l = 0.5, |F| <= 10 N (action in [-1, 1]
// times 10), track |x| <= 2.4. Unlike CartPole-v1's explicit Euler, one
// classic RK4 step of dt = 0.02 s with the force held, in float32: with
// F = 0 the energy drifts by < 1e-6 J over 5 s (tests), so swinging the pole
// up is the agent's work, not the integrator's.
//
// Reward, a smooth shape in [0, 1], the cos-based one of the well-known gym
// swing-up variants (similar in spirit to the DeepMind Control Suite's
// upright * centered product):
//   r = (1 + cos th) / 2  *  cos(pi/2 * x / 2.4)
// computed on the state after the step; 0 on the terminal step.
// Termination: the cart leaves the track, |x| > 2.4. Truncation: 500 steps
// (10 s). theta is kept wrapped to [-pi, pi).
#pragma once

#include "envs/env_api.h"

namespace acx {

struct CartpoleSwingup {
  static constexpr const char* kName = "cartpole-swingup";
  static constexpr const char* kStateLayout =
      "[x (m, cart position), x_dot (m/s), theta (rad, 0 = upright, kept in [-pi, pi)), theta_dot (rad/s)]";
  static constexpr const char* kSource =
      "Barto, Sutton & Anderson 1983; R. V. Florian 2007, Correct equations for the dynamics of the "
      "cart-pole system (frictionless); constants of gymnasium CartPole-v1; RK4, dt 0.02";
  static constexpr int kStateDim = 4, kObsDim = 5, kActDim = 1;
  static constexpr int kMaxSteps = 500;

  static constexpr float kGravity = 9.8f;
  static constexpr float kCartMass = 1.0f;
  static constexpr float kPoleMass = 0.1f;
  static constexpr float kHalfLength = 0.5f;
  static constexpr float kForceMag = 10.0f;
  static constexpr float kDt = 0.02f;
  static constexpr float kTrackLimit = 2.4f;
  static constexpr float kResetNoise = 0.05f;

  static constexpr float kActionLow[kActDim] = {-1.0f};
  static constexpr float kActionHigh[kActDim] = {1.0f};
  // The terminal observation may lie a little past the track: its bound is
  // twice the track (as CartPole-v1's). Speeds are unbounded.
  static constexpr float kObsLow[kObsDim] = {-2.0f * kTrackLimit, -envmath::kInf, -1.0f, -1.0f, -envmath::kInf};
  static constexpr float kObsHigh[kObsDim] = {2.0f * kTrackLimit, envmath::kInf, 1.0f, 1.0f, envmath::kInf};

  struct Params {};

  // theta = pi + U(-0.05, 0.05) (hanging down); x, x_dot, theta_dot ~ U(-0.05, 0.05).
  ACX_HD static void reset(const Params&, float* state, PhiloxStream& rng) {
    state[0] = rng.uniform(-kResetNoise, kResetNoise);
    state[1] = rng.uniform(-kResetNoise, kResetNoise);
    state[2] = envmath::angle_normalize(envmath::kPi + rng.uniform(-kResetNoise, kResetNoise));
    state[3] = rng.uniform(-kResetNoise, kResetNoise);
  }

  // d/dt [x, x_dot, theta, theta_dot] under the force `force` (N).
  ACX_HD static void derivatives(const float* s, float force, float* ds) {
    constexpr float kTotalMass = kCartMass + kPoleMass;
    constexpr float kPoleMassLength = kPoleMass * kHalfLength;
    const float sin_th = envmath::sin_f32(s[2]), cos_th = envmath::cos_f32(s[2]);
    const float temp = (force + kPoleMassLength * s[3] * s[3] * sin_th) / kTotalMass;
    const float th_acc = (kGravity * sin_th - cos_th * temp) /
                         (kHalfLength * (4.0f / 3.0f - kPoleMass * cos_th * cos_th / kTotalMass));
    const float x_acc = temp - kPoleMassLength * th_acc * cos_th / kTotalMass;
    ds[0] = s[1];
    ds[1] = x_acc;
    ds[2] = s[3];
    ds[3] = th_acc;
  }

  ACX_HD static void step(const Params&, float* state, const float* action, float* reward, bool* terminated) {
    const float force = kForceMag * envmath::clip(action[0], -1.0f, 1.0f);
    float k1[4], k2[4], k3[4], k4[4], tmp[4];
    derivatives(state, force, k1);
    for (int i = 0; i < 4; ++i) tmp[i] = state[i] + 0.5f * kDt * k1[i];
    derivatives(tmp, force, k2);
    for (int i = 0; i < 4; ++i) tmp[i] = state[i] + 0.5f * kDt * k2[i];
    derivatives(tmp, force, k3);
    for (int i = 0; i < 4; ++i) tmp[i] = state[i] + kDt * k3[i];
    derivatives(tmp, force, k4);
    for (int i = 0; i < 4; ++i) state[i] += kDt / 6.0f * (k1[i] + 2.0f * k2[i] + 2.0f * k3[i] + k4[i]);
    state[2] = envmath::angle_normalize(state[2]);
    const float x = state[0];
    const bool done = x < -kTrackLimit || x > kTrackLimit;
    const float upright = 0.5f * (1.0f + envmath::cos_f32(state[2]));
    const float centered = envmath::cos_f32(0.5f * envmath::kPi * x / kTrackLimit);
    *reward = done ? 0.0f : upright * centered;
    *terminated = done;
  }

  // [x, x_dot, cos theta, sin theta, theta_dot]
  ACX_HD static void observe(const Params&, const float* state, float* obs) {
    obs[0] = state[0];
    obs[1] = state[1];
    obs[2] = envmath::cos_f32(state[2]);
    obs[3] = envmath::sin_f32(state[2]);
    obs[4] = state[3];
  }
};

}  // namespace acx
