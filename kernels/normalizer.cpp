// normalizer.cpp: the running observation statistics' host side: checks,
// dispatch to the CPU or CUDA shell, host copies and checkpoints.
#include "kernels/normalizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "host/dispatch.h"
#include "host/error.h"

namespace acx {

RunningNormalizer::RunningNormalizer(const Device& dev, int obs_dim, const NormalizerConfig& cfg)
    : dev_(dev), obs_dim_(obs_dim), cfg_(cfg) {
  ACX_USAGE_CHECK(obs_dim >= 1, "observation normalizer: obs_dim must be >= 1, got " + std::to_string(obs_dim));
  ACX_USAGE_CHECK(cfg.eps >= 0 && std::isfinite(cfg.eps), "observation normalizer: eps must be >= 0");
  ACX_USAGE_CHECK(cfg.clip > 0, "observation normalizer: clip must be > 0, got " + std::to_string(cfg.clip));
  stats_ = Buffer<double>(dev, 3 * static_cast<size_t>(obs_dim));
  stats_.zero();
}

void RunningNormalizer::update(const float* x, int64_t n_rows) {
  ACX_CHECK(n_rows >= 0, "negative row count");
  if (n_rows == 0) return;
  NormalizerUpdateArgs a{n_rows, obs_dim_, x, stats_.data(), stats_.data() + obs_dim_,
                         stats_.data() + 2 * static_cast<int64_t>(obs_dim_)};
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::normalizer_update(a, dev_.stream()));
  } else {
    cpu_kernels::normalizer_update(a);
  }
}

void RunningNormalizer::normalize(const float* x, int64_t n_rows, float* out) const {
  ACX_CHECK(n_rows >= 0, "negative row count");
  NormalizeArgs a{n_rows, obs_dim_, count_data(), mean_data(), m2_data(), cfg_.eps, cfg_.clip, x, out};
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::normalize_obs(a, dev_.stream()));
  } else {
    cpu_kernels::normalize_obs(a);
  }
}

std::vector<double> RunningNormalizer::stats_host() const { return stats_.to_host(); }

double RunningNormalizer::count() const { return stats_host()[0]; }

std::vector<double> RunningNormalizer::mean() const {
  const auto s = stats_host();
  return std::vector<double>(s.begin() + obs_dim_, s.begin() + 2 * obs_dim_);
}

std::vector<double> RunningNormalizer::var() const {
  const auto s = stats_host();
  std::vector<double> v(static_cast<size_t>(obs_dim_));
  for (int d = 0; d < obs_dim_; ++d) v[d] = s[d] > 0 ? s[2 * obs_dim_ + d] / s[d] : 1.0;
  return v;
}

std::vector<HostArray> RunningNormalizer::to_host() const {
  const auto s = stats_host();
  const char* names[3] = {"count", "mean", "m2"};
  std::vector<HostArray> out;
  for (int k = 0; k < 3; ++k) {
    HostArray h{names[k], "F64", {obs_dim_}, std::vector<uint8_t>(obs_dim_ * sizeof(double))};
    std::memcpy(h.bytes.data(), s.data() + k * obs_dim_, h.bytes.size());
    out.push_back(std::move(h));
  }
  return out;
}

void RunningNormalizer::from_host(const std::vector<HostArray>& arrays) {
  const char* names[3] = {"count", "mean", "m2"};
  std::vector<double> s(3 * static_cast<size_t>(obs_dim_));
  for (int k = 0; k < 3; ++k) {
    const std::string name = names[k];
    auto it = std::find_if(arrays.begin(), arrays.end(), [&](const HostArray& h) { return h.name == name; });
    if (it == arrays.end()) throw Error("observation normalizer checkpoint: array '" + name + "' is missing");
    if (it->dtype != "F64" || it->shape != std::vector<int64_t>{obs_dim_} ||
        it->bytes.size() != obs_dim_ * sizeof(double)) {
      throw Error("observation normalizer checkpoint: array '" + name + "' must be F64 (" + std::to_string(obs_dim_) +
                  "), got " + it->dtype + " of " + std::to_string(it->bytes.size()) + " bytes");
    }
    std::memcpy(s.data() + k * obs_dim_, it->bytes.data(), it->bytes.size());
  }
  for (int d = 0; d < obs_dim_; ++d) {
    const double n = s[d], m = s[obs_dim_ + d], m2 = s[2 * obs_dim_ + d];
    if (!(n >= 0) || n != s[0] || !std::isfinite(n) || !std::isfinite(m) || !(m2 >= 0) || !std::isfinite(m2)) {
      throw Error("observation normalizer checkpoint: impossible statistics for feature " + std::to_string(d) +
                  " (count " + std::to_string(n) + ", mean " + std::to_string(m) + ", m2 " + std::to_string(m2) + ")");
    }
  }
  stats_.copy_from_host(s.data(), s.size());
}

}  // namespace acx
