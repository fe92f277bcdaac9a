// CPU shells of the optimizer kernels (kernels/optim.h): OpenMP loops over
// the same element math. The reductions add each chunk (and each member's
// batch) in index order in float64.
#include "kernels/optim.h"

namespace acx::cpu_kernels {

void adam_advance(const AdamAdvanceArgs& a) { adam_advance_at(a); }

// The step's scalars and each member's learning rate are read once, before
// the loop, into the arguments adam_update_at takes from the host (the
// device's step state is host memory here; step_size = lr * inv_bc1 is the
// product adam_update_at forms for a member rate). The loop is then the
// element math alone, with nothing a store could change, and vectorizes
// (with -fno-math-errno for sqrtf, CMakeLists.txt): 5x faster than the
// element loop that read the state and divided i by the member size per
// element, and the same bits.
void adam_update(const AdamArgs& a, int64_t n) {
  AdamArgs h = a;
  if (h.state != nullptr) {
    h.scalars = *h.state;
    h.state = nullptr;
  }
  if (n == 0) return;
  const int64_t size = h.member_lr != nullptr ? h.member_size : n;  // the op checked n % member_size == 0
  for (int64_t e = 0; e < n / size; ++e) {
    AdamArgs r = h;
    if (h.member_lr != nullptr) {
      r.lr = h.member_lr[e];
      r.scalars.step_size = r.lr * h.scalars.inv_bc1;
      r.member_lr = nullptr;
    }
    r.params += e * size;
    r.m += e * size;
    r.v += e * size;
    r.grads += e * size;
#pragma omp parallel for simd schedule(static) firstprivate(r)
    for (int64_t i = 0; i < size; ++i) adam_update_at(r, i);
  }
}

void norm_partials(const NormPartialArgs& a, int n_members) {
  const int64_t n_blocks = a.n_chunks * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n_blocks; ++t) {
    const int64_t e = t / a.n_chunks, c = t % a.n_chunks;
    const int64_t begin = c * kNormChunk;
    const int64_t end = begin + kNormChunk < a.n_params ? begin + kNormChunk : a.n_params;
    const float* x = a.x + e * a.n_params;
    double s = 0;
    for (int64_t j = begin; j < end; ++j) s += static_cast<double>(x[j]) * x[j];
    a.partial[t] = s;
  }
}

void clip_finalize(const ClipArgs& a, int n_members) {
  for (int64_t e = 0; e < n_members; ++e) clip_finalize_at(a, e);
}

void scale_members(const ScaleMembersArgs& a, int n_members) {
  const int64_t n = a.n_params * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) scale_members_at(a, i);
}

void td_grad(const TdLossArgs& a, int n_members) {
  const int64_t n = a.batch * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) td_grad_at(a, i);
  if (!a.loss) return;
  for (int64_t e = 0; e < n_members; ++e) {
    double s = 0;
    for (int64_t b = 0; b < a.batch; ++b) s += td_loss_value(a.kind, a.delta, td_residual(a, e * a.batch + b));
    a.loss[e] = static_cast<float>(s / static_cast<double>(a.batch));
  }
}

}  // namespace acx::cpu_kernels
