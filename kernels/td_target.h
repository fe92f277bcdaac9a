// td_target.h: the critic's regression target
//     y = reward_scale * r + discount * min_q Q'_q(s', a')   [ - alpha log pi(a'|s') for SAC ]
// with clipped double-Q (TD3, n_q = 2) or a single target critic (DDPG,
// n_q = 1). `discount` comes from the replay buffer: gamma^k for a k-step
// return, 0 where the window ended in a termination (no bootstrap), and
// gamma^k where it ended in a truncation (the final observation bootstraps).
//
// Critic members are q-major: member q * K + k is critic q of agent k, so the
// first K members (critic 0 of every agent) are contiguous for the actor's
// update. The target is written once per critic member, (n_q * K, B), so
// each member's TD loss reads its own row block.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

struct TdTargetArgs {
  int n_q;                  // critics per agent (1 or 2)
  int n_agents;             // K
  int64_t batch;            // B
  const float* q_next;      // (n_q * K, B) target critics at (s', a')
  const float* reward;      // (K, B) n-step discounted reward
  const float* discount;    // (K, B)
  float* y;                 // (n_q * K, B)
  float reward_scale = 1.0f;  // the critic learns the scaled return
  // SAC's soft target (null otherwise): min_q Q' - alpha_k log pi(a'|s'),
  // alpha_k = exp(log_alpha[k]). With n-step returns only the last state's
  // entropy enters (the intermediate rewards carry none: the usual shortcut).
  const float* next_log_prob = nullptr;  // (K, B)
  const float* log_alpha = nullptr;      // (K)
};

ACX_HD void td_target_at(const TdTargetArgs& a, int64_t i) {
  // i indexes (agent k, sample b) = k * B + b.
  const int64_t kb = a.n_agents * a.batch;
  float q = a.q_next[i];
  for (int j = 1; j < a.n_q; ++j) {
    const float qj = a.q_next[j * kb + i];
    q = qj < q ? qj : q;
  }
  if (a.next_log_prob != nullptr) q -= expf(a.log_alpha[i / a.batch]) * a.next_log_prob[i];
  const float y = a.reward_scale * a.reward[i] + a.discount[i] * q;
  for (int j = 0; j < a.n_q; ++j) a.y[j * kb + i] = y;
}

namespace ops {
void td_target(const Device& dev, const TdTargetArgs& a);
}

namespace cpu_kernels {
void td_target(const TdTargetArgs& a);
}
namespace cuda_kernels {
void td_target(const TdTargetArgs& a, void* stream);
}

}  // namespace acx
