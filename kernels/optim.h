// optim.h: what turns gradients into parameter updates, over the flat
// (E, P) parameter buffers of kernels/mlp.h: Adam and AdamW, Polyak
// averaging of target networks, global-norm gradient clipping, and the
// gradients of the critic's TD losses (MSE and Huber).
//
// Every member of an ensemble is its own agent: the gradient norm used for
// clipping and the loss are per member, never mixed across members.
// Reductions are deterministic: fixed chunks summed in float64, chunks added
// in order by one thread per member; no float atomics.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

// ---- Adam / AdamW --------------------------------------------------------------
// PyTorch's torch.optim.Adam / AdamW (foreach=False), in float32:
//   Adam:  g <- g + wd p;          AdamW: p <- p - lr wd p     (decoupled)
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // true: AdamW
};

// Adam's step count in device memory, with the scalars that follow from
// it: what a step reads when it runs, so that a captured CUDA graph takes
// every step with the right bias corrections (kernels/counter.h says why).
struct AdamStepState {
  int64_t step;        // steps taken, the current one included
  float step_size;     // lr / (1 - beta1^step)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^step)
  float inv_bc1;       // 1 / (1 - beta1^step)
  float unused;
};

// Step `step`'s scalars, in float64: the one place they are computed (by
// the host for ops::adam_step, on the device for ops::adam_step_counted).
ACX_HD AdamStepState adam_step_scalars(float lr, float beta1, float beta2, int64_t step) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - pow(static_cast<double>(beta1), t);  // Adam's first bias correction
  AdamStepState s{};
  s.step = step;
  s.step_size = static_cast<float>(lr / bc1);
  s.inv_sqrt_bc2 = static_cast<float>(1.0 / sqrt(1.0 - pow(static_cast<double>(beta2), t)));
  s.inv_bc1 = static_cast<float>(1.0 / bc1);
  return s;
}

// step + 1, then its scalars (one thread).
struct AdamAdvanceArgs {
  float lr, beta1, beta2;
  AdamStepState* state;
};

ACX_HD void adam_advance_at(const AdamAdvanceArgs& a) {
  *a.state = adam_step_scalars(a.lr, a.beta1, a.beta2, a.state->step + 1);
}

struct AdamArgs {
  float lr, beta1, beta2, eps, weight_decay;
  AdamStepState scalars;       // the step's scalars, computed on the host ...
  const AdamStepState* state;  // ... or null: read from here when the kernel runs
  int decoupled;
  // Per-member learning rates (hyper-parameter variants), or null: element
  // i uses member_lr[i / member_size] and step size member_lr * inv_bc1.
  const float* member_lr;  // (n / member_size) on the device
  int64_t member_size;
  float* params;       // (n)
  float* m;            // (n) first moment
  float* v;            // (n) second moment
  const float* grads;  // (n)
};

ACX_HD void adam_update_at(const AdamArgs& a, int64_t i) {
  float p = a.params[i];
  float g = a.grads[i];
  // Field by field, not a reference to either struct: a reference to the
  // kernel's argument would put it in local memory on the GPU.
  const bool on_device = a.state != nullptr;
  const float inv_bc1 = on_device ? a.state->inv_bc1 : a.scalars.inv_bc1;
  const float inv_sqrt_bc2 = on_device ? a.state->inv_sqrt_bc2 : a.scalars.inv_sqrt_bc2;
  float lr = a.lr, step_size = on_device ? a.state->step_size : a.scalars.step_size;
  if (a.member_lr != nullptr) {
    lr = a.member_lr[i / a.member_size];
    step_size = lr * inv_bc1;
  }
  if (a.decoupled) {
    p -= lr * a.weight_decay * p;
  } else {
    g += a.weight_decay * p;
  }
  const float m = a.beta1 * a.m[i] + (1.0f - a.beta1) * g;
  const float v = a.beta2 * a.v[i] + (1.0f - a.beta2) * g * g;
  const float denom = sqrtf(v) * inv_sqrt_bc2 + a.eps;
  a.params[i] = p - step_size * (m / denom);
  a.m[i] = m;
  a.v[i] = v;
}

// ---- global-norm clipping, per member ----------------------------------------------
// Sums of squares over fixed chunks of a member's P gradients (float64), then
// one thread per member adds its chunks in order.
constexpr int64_t kNormChunk = 4096;

struct NormPartialArgs {
  int64_t n_params;    // P
  int64_t n_chunks;    // ceil(P / kNormChunk)
  const float* x;      // (E, P)
  double* partial;     // (E, n_chunks)
};

struct ClipArgs {
  int64_t n_chunks;
  const double* partial;  // (E, n_chunks)
  float max_norm;         // <= 0: measure only
  float* norms;           // (E) the norm before clipping
  float* scales;          // (E) the factor applied: min(1, max_norm / (norm + 1e-6))
};

ACX_HD void clip_finalize_at(const ClipArgs& a, int64_t e) {
  double s = 0;
  for (int64_t c = 0; c < a.n_chunks; ++c) s += a.partial[e * a.n_chunks + c];
  const double norm = sqrt(s);
  a.norms[e] = static_cast<float>(norm);
  a.scales[e] = a.max_norm > 0 && norm > a.max_norm ? static_cast<float>(a.max_norm / (norm + 1e-6)) : 1.0f;
}

