// c51.h: the per-sample math of a categorical (C51) critic (Bellemare,
// Dabney & Munos 2017, "A Distributional Perspective on Reinforcement
// Learning"), as FastTD3 uses it with TD3 and acx also with SAC. The critic's
// output row holds N logits l_i over the fixed support
//
//   z_i = v_min + i dz,   dz = (v_max - v_min) / (N - 1),   i = 0 .. N-1
//
// and its value is the expectation Q = sum_i p_i z_i, p = softmax(l).
//
// Target (one thread per (agent, sample) row, in a fixed order: no atomics):
// of the n_q target critics at (s', a') the one whose mean is the smaller
// (clipped double Q on distributions: that twin's whole distribution is kept;
// the first on ties), shifted and shrunk by the n-step return
//
//   Tz_i = reward_scale r + discount (z_i - alpha log pi(a'|s'))   (the alpha term: SAC only)
//
// clipped to [v_min, v_max] and projected onto the support: with
// b = (Tz_i - v_min) / dz, l = floor(b), u = ceil(b), atom l gets p_i (u - b)
// and atom u gets p_i (b - l), or atom l all of p_i when b is a whole
// number. `discount` is the replay's gamma^k, 0 after a termination (so
// every atom lands on reward_scale r), gamma^k after a truncation.
//
// Loss of a critic row against its target m: the cross-entropy
// -sum_i m_i log p_i, averaged over the batch; its gradient with respect to
// the logits is w (p - m) (w = 1/B; sum_i m_i = 1).
//
// The actor's dQ/da goes through the expectation: dQ/dl_i = p_i (z_i - Q),
// then the critic's backward to its action columns (critic_action_grad with
// this cotangent, kernels/mlp.h).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

struct C51Support {
  int n_atoms;  // N >= 2
  float v_min, v_max;
};

ACX_HD float c51_atom(const C51Support& s, int i) {
  return s.v_min + static_cast<float>(i) * ((s.v_max - s.v_min) / static_cast<float>(s.n_atoms - 1));
}

// Softmax statistics of one row of logits: its max and sum_i exp(l_i - max).
ACX_HD void c51_softmax_stats(const float* l, int n, float* max_out, float* sum_out) {
  float m = l[0];
  for (int i = 1; i < n; ++i) m = l[i] > m ? l[i] : m;
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += expf(l[i] - m);
  *max_out = m;
  *sum_out = s;
}

ACX_HD float c51_mean(const C51Support& sup, const float* l) {
  float m, s;
  c51_softmax_stats(l, sup.n_atoms, &m, &s);
  float q = 0.0f;
  for (int i = 0; i < sup.n_atoms; ++i) q += expf(l[i] - m) / s * c51_atom(sup, i);
  return q;
}

struct C51ProjectArgs {
  C51Support support;
  int n_q;                     // target critics per agent (2: TD3 and SAC; 1: DDPG)
  int n_agents;                // K
  int64_t batch;               // B
  const float* next_logits;    // (n_q K B, N) target critics at (s', a'), q-major members
  const float* reward;         // (K B) n-step discounted reward
  const float* discount;       // (K B)
  float reward_scale;
  const float* next_log_prob;  // (K B) SAC's log pi(a'|s'), or null
  const float* log_alpha;      // (K) with next_log_prob
  float* target;               // (K B, N) out: the projected distribution
  float* target_mean;          // (K B) out: its mean, or null
};

ACX_HD void c51_project_at(const C51ProjectArgs& a, int64_t row) {
  const C51Support& sup = a.support;
  const int n = sup.n_atoms;
  const int64_t kb = a.n_agents * a.batch;
  int best = 0;
  float best_q = c51_mean(sup, a.next_logits + row * n);
  for (int j = 1; j < a.n_q; ++j) {
    const float qj = c51_mean(sup, a.next_logits + (j * kb + row) * n);
    if (qj < best_q) best_q = qj, best = j;
  }
  const float* l = a.next_logits + (best * kb + row) * n;
  float mx, sum;
  c51_softmax_stats(l, n, &mx, &sum);
  const float shift = a.next_log_prob ? expf(a.log_alpha[row / a.batch]) * a.next_log_prob[row] : 0.0f;
  const float r = a.reward_scale * a.reward[row], disc = a.discount[row];
  const float dz = (sup.v_max - sup.v_min) / static_cast<float>(n - 1);
  float* m = a.target + row * n;
  for (int i = 0; i < n; ++i) m[i] = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float p = expf(l[i] - mx) / sum;
    float tz = r + disc * (c51_atom(sup, i) - shift);
    tz = tz < sup.v_min ? sup.v_min : (tz > sup.v_max ? sup.v_max : tz);
    float b = (tz - sup.v_min) / dz;
    b = b < 0.0f ? 0.0f : (b > static_cast<float>(n - 1) ? static_cast<float>(n - 1) : b);
    const int lo = static_cast<int>(floorf(b)), hi = static_cast<int>(ceilf(b));
    if (lo == hi) {
      m[lo] += p;
    } else {
      m[lo] += p * (static_cast<float>(hi) - b);
      m[hi] += p * (b - static_cast<float>(lo));
    }
  }
  if (a.target_mean) {
    float q = 0.0f;
    for (int i = 0; i < n; ++i) q += m[i] * c51_atom(sup, i);
    a.target_mean[row] = q;
  }
}

