// sac.h: the per-sample math of SAC (Haarnoja et al. 2018, "Soft Actor-
// Critic Algorithms and Applications", with automatic entropy tuning) that
// is not a matrix product: the tanh-squashed Gaussian policy, the gradient of
// the actor's loss with respect to its two heads, and the gradient of the
// temperature's loss. The actor is an MLP (kernels/mlp.h) whose identity
// output holds, per row, 2A pre-activations: the means x_m (the first A) and
// the raw log-stds x_s (the last A). Per action dimension d, with the env's
// box [lo, hi], s = (hi - lo) / 2 and c = (hi + lo) / 2:
//
//   log_std = L0 + (L1 - L0) (tanh(x_s) + 1) / 2   (bounded as CleanRL does;
//                                                 defaults L0 = -5, L1 = 2)
//   u       = x_m + exp(log_std) eps,   eps ~ N(0, 1) (Philox, keyed)
//   t       = tanh(u),   a = c + s t
//   log pi  = sum_d [ -eps^2 / 2 - log_std - log(2 pi) / 2 - log(s (1 - t^2) + 1e-6) ]
//
// (the Gaussian's log-density at u, and the change of variables to a with
// CleanRL's and SB3's 1e-6 inside the log). The deterministic action (eval)
// is eps = 0: a = c + s tanh(x_m).
//
// The actor's loss per agent is mean_b [ alpha log pi_b - Q(s_b, a_b) ], its
// gradient with eps held fixed (the reparameterization), given g = dQ/da at
// the sampled a (critic_action_grad, kernels/mlp.h) and w = 1/B:
//
//   dL/du_d     = w [ -g_d s (1 - t^2) + alpha 2 t s (1 - t^2) / (s (1 - t^2) + 1e-6) ]
//   dL/dx_m,d   = dL/du_d
//   dL/dlog_std = dL/du_d exp(log_std) eps - w alpha
//   dL/dx_s,d   = dL/dlog_std (L1 - L0) (1 - tanh(x_s)^2) / 2
//
// (the Gaussian term -eps^2/2 does not move with x_m or log_std once eps is
// fixed). The actor's VJP (kernels/mlp.h) carries dL/dx back through the
// network. The temperature alpha = exp(log_alpha) has the loss
// -alpha mean_b (log pi_b + H) (CleanRL's form), so
//
//   dL/dlog_alpha = -alpha (mean_b log pi_b + H),   H the target entropy (-A by default).
//
// One thread per row: a row's log pi sums its A terms in order; the mean over
// the batch is one thread per agent adding its B rows in order, in float64.
// No atomics: every result is the same on every run.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/explore.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

constexpr float kSacLogProbEps = 1e-6f;
constexpr float kHalfLogTwoPi = 0.918938533204672742f;  // log(2 pi) / 2

struct SquashedGaussianArgs {
  int64_t n_rows;         // K * n
  int act_dim;            // A
  const float* head;      // (n_rows, 2A) [x_m | x_s]
  const float* low;       // (A)
  const float* high;      // (A)
  float log_std_min, log_std_max;
  uint64_t seed;
  RngPurpose purpose;     // kExploration when acting, kSacPolicy in updates
  DeviceCounter counter;  // the step or update number (kernels/counter.h)
  int deterministic;      // 1: eps = 0, the mean action
  float* action;          // (n_rows, A)
  float* log_prob;        // (n_rows), or null
  float* eps;             // (n_rows, A) the noise drawn, for the gradient; or null
};

// 1 - tanh(u)^2 as 1 / cosh(u)^2: in float32, 1 - t * t cancels once the
// action saturates (at |u| = 5 its relative error is ~7e-4, which moves
// log pi by as much); sech^2 keeps full relative precision (0 past |u| ~ 89).
ACX_HD float sac_sech2(float u) {
  const float ch = coshf(u);
  return 1.0f / (ch * ch);
}

ACX_HD float sac_log_std(float x_s, float lo, float hi) { return lo + 0.5f * (hi - lo) * (tanhf(x_s) + 1.0f); }

ACX_HD void squashed_gaussian_at(const SquashedGaussianArgs& a, int64_t row) {
  const int n = a.act_dim;
  const float* x = a.head + row * 2 * n;
  float lp = 0.0f;
  for (int d = 0; d < n; ++d) {
    const float log_std = sac_log_std(x[n + d], a.log_std_min, a.log_std_max);
    const float e = a.deterministic ? 0.0f : noise_normal(a.seed, a.purpose, row, n, d, a.counter.get());
    const float u = x[d] + expf(log_std) * e;
    const float t = tanhf(u);
    const float s = 0.5f * (a.high[d] - a.low[d]), c = 0.5f * (a.high[d] + a.low[d]);
    a.action[row * n + d] = c + s * t;
    if (a.eps) a.eps[row * n + d] = e;
    lp += -0.5f * e * e - log_std - kHalfLogTwoPi - logf(s * sac_sech2(u) + kSacLogProbEps);
  }
  if (a.log_prob) a.log_prob[row] = lp;
}