struct ScaleMembersArgs {
  int64_t n_params;
  const float* scales;  // (E)
  float* x;             // (E, P)
};

ACX_HD void scale_members_at(const ScaleMembersArgs& a, int64_t i) { a.x[i] *= a.scales[i / a.n_params]; }

// ---- TD losses -----------------------------------------------------------------------
// loss_e = (1/B) sum_b l(q_eb - y_b), with
//   kMse:   l(r) = r^2 (PyTorch's F.mse_loss, as TD3 and DDPG use), l'(r) = 2 r
//   kHuber: l(r) = r^2 / 2 for |r| <= delta, else delta (|r| - delta / 2);
//           l'(r) = clamp(r, -delta, delta) (F.huber_loss)
// and dq_eb = l'(q_eb - y_b) / B, the gradient of loss_e.
enum class TdLoss : int32_t { kMse = 0, kHuber = 1 };

ACX_HD float td_loss_value(TdLoss kind, float delta, float r) {
  if (kind == TdLoss::kMse) return r * r;
  const float a = fabsf(r);
  return a <= delta ? 0.5f * r * r : delta * (a - 0.5f * delta);
}

ACX_HD float td_loss_derivative(TdLoss kind, float delta, float r) {
  if (kind == TdLoss::kMse) return 2.0f * r;
  return r > delta ? delta : (r < -delta ? -delta : r);
}

struct TdLossArgs {
  TdLoss kind;
  float delta;
  int64_t batch;      // B
  const float* q;     // (E, B)
  const float* y;     // member e: y + e * y_stride, (B); y_stride 0 shares one target
  int64_t y_stride;
  float* dq;          // (E, B)
  float* loss;        // (E), may be null
};

ACX_HD float td_residual(const TdLossArgs& a, int64_t i) {
  const int64_t e = i / a.batch, b = i % a.batch;
  return a.q[i] - a.y[e * a.y_stride + b];
}

ACX_HD void td_grad_at(const TdLossArgs& a, int64_t i) {
  a.dq[i] = td_loss_derivative(a.kind, a.delta, td_residual(a, i)) / static_cast<float>(a.batch);
}

// ---- ops ---------------------------------------------------------------------------------
namespace ops {
// One Adam(W) step over n parameters; step is the 1-based count of this step.
// With member_lr (device, n / member_size values) the parameters are members
// of member_size each and member e uses learning rate member_lr[e] instead
// of cfg.lr (per-agent variants).
void adam_step(const Device& dev, int64_t n, const AdamConfig& cfg, int64_t step, float* params, float* m, float* v,
               const float* grads, const float* member_lr = nullptr, int64_t member_size = 0);
// The same step with its count in device memory: state->step + 1 and its
// bias corrections (adam_advance_at), then the update reading them; bitwise
// adam_step(..., state->step + 1, ...) on the CPU and under the emulation.
void adam_step_counted(const Device& dev, int64_t n, const AdamConfig& cfg, AdamStepState* state, float* params,
                       float* m, float* v, const float* grads, const float* member_lr = nullptr,
                       int64_t member_size = 0);
// target <- tau online + (1 - tau) target (ops::axpby).
void polyak_update(const Device& dev, int64_t n, float tau, const float* online, float* target);
// The scratch of clip_grad_norm (per-chunk partial sums, per-member
// scales), kept by its caller so that an update allocates nothing and
// waits for nothing: it grows on the first call of a size, then is reused
// (stream-ordered on a GPU).
struct ClipWorkspace {
  Buffer<double> partial;
  Buffer<float> scales;
};
// Per-member L2 norms of grads (E, P) into norms (E, on the device); when
// max_norm > 0, scales each member whose norm exceeds it down to max_norm.
// Without a workspace, one is allocated for the call and the call waits for
// the device before freeing it.
void clip_grad_norm(const Device& dev, int n_members, int64_t n_params, float max_norm, float* grads, float* norms,
                    ClipWorkspace* workspace = nullptr);
// dq (E, B) = d loss_e / d q, and loss (E, device; may be null) for q (E, B)
// against y (member e at y + e * y_stride).
void td_loss_grad(const Device& dev, TdLoss kind, float huber_delta, int n_members, int batch, const float* q,
                  const float* y, int64_t y_stride, float* dq, float* loss);
}  // namespace ops

// ---- shells -------------------------------------------------------------------------------
namespace cpu_kernels {
void adam_advance(const AdamAdvanceArgs& a);
void adam_update(const AdamArgs& a, int64_t n);
void norm_partials(const NormPartialArgs& a, int n_members);
void clip_finalize(const ClipArgs& a, int n_members);
void scale_members(const ScaleMembersArgs& a, int n_members);
void td_grad(const TdLossArgs& a, int n_members);  // dq, and loss when not null
}  // namespace cpu_kernels

namespace cuda_kernels {
void adam_advance(const AdamAdvanceArgs& a, void* stream);
void adam_update(const AdamArgs& a, int64_t n, void* stream);
void norm_partials(const NormPartialArgs& a, int n_members, void* stream);
void clip_finalize(const ClipArgs& a, int n_members, void* stream);
void scale_members(const ScaleMembersArgs& a, int n_members, void* stream);
void td_grad(const TdLossArgs& a, int n_members, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
