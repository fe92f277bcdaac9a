// normalizer.h: running observation statistics on the device, and the
// normalization the actor and critics see:
//
//   normalize(x)_d = clip((x_d - mean_d) / sqrt(var_d + eps), -clip, clip)
//
// with mean and (population) variance over every observation row passed to
// update() so far. Each update merges one batch (all envs of a step, say)
// into the running statistics with the parallel formula of Chan, Golub and
// LeVeque ("Updating formulae and a pairwise algorithm for computing sample
// variances", 1979):
//
//   n = n_a + n_b,  delta = mean_b - mean_a,
//   mean = mean_a + delta n_b / n,  M2 = M2_a + M2_b + delta^2 n_a n_b / n,
//
// where mean_b and M2_b (the sum of squared deviations) of the batch come
// from a two-pass float64 reduction per feature: one block per feature on the
// GPU (fixed per-thread slices, a warp-shuffle tree, no atomics), rows in
// order on the CPU. Everything is float64, so splitting the same data into
// different batches changes the result only at float64 rounding.
//
// With E members (independent agents trained together) each member keeps
// its own statistics over its own rows: rows are (E, n_rows, obs_dim) and
// the statistics (E, obs_dim); one member is the plain case.
//
// The statistics live on the device, count included, so an update needs no
// host value that changes from step to step. Before any update the
// normalizer passes observations through (mean 0, variance 1), clipped.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/replay.h"  // HostArray
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

// ---- element math (host + device) ---------------------------------------------

// Merges a batch of n_b rows with mean mean_b and squared-deviation sum m2_b
// into the running (count, mean, m2) of one feature.
ACX_HD void chan_merge(double* count, double* mean, double* m2, double n_b, double mean_b, double m2_b) {
  if (n_b <= 0) return;
  const double n_a = *count, n = n_a + n_b;
  const double delta = mean_b - *mean;
  *mean += delta * (n_b / n);
  *m2 += m2_b + delta * delta * (n_a * n_b / n);
  *count = n;
}

struct NormalizerUpdateArgs {
  int64_t n_rows;  // per member
  int obs_dim;
  int n_members;   // E
  const float* x;  // (E, n_rows, obs_dim)
  double* count;   // (E, obs_dim) rows seen; the same for every feature of a member
  double* mean;    // (E, obs_dim)
  double* m2;      // (E, obs_dim) sum of squared deviations from the mean
};

struct NormalizeArgs {
  int64_t n_rows;       // per member
  int obs_dim;
  int n_members;        // E
  const double* count;  // (E, obs_dim)
  const double* mean;   // (E, obs_dim)
  const double* m2;     // (E, obs_dim)
  double eps;
  float clip;
  const float* x;  // (E, n_rows, obs_dim)
  float* out;      // (E, n_rows, obs_dim); may alias x
};

ACX_HD void normalize_at(const NormalizeArgs& a, int64_t i) {
  const int64_t member = i / (a.n_rows * a.obs_dim);
  const int64_t d = member * a.obs_dim + i % a.obs_dim;  // the member's feature
  const double n = a.count[d];
  const double var = n > 0 ? a.m2[d] / n : 1.0;
  const float z = static_cast<float>((static_cast<double>(a.x[i]) - a.mean[d]) / sqrt(var + a.eps));
  // Comparisons, not fminf/fmaxf: a NaN observation stays NaN.
  a.out[i] = z < -a.clip ? -a.clip : (z > a.clip ? a.clip : z);
}

// ---- the normalizer ------------------------------------------------------------------

struct NormalizerConfig {
  double eps = 1e-8;   // added to the variance
  float clip = 10.0f;  // |normalized| <= clip (Stable-Baselines3's VecNormalize defaults)
};

class RunningNormalizer {
 public:
  // Throws UsageError for obs_dim < 1, n_members < 1, eps < 0 or clip <= 0.
  RunningNormalizer(const Device& dev, int obs_dim, const NormalizerConfig& cfg = {}, int n_members = 1);

  // Merges rows x (E, n_rows, obs_dim), device memory, into the statistics:
  // member e's n_rows rows into member e's.
  void update(const float* x, int64_t n_rows);
  // out = normalize(x), both (E, n_rows, obs_dim) device memory, each member
  // with its own statistics; in place allowed.
  void normalize(const float* x, int64_t n_rows, float* out) const;

  int obs_dim() const { return obs_dim_; }
  int n_members() const { return n_members_; }
  const NormalizerConfig& config() const { return cfg_; }
  size_t bytes() const { return stats_.bytes(); }

  // Host copies (these wait for the device); mean and var are (E, obs_dim).
  double count(int member = 0) const;
  std::vector<double> mean() const;
  std::vector<double> var() const;  // population variance, M2 / count (1 before any update)

  // Checkpoints: "count", "mean", "m2", each F64 (obs_dim), or (E, obs_dim)
  // with more than one member.
  std::vector<HostArray> to_host() const;
  // Restores what to_host gave; throws Error naming the array when one is
  // missing, of another dtype or shape, or holds impossible values.
  void from_host(const std::vector<HostArray>& arrays);

  // Device views: count, mean, m2, each (E, obs_dim) doubles.
  const double* count_data() const { return stats_.data(); }
  const double* mean_data() const { return stats_.data() + features(); }
  const double* m2_data() const { return stats_.data() + 2 * features(); }

 private:
  std::vector<double> stats_host() const;
  int64_t features() const { return static_cast<int64_t>(n_members_) * obs_dim_; }  // E obs_dim
  // Of the checkpoint arrays: (obs_dim) with one member, else (E, obs_dim).
  std::vector<int64_t> shape() const {
    return n_members_ == 1 ? std::vector<int64_t>{obs_dim_} : std::vector<int64_t>{n_members_, obs_dim_};
  }

  Device dev_;
  int obs_dim_;
  int n_members_;
  NormalizerConfig cfg_;
  Buffer<double> stats_;  // (3, E, obs_dim): count, mean, m2
};

// ---- shells -----------------------------------------------------------------------
namespace cpu_kernels {
void normalizer_update(const NormalizerUpdateArgs& a);
void normalize_obs(const NormalizeArgs& a);
}  // namespace cpu_kernels

namespace cuda_kernels {
void normalizer_update(const NormalizerUpdateArgs& a, void* stream);
void normalize_obs(const NormalizeArgs& a, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