struct SacActorGradArgs {
  int64_t n_rows;          // K * B
  int act_dim;             // A
  int64_t rows_per_agent;  // B: row r belongs to agent r / B
  const float* head;       // (n_rows, 2A) the actor's output at the sampled rows
  const float* eps;        // (n_rows, A) the noise of the sample
  const float* low;        // (A)
  const float* high;       // (A)
  float log_std_min, log_std_max;
  const float* dq_da;      // (n_rows, A) dQ/da at the sampled actions
  const float* log_alpha;  // (K)
  float weight;            // w: 1 / B for the mean over the batch
  float* d_head;           // (n_rows, 2A) out: dL/dx
};

ACX_HD void sac_actor_grad_at(const SacActorGradArgs& a, int64_t row) {
  const int n = a.act_dim;
  const float alpha = expf(a.log_alpha[row / a.rows_per_agent]);
  const float* x = a.head + row * 2 * n;
  float* dx = a.d_head + row * 2 * n;
  for (int d = 0; d < n; ++d) {
    const float ts = tanhf(x[n + d]);
    const float log_std = a.log_std_min + 0.5f * (a.log_std_max - a.log_std_min) * (ts + 1.0f);
    const float e = a.eps[row * n + d];
    const float sd = expf(log_std);
    const float u = x[d] + sd * e;
    const float t = tanhf(u);
    const float s = 0.5f * (a.high[d] - a.low[d]);
    const float da_du = s * sac_sech2(u);
    const float du = a.weight * (-a.dq_da[row * n + d] * da_du + alpha * 2.0f * t * da_du / (da_du + kSacLogProbEps));
    const float dlog_std = du * sd * e - a.weight * alpha;
    dx[d] = du;
    dx[n + d] = dlog_std * 0.5f * (a.log_std_max - a.log_std_min) * (1.0f - ts * ts);
  }
}

struct AlphaGradArgs {
  int n_agents;            // K
  int64_t batch;           // B
  const float* log_prob;   // (K, B)
  const float* log_alpha;  // (K)
  float target_entropy;    // H
  float* grad;             // (K) dL/dlog_alpha
  float* mean_log_prob;    // (K) mean_b log pi, for logs; or null
};

ACX_HD void alpha_grad_at(const AlphaGradArgs& a, int64_t k) {
  double s = 0.0;
  for (int64_t b = 0; b < a.batch; ++b) s += a.log_prob[k * a.batch + b];
  const double mean = s / static_cast<double>(a.batch);
  a.grad[k] = static_cast<float>(-exp(static_cast<double>(a.log_alpha[k])) * (mean + a.target_entropy));
  if (a.mean_log_prob) a.mean_log_prob[k] = static_cast<float>(mean);
}

// The actor climbs the smaller of the twin critics, per sample (clipped
// double Q for the policy, as CleanRL and SB3 do): out_row = dQ_j/da at the
// row of the member j with the smallest Q (the first on ties), q_min its Q.
struct MinQGradArgs {
  int n_q;              // critics per agent
  int64_t n_rows;       // K * B
  int act_dim;          // A
  const float* q;       // (n_q * K * B) Q_j(s, a), q-major members
  const float* dq_da;   // (n_q * K * B, A)
  float* out;           // (K * B, A)
  float* q_min;         // (K * B), or null
};

ACX_HD void min_q_grad_at(const MinQGradArgs& a, int64_t row) {
  int best = 0;
  float q = a.q[row];
  for (int j = 1; j < a.n_q; ++j) {
    const float qj = a.q[j * a.n_rows + row];
    if (qj < q) q = qj, best = j;
  }
  const float* src = a.dq_da + (best * a.n_rows + row) * a.act_dim;
  for (int d = 0; d < a.act_dim; ++d) a.out[row * a.act_dim + d] = src[d];
  if (a.q_min) a.q_min[row] = q;
}

namespace ops {
void min_q_grad(const Device& dev, const MinQGradArgs& a);
void squashed_gaussian(const Device& dev, const SquashedGaussianArgs& a);
void sac_actor_grad(const Device& dev, const SacActorGradArgs& a);
void alpha_grad(const Device& dev, const AlphaGradArgs& a);
}  // namespace ops

namespace cpu_kernels {
void min_q_grad(const MinQGradArgs& a);
void squashed_gaussian(const SquashedGaussianArgs& a);
void sac_actor_grad(const SacActorGradArgs& a);
void alpha_grad(const AlphaGradArgs& a);
}  // namespace cpu_kernels
namespace cuda_kernels {
void min_q_grad(const MinQGradArgs& a, void* stream);
void squashed_gaussian(const SquashedGaussianArgs& a, void* stream);
void sac_actor_grad(const SacActorGradArgs& a, void* stream);
void alpha_grad(const AlphaGradArgs& a, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
