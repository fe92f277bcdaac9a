// normalizer.cpp: the running observation statistics' host side: checks,
// dispatch to the CPU or CUDA shell, host copies and checkpoints.
#include "kernels/normalizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"

namespace acx {

RunningNormalizer::RunningNormalizer(const Device& dev, int obs_dim, const NormalizerConfig& cfg, int n_members)
    : dev_(dev), obs_dim_(obs_dim), n_members_(n_members), cfg_(cfg) {
  ACX_USAGE_CHECK(obs_dim >= 1, "observation normalizer: obs_dim must be >= 1, got " + std::to_string(obs_dim));
  ACX_USAGE_CHECK(n_members >= 1 && static_cast<int64_t>(n_members) * obs_dim <= (1 << 30),
                  "observation normalizer: members must be >= 1, got " + std::to_string(n_members));
  ACX_USAGE_CHECK(cfg.eps >= 0 && std::isfinite(cfg.eps), "observation normalizer: eps must be >= 0");
  ACX_USAGE_CHECK(cfg.clip > 0, "observation normalizer: clip must be > 0, got " + std::to_string(cfg.clip));
  stats_ = Buffer<double>(dev, 3 * static_cast<size_t>(features()));
  stats_.zero();
}

void RunningNormalizer::update(const float* x, int64_t n_rows) {
  ACX_CHECK(n_rows >= 0, "negative row count");
  if (n_rows == 0) return;
  NormalizerUpdateArgs a{n_rows, obs_dim_, n_members_, x, stats_.data(), stats_.data() + features(),
                         stats_.data() + 2 * features()};
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::normalizer_update(a, dev_.stream()));
  } else {
    cpu_kernels::normalizer_update(a);
  }
}

void RunningNormalizer::normalize(const float* x, int64_t n_rows, float* out) const {
  ACX_CHECK(n_rows >= 0, "negative row count");
  NormalizeArgs a{n_rows, obs_dim_, n_members_, count_data(), mean_data(), m2_data(), cfg_.eps, cfg_.clip, x, out};
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::normalize_obs(a, dev_.stream()));
  } else {
    cpu_kernels::normalize_obs(a);
  }
}

std::vector<double> RunningNormalizer::stats_host() const { return stats_.to_host(); }

double RunningNormalizer::count(int member) const {
  ACX_CHECK(member >= 0 && member < n_members_, "normalizer member out of range");
  return stats_host()[static_cast<size_t>(member) * obs_dim_];
}

std::vector<double> RunningNormalizer::mean() const {
  const auto s = stats_host();
  return std::vector<double>(s.begin() + features(), s.begin() + 2 * features());
}

std::vector<double> RunningNormalizer::var() const {
  const auto s = stats_host();
  const int64_t f = features();
  std::vector<double> v(static_cast<size_t>(f));
  for (int64_t d = 0; d < f; ++d) v[d] = s[d] > 0 ? s[2 * f + d] / s[d] : 1.0;
  return v;
}

std::vector<HostArray> RunningNormalizer::to_host() const {
  const auto s = stats_host();
  const char* names[3] = {"count", "mean", "m2"};
  std::vector<HostArray> out;
  const int64_t f = features();
  for (int k = 0; k < 3; ++k) {
    HostArray h{names[k], "F64", shape(), std::vector<uint8_t>(f * sizeof(double))};
    std::memcpy(h.bytes.data(), s.data() + k * f, h.bytes.size());
    out.push_back(std::move(h));
  }
  return out;
}

void RunningNormalizer::from_host(const std::vector<HostArray>& arrays) {
  const char* names[3] = {"count", "mean", "m2"};
  const int64_t f = features();
  std::vector<double> s(3 * static_cast<size_t>(f));
  std::string want;
  for (int64_t x : shape()) want += (want.empty() ? "" : ", ") + std::to_string(x);
  for (int k = 0; k < 3; ++k) {
    const std::string name = names[k];
    auto it = std::find_if(arrays.begin(), arrays.end(), [&](const HostArray& h) { return h.name == name; });
    if (it == arrays.end()) throw Error("observation normalizer checkpoint: array '" + name + "' is missing");
    if (it->dtype != "F64" || it->shape != shape() || it->bytes.size() != f * sizeof(double)) {
      throw Error("observation normalizer checkpoint: array '" + name + "' must be F64 (" + want + "), got " +
                  it->dtype + " of " + std::to_string(it->bytes.size()) + " bytes");
    }
    std::memcpy(s.data() + k * f, it->bytes.data(), it->bytes.size());
  }
  for (int64_t d = 0; d < f; ++d) {
    const double n = s[d], m = s[f + d], m2 = s[2 * f + d];
    const double member_count = s[(d / obs_dim_) * obs_dim_];
    if (!(n >= 0) || n != member_count || !std::isfinite(n) || !std::isfinite(m) || !(m2 >= 0) || !std::isfinite(m2)) {
      throw Error("observation normalizer checkpoint: impossible statistics for feature " +
                  std::to_string(d % obs_dim_) +
                  (n_members_ > 1 ? " of member " + std::to_string(d / obs_dim_) : std::string()) + " (count " +
                  std::to_string(n) + ", mean " + std::to_string(m) + ", m2 " + std::to_string(m2) + ")");
    }
  }
  stats_.copy_from_host(s.data(), s.size());
}

}  // namespace acx
