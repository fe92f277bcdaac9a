// explore.cpp: the exploration and smoothing ops, dispatched to the CPU or
// CUDA shell, and the host-side helpers (the action box, per-env scales).
#include "kernels/explore.h"

#include <cmath>
#include <string>

#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

// The Philox stream index of the last element must fit in 32 bits.
void check_rows(int64_t n_rows, int act_dim) {
  ACX_CHECK(n_rows >= 0, "negative row count");
  ACX_CHECK(act_dim >= 1, "act_dim must be >= 1");
  ACX_CHECK(n_rows * ((act_dim + 3) / 4) <= (int64_t{1} << 32),
            "more than 2^32 noise streams (" + std::to_string(n_rows) + " rows)");
}

}  // namespace

ActionBox::ActionBox(const Device& dev, const std::vector<float>& low, const std::vector<float>& high)
    : act_dim_(static_cast<int>(low.size())), low_host_(low), high_host_(high) {
  ACX_USAGE_CHECK(!low.empty() && low.size() == high.size(),
                  "action bounds: low has " + std::to_string(low.size()) + " entries, high " +
                      std::to_string(high.size()));
  for (size_t d = 0; d < low.size(); ++d) {
    ACX_USAGE_CHECK(std::isfinite(low[d]) && std::isfinite(high[d]) && low[d] < high[d],
                    "action bounds of dimension " + std::to_string(d) + " must be finite with low < high, got [" +
                        std::to_string(low[d]) + ", " + std::to_string(high[d]) + "]");
  }
  low_ = Buffer<float>::from_host(dev, low);
  high_ = Buffer<float>::from_host(dev, high);
}

std::vector<float> log_uniform_sigmas(int64_t n_envs, float sigma_min, float sigma_max) {
  ACX_USAGE_CHECK(n_envs >= 1, "per-env sigmas need n_envs >= 1");
  ACX_USAGE_CHECK(sigma_min > 0 && sigma_max >= sigma_min,
                  "per-env sigmas need 0 < sigma_min <= sigma_max, got " + std::to_string(sigma_min) + " and " +
                      std::to_string(sigma_max));
  std::vector<float> s(static_cast<size_t>(n_envs));
  const double l0 = std::log(static_cast<double>(sigma_min)), l1 = std::log(static_cast<double>(sigma_max));
  for (int64_t i = 0; i < n_envs; ++i) {
    const double t = n_envs == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n_envs - 1);
    s[static_cast<size_t>(i)] = static_cast<float>(std::exp(l0 + (l1 - l0) * t));
  }
  return s;
}

namespace ops {

void gaussian_explore(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low,
                      const float* high, const float* sigma, uint64_t seed, DeviceCounter step, float* action) {
  check_rows(n_rows, act_dim);
  GaussianNoiseArgs a{n_rows, act_dim, mu, sigma, low, high, seed, step, action};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::explore_gaussian(a, dev.stream()));
  } else {
    cpu_kernels::explore_gaussian(a);
  }
}

void redraw_sigma(const Device& dev, const RedrawSigmaArgs& a) {
  ACX_CHECK(a.n_rows >= 0 && a.n_envs >= 1 && a.n_rows % a.n_envs == 0, "redraw_sigma: rows must be whole agents");
  ACX_USAGE_CHECK(a.lo > 0.0f, "redraw_sigma: the lowest scale must be positive");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::redraw_sigma(a, dev.stream()));
  } else {
    cpu_kernels::redraw_sigma(a);
  }
}

void ou_explore(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low, const float* high,
                const OuConfig& cfg, const float* sigma, const uint8_t* terminated, const uint8_t* truncated,
                uint64_t seed, DeviceCounter step, float* state, float* action) {
  check_rows(n_rows, act_dim);
  ACX_USAGE_CHECK(cfg.theta >= 0 && cfg.dt > 0, "OU noise needs theta >= 0 and dt > 0");
  OuNoiseArgs a{n_rows, act_dim, cfg.theta, cfg.mean, cfg.dt, sigma, terminated, truncated,
                mu,     low,     high,      seed,     step,   state, action};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::explore_ou(a, dev.stream()));
  } else {
    cpu_kernels::explore_ou(a);
  }
}

void uniform_actions(const Device& dev, int64_t n_rows, int act_dim, const float* low, const float* high,
                     uint64_t seed, DeviceCounter step, float* action) {
  check_rows(n_rows, act_dim);
  UniformActionArgs a{n_rows, act_dim, low, high, seed, step, action};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::explore_uniform(a, dev.stream()));
  } else {
    cpu_kernels::explore_uniform(a);
  }
}

void smooth_target_actions(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low,
                           const float* high, float sigma, float noise_clip, uint64_t seed, DeviceCounter update,
                           float* action) {
  check_rows(n_rows, act_dim);
  ACX_USAGE_CHECK(sigma >= 0 && noise_clip >= 0, "target smoothing needs sigma >= 0 and noise_clip >= 0");
  SmoothingArgs a{n_rows, act_dim, sigma, noise_clip, mu, low, high, seed, update, action};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::explore_smoothing(a, dev.stream()));
  } else {
    cpu_kernels::explore_smoothing(a);
  }
}

}  // namespace ops
}  // namespace acx