struct C51LossArgs {
  int n_atoms;              // N
  int64_t n_rows;           // n_q K B critic rows
  int64_t target_rows;      // K B: row r learns target row r % target_rows (every twin the same target)
  const float* logits;      // (n_rows, N)
  const float* target;      // (target_rows, N)
  float weight;             // w = 1 / B
  float* dlogits;           // (n_rows, N) out: w (p - m)
  float* row_loss;          // (n_rows) out: -sum_i m_i log p_i, or null
};

ACX_HD void c51_loss_grad_at(const C51LossArgs& a, int64_t row) {
  const int n = a.n_atoms;
  const float* l = a.logits + row * n;
  const float* m = a.target + (row % a.target_rows) * n;
  float mx, sum;
  c51_softmax_stats(l, n, &mx, &sum);
  const float log_sum = logf(sum);
  float ce = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float log_p = l[i] - mx - log_sum;
    a.dlogits[row * n + i] = a.weight * (expf(log_p) - m[i]);
    ce -= m[i] * log_p;
  }
  if (a.row_loss) a.row_loss[row] = ce;
}

// loss[e] = mean_b row_loss[e B + b], in float64 in row order (one thread per member).
struct MemberMeanArgs {
  int n_members;
  int64_t batch;
  const float* rows;  // (E, B)
  float* out;         // (E)
};

ACX_HD void member_mean_at(const MemberMeanArgs& a, int64_t e) {
  double s = 0.0;
  for (int64_t b = 0; b < a.batch; ++b) s += a.rows[e * a.batch + b];
  a.out[e] = static_cast<float>(s / static_cast<double>(a.batch));
}

// Q = sum_i p_i z_i per row, and the cotangent dQ/dl_i = p_i (z_i - Q) when dq_dlogits is not null.
struct C51ValueArgs {
  C51Support support;
  int64_t n_rows;
  const float* logits;  // (n_rows, N)
  float* q;             // (n_rows)
  float* dq_dlogits;    // (n_rows, N), or null
};

ACX_HD void c51_value_at(const C51ValueArgs& a, int64_t row) {
  const int n = a.support.n_atoms;
  const float* l = a.logits + row * n;
  float mx, sum;
  c51_softmax_stats(l, n, &mx, &sum);
  float q = 0.0f;
  for (int i = 0; i < n; ++i) q += expf(l[i] - mx) / sum * c51_atom(a.support, i);
  a.q[row] = q;
  if (a.dq_dlogits) {
    for (int i = 0; i < n; ++i) a.dq_dlogits[row * n + i] = expf(l[i] - mx) / sum * (c51_atom(a.support, i) - q);
  }
}

namespace ops {
void c51_project(const Device& dev, const C51ProjectArgs& a);
void c51_loss_grad(const Device& dev, const C51LossArgs& a);
void member_mean(const Device& dev, const MemberMeanArgs& a);
void c51_value(const Device& dev, const C51ValueArgs& a);
}  // namespace ops

namespace cpu_kernels {
void c51_project(const C51ProjectArgs& a);
void c51_loss_grad(const C51LossArgs& a);
void member_mean(const MemberMeanArgs& a);
void c51_value(const C51ValueArgs& a);
}  // namespace cpu_kernels
namespace cuda_kernels {
void c51_project(const C51ProjectArgs& a, void* stream);
void c51_loss_grad(const C51LossArgs& a, void* stream);
void member_mean(const MemberMeanArgs& a, void* stream);
void c51_value(const C51ValueArgs& a, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
