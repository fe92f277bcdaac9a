// optim.cpp: the optimizer ops, dispatched to the CPU or CUDA shell.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"
#include "kernels/vector_ops.h"

namespace acx::ops {

namespace {
AdamArgs adam_args(const AdamConfig& cfg, float* params, float* m, float* v, const float* grads,
                   const float* member_lr, int64_t member_size) {
  ACX_CHECK(member_lr == nullptr || member_size >= 1, "per-member Adam learning rates need a member size");
  AdamArgs a{};
  a.lr = cfg.lr;
  a.beta1 = cfg.beta1;
  a.beta2 = cfg.beta2;
  a.eps = cfg.eps;
  a.weight_decay = cfg.weight_decay;
  a.decoupled = cfg.decoupled ? 1 : 0;
  a.state = nullptr;
  a.member_lr = member_lr;
  a.member_size = member_lr ? member_size : 1;
  a.params = params;
  a.m = m;
  a.v = v;
  a.grads = grads;
  return a;
}

void adam_update(const Device& dev, const AdamArgs& a, int64_t n) {
  ACX_CHECK(a.member_lr == nullptr || n % a.member_size == 0,
            "per-member Adam learning rates need n to be a multiple of the member size");
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::adam_update(a, n, dev.stream()));
  } else {
    cpu_kernels::adam_update(a, n);
  }
}
}  // namespace

void adam_step(const Device& dev, int64_t n, const AdamConfig& cfg, int64_t step, float* params, float* m, float* v,
               const float* grads, const float* member_lr, int64_t member_size) {
  ACX_CHECK(step >= 1, "Adam steps count from 1");
  AdamArgs a = adam_args(cfg, params, m, v, grads, member_lr, member_size);
  a.scalars = adam_step_scalars(cfg.lr, cfg.beta1, cfg.beta2, step);
  adam_update(dev, a, n);
}

void adam_step_counted(const Device& dev, int64_t n, const AdamConfig& cfg, AdamStepState* state, float* params,
                       float* m, float* v, const float* grads, const float* member_lr, int64_t member_size) {
  ACX_CHECK(state != nullptr, "adam_step_counted: no step state");
  const AdamAdvanceArgs adv{cfg.lr, cfg.beta1, cfg.beta2, state};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::adam_advance(adv, dev.stream()));
  } else {
    cpu_kernels::adam_advance(adv);
  }
  AdamArgs a = adam_args(cfg, params, m, v, grads, member_lr, member_size);
  a.state = state;
  adam_update(dev, a, n);
}

void polyak_update(const Device& dev, int64_t n, float tau, const float* online, float* target) {
  axpby(dev, n, tau, online, 1.0f - tau, target);
}

void clip_grad_norm(const Device& dev, int n_members, int64_t n_params, float max_norm, float* grads, float* norms,
                    ClipWorkspace* workspace) {
  ACX_CHECK(n_members > 0 && n_params > 0, "clip_grad_norm of an empty buffer");
  NormPartialArgs np;
  np.n_params = n_params;
  np.n_chunks = ceil_div(n_params, kNormChunk);
  np.x = grads;
  ClipWorkspace local;
  ClipWorkspace& ws = workspace ? *workspace : local;
  const size_t n_partial = static_cast<size_t>(np.n_chunks * n_members);
  if (ws.partial.size() < n_partial) ws.partial = Buffer<double>(dev, n_partial);
  if (ws.scales.size() < static_cast<size_t>(n_members)) ws.scales = Buffer<float>(dev, static_cast<size_t>(n_members));
  Buffer<double>& partial = ws.partial;
  Buffer<float>& scales = ws.scales;
  np.partial = partial.data();
  ClipArgs ca;
  ca.n_chunks = np.n_chunks;
  ca.partial = partial.data();
  ca.max_norm = max_norm;
  ca.norms = norms;
  ca.scales = scales.data();
  ScaleMembersArgs sm;
  sm.n_params = n_params;
  sm.scales = scales.data();
  sm.x = grads;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::norm_partials(np, n_members, dev.stream()));
    ACX_ON_CUDA(cuda_kernels::clip_finalize(ca, n_members, dev.stream()));
    if (max_norm > 0) ACX_ON_CUDA(cuda_kernels::scale_members(sm, n_members, dev.stream()));
    if (!workspace) dev.synchronize();  // the call's own scratch is released on return
  } else {
    cpu_kernels::norm_partials(np, n_members);
    cpu_kernels::clip_finalize(ca, n_members);
    if (max_norm > 0) cpu_kernels::scale_members(sm, n_members);
  }
}

void td_loss_grad(const Device& dev, TdLoss kind, float huber_delta, int n_members, int batch, const float* q,
                  const float* y, int64_t y_stride, float* dq, float* loss) {
  ACX_CHECK(batch > 0 && n_members > 0, "a TD loss over an empty batch");
  ACX_CHECK(kind == TdLoss::kMse || huber_delta > 0, "the Huber loss needs delta > 0");
  TdLossArgs a;
  a.kind = kind;
  a.delta = huber_delta;
  a.batch = batch;
  a.q = q;
  a.y = y;
  a.y_stride = y_stride;
  a.dq = dq;
  a.loss = loss;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::td_grad(a, n_members, dev.stream()));
  } else {
    cpu_kernels::td_grad(a, n_members);
  }
}

}  // namespace acx::ops
