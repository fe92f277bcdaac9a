// lqr.h: a linear-quadratic regulator task, the one env whose optimum is
// known in closed form, so a learner's return can be compared to the best
// possible (envs/lqr_riccati.h computes it).
//
//   x_{t+1} = A x_t + B u_t,  u_t = clip(action, -u_max, u_max)
//   reward  = -(x_t' Q x_t + u_t' R u_t)      (pre-step state, clipped action)
//   x_0 ~ U(-1, 1)^n, never terminates, truncated at 200 steps
//
// n (state) and m (action) are runtime, up to 8 each; the matrices are
// packed row-major: A (n, n), B (n, m), Q (n, n), R (m, m). The default is a
// double integrator (position, velocity; force input) with dt = 0.1: open-loop
// unstable (a Jordan block at eigenvalue 1, x grows linearly), controllable.
// Q = I, R = 0.1, |u| <= 8. The finite-horizon optimal controller from any
// x_0 in the reset box needs |u| <= 6.03 over the 200 steps, so the bound
// never binds for it and the Riccati optimum is the true optimum of the env.
// Host code must check a user's Params with validate_lqr_params().
#pragma once

#include "envs/env_api.h"

namespace acx {

struct Lqr {
  static constexpr int kMaxDim = 8;
  static constexpr const char* kName = "lqr";
  static constexpr const char* kStateLayout = "[x_0 .. x_{n-1}] (default: position, velocity of a double integrator)";
  static constexpr const char* kSource =
      "discrete-time LQR (e.g. Bertsekas, Dynamic Programming and Optimal Control, vol. 1, sec. 3.1); "
      "finite-horizon Riccati recursion in envs/lqr_riccati.cpp";
  static constexpr int kStateDim = kMaxDim, kObsDim = kMaxDim, kActDim = kMaxDim;
  static constexpr int kMaxSteps = 200;
  static constexpr float kResetHigh = 1.0f;  // x_0 ~ U(-1, 1)^n

  struct Params {
    int n = 2;  // state dim, 1..kMaxDim
    int m = 1;  // action dim, 1..kMaxDim
    float A[kMaxDim * kMaxDim] = {1.0f, 0.1f,   // (n, n)
                                  0.0f, 1.0f};
    float B[kMaxDim * kMaxDim] = {0.005f,       // (n, m): dt^2 / 2
                                  0.1f};        //         dt
    float Q[kMaxDim * kMaxDim] = {1.0f, 0.0f,   // (n, n), symmetric positive semi-definite
                                  0.0f, 1.0f};
    float R[kMaxDim * kMaxDim] = {0.1f};        // (m, m), symmetric positive definite
    float u_max[kMaxDim] = {8.0f};              // (m): action i in [-u_max[i], u_max[i]]
  };

  ACX_HD static int state_dim(const Params& p) { return p.n; }
  ACX_HD static int obs_dim(const Params& p) { return p.n; }
  ACX_HD static int act_dim(const Params& p) { return p.m; }

  static void action_bounds(const Params& p, float* low, float* high) {
    for (int i = 0; i < p.m; ++i) low[i] = -p.u_max[i], high[i] = p.u_max[i];
  }
  static void obs_bounds(const Params& p, float* low, float* high) {
    for (int i = 0; i < p.n; ++i) low[i] = -envmath::kInf, high[i] = envmath::kInf;
  }

  // Loops run to kMaxDim with a guard, not to n: with constant trip counts
  // the GPU keeps the small arrays in registers (no local memory).
  ACX_HD static void reset(const Params& p, float* state, PhiloxStream& rng) {
    for (int i = 0; i < kMaxDim; ++i) {
      const float x = rng.uniform(-kResetHigh, kResetHigh);  // always kMaxDim draws
      if (i < p.n) state[i] = x;
    }
  }

  ACX_HD static void step(const Params& p, float* state, const float* action, float* reward, bool* terminated) {
    const int n = p.n, m = p.m;
    float x[kMaxDim], u[kMaxDim];
    for (int i = 0; i < kMaxDim; ++i) x[i] = i < n ? state[i] : 0.0f;
    for (int k = 0; k < kMaxDim; ++k) u[k] = k < m ? envmath::clip(action[k], -p.u_max[k], p.u_max[k]) : 0.0f;
    float cost = 0.0f;
    for (int i = 0; i < kMaxDim; ++i) {
      float qx = 0.0f;
      for (int j = 0; j < kMaxDim; ++j)
        if (i < n && j < n) qx += p.Q[i * n + j] * x[j];
      cost += x[i] * qx;
    }
    for (int k = 0; k < kMaxDim; ++k) {
      float ru = 0.0f;
      for (int l = 0; l < kMaxDim; ++l)
        if (k < m && l < m) ru += p.R[k * m + l] * u[l];
      cost += u[k] * ru;
    }
    for (int i = 0; i < kMaxDim; ++i) {
      if (i >= n) break;
      float acc = 0.0f;
      for (int j = 0; j < kMaxDim; ++j)
        if (j < n) acc += p.A[i * n + j] * x[j];
      for (int k = 0; k < kMaxDim; ++k)
        if (k < m) acc += p.B[i * m + k] * u[k];
      state[i] = acc;
    }
    *reward = -cost;
    *terminated = false;
  }

  // Fully observed: obs = x.
  ACX_HD static void observe(const Params& p, const float* state, float* obs) {
    for (int i = 0; i < p.n; ++i) obs[i] = state[i];
  }
};

}  // namespace acx
