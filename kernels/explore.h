// explore.h: the randomness of acting and of the TD target: exploration noise
// on the policy's actions (Gaussian, with a per-env scale, or
// Ornstein-Uhlenbeck), uniform random actions for the warm-up, and TD3's
// target policy smoothing. Every op clips to the env's action box.
//
// Noise scales are RELATIVE TO THE ACTION HALF-RANGE h_d = (high_d - low_d) / 2
// of each action dimension: a sigma of 0.1 perturbs a pendulum torque in
// [-2, 2] by 0.2 N m. TD3's published settings (exploration 0.1, smoothing
// noise 0.2 clipped at 0.5) are for actions in [-1, 1], where h = 1; TD3's
// code multiplies them by max_action, which is the same thing here.
//
// Randomness: Philox keyed (seed, purpose, stream, counter), with
//   purpose kExploration (Gaussian, OU), kWarmup (uniform), kTargetSmoothing;
//   stream  = row * ceil(act_dim / 4) + d / 4 for action dimension d of row
//             `row` (an env, or a sample of the batch), word d % 4 of the draw;
//   counter = the env step (acting) or the update number (smoothing).
// So the Philox words of (row, d) at a step are the same bits on the CPU and
// the GPU and whatever the thread layout, and a resumed run draws what an
// uninterrupted one would. The noise made from them (Box-Muller's logf and
// sqrtf, the polynomial sine and cosine below) is the same bits on the CPU
// and under the emulation (one compiler, one libm); on a GPU, CUDA's logf
// and nvcc's contraction of multiply-adds into FMAs can move it by an ulp or
// two (docs/architecture.md, "What is bitwise"). (Only the OU state must be saved for that: it is the one piece of
// exploration that carries over between steps.)
//
// Clipping propagates NaN (comparisons, not fminf/fmaxf), so a policy that
// produced NaN is not silently turned into a bound.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/counter.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

// ---- element math (host + device) ---------------------------------------------

ACX_HD float clip_action(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// The Philox stream of action dimension d of row `row`.
ACX_HD uint32_t noise_stream(int64_t row, int act_dim, int d) {
  return static_cast<uint32_t>(row * ((act_dim + 3) / 4) + d / 4);
}

// sin and cos of 2 pi u for u in (0, 1), to about 1e-7. Why not sinf/cosf:
// their large-argument path (Payne-Hanek reduction) keeps a table in local
// memory, which our CUDA build rejects, although 2 pi u never takes it. Here
// the angle is split exactly into a quadrant centre (q + 1/2) pi/2 and a rest
// p in [-pi/4, pi/4), whose sin and cos are short Taylor polynomials
// (truncation below 2e-9), then rotated by the centre.
ACX_HD void sincos_two_pi(float u, float* s, float* c) {
  const float t = 4.0f * u;
  const int q = static_cast<int>(t);  // 0..3
  const float p = (t - static_cast<float>(q) - 0.5f) * 1.57079632679489662f;
  const float p2 = p * p;
  const float sp = p * (1.0f + p2 * (-1.0f / 6.0f + p2 * (1.0f / 120.0f + p2 * (-1.0f / 5040.0f + p2 * (1.0f / 362880.0f)))));
  const float cp =
      1.0f + p2 * (-0.5f + p2 * (1.0f / 24.0f + p2 * (-1.0f / 720.0f + p2 * (1.0f / 40320.0f + p2 * (-1.0f / 3628800.0f)))));
  const float h = 0.70710678118654752f;  // cos and sin of the centre are +-h
  const float c0 = (q == 0 || q == 3) ? h : -h;
  const float s0 = q < 2 ? h : -h;
  *c = c0 * cp - s0 * sp;
  *s = s0 * cp + c0 * sp;
}

// Box-Muller as in philox.h's normal2_from_bits (n0 = r cos 2 pi u1,
// n1 = r sin 2 pi u1, r = sqrt(-2 ln u0)), with the trig above.
ACX_HD void noise_box_muller(uint32_t b0, uint32_t b1, float* n0, float* n1) {
  const float r = sqrtf(-2.0f * logf(uniform_from_bits(b0)));
  float s, c;
  sincos_two_pi(uniform_from_bits(b1), &s, &c);
  *n0 = r * c;
  *n1 = r * s;
}

// Word d % 4 of the draw, as a standard normal: words (0, 1) and (2, 3) are
// Box-Muller pairs. Words are picked with constant indices so that a kernel
// keeps the draw in registers (a runtime index would spill it to local memory).
ACX_HD float noise_normal(uint64_t seed, RngPurpose purpose, int64_t row, int act_dim, int d, uint64_t counter) {
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(purpose), noise_stream(row, act_dim, d), counter);
  const int w = d % 4;
  float n0, n1;
  noise_box_muller(w < 2 ? r.v[0] : r.v[2], w < 2 ? r.v[1] : r.v[3], &n0, &n1);
  return (w & 1) ? n1 : n0;
}

// Word d % 4 of the draw, as a uniform in (0, 1).
ACX_HD float noise_uniform(uint64_t seed, RngPurpose purpose, int64_t row, int act_dim, int d, uint64_t counter) {
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(purpose), noise_stream(row, act_dim, d), counter);
  const int w = d % 4;
  return uniform_from_bits(w == 0 ? r.v[0] : (w == 1 ? r.v[1] : (w == 2 ? r.v[2] : r.v[3])));
}

// a = clip(mu + sigma_row h_d N(0, 1), low, high)
struct GaussianNoiseArgs {
  int64_t n_rows;
  int act_dim;
  const float* mu;     // (n_rows, act_dim) the policy's actions; may alias action
  const float* sigma;  // (n_rows) std relative to the half-range, per env
  const float* low;    // (act_dim)
  const float* high;   // (act_dim)
  uint64_t seed;
  DeviceCounter step;        // the vector step (kernels/counter.h)
  float* action;       // (n_rows, act_dim)
};

ACX_HD void gaussian_noise_at(const GaussianNoiseArgs& a, int64_t i) {
  const int64_t row = i / a.act_dim;
  const int d = static_cast<int>(i % a.act_dim);
  const float lo = a.low[d], hi = a.high[d];
  const float z = noise_normal(a.seed, RngPurpose::kExploration, row, a.act_dim, d, a.step.get());
  a.action[i] = clip_action(a.mu[i] + a.sigma[row] * (0.5f * (hi - lo)) * z, lo, hi);
}

// Ornstein-Uhlenbeck, Euler-Maruyama step, in half-range units:
//   x <- 0 where the row's last step ended its episode (terminated or truncated),
//   x <- x + theta (mean - x) dt + sigma_row sqrt(dt) N(0, 1),
//   a  = clip(mu + h_d x, low, high).
struct OuNoiseArgs {
  int64_t n_rows;
  int act_dim;
  float theta, mean, dt;
  const float* sigma;          // (n_rows)
  const uint8_t* terminated;   // (n_rows) of the step just taken; may be null
  const uint8_t* truncated;    // (n_rows) likewise
  const float* mu;             // (n_rows, act_dim); may alias action
  const float* low;            // (act_dim)
  const float* high;           // (act_dim)
  uint64_t seed;
  DeviceCounter step;        // the vector step (kernels/counter.h)
  float* state;                // (n_rows, act_dim) x, in/out
  float* action;               // (n_rows, act_dim)
};

ACX_HD void ou_noise_at(const OuNoiseArgs& a, int64_t i) {
  const int64_t row = i / a.act_dim;
  const int d = static_cast<int>(i % a.act_dim);
  const bool restart = (a.terminated && a.terminated[row]) || (a.truncated && a.truncated[row]);
  float x = restart ? 0.0f : a.state[i];
  const float z = noise_normal(a.seed, RngPurpose::kExploration, row, a.act_dim, d, a.step.get());
  x += a.theta * (a.mean - x) * a.dt + a.sigma[row] * sqrtf(a.dt) * z;
  a.state[i] = x;
  const float lo = a.low[d], hi = a.high[d];
  a.action[i] = clip_action(a.mu[i] + (0.5f * (hi - lo)) * x, lo, hi);
}

// Warm-up: a uniform in [low, high].
struct UniformActionArgs {
  int64_t n_rows;
  int act_dim;
  const float* low;   // (act_dim)
  const float* high;  // (act_dim)
  uint64_t seed;
  DeviceCounter step;        // the vector step (kernels/counter.h)
  float* action;      // (n_rows, act_dim)
};

ACX_HD void uniform_action_at(const UniformActionArgs& a, int64_t i) {
  const int64_t row = i / a.act_dim;
  const int d = static_cast<int>(i % a.act_dim);
  const float lo = a.low[d], hi = a.high[d];
  const float u = noise_uniform(a.seed, RngPurpose::kWarmup, row, a.act_dim, d, a.step.get());
  a.action[i] = clip_action(lo + (hi - lo) * u, lo, hi);
}

// TD3 target policy smoothing: a' = clip(mu'(s') + clip(sigma N(0, 1), -c, c) h_d, low, high).
struct SmoothingArgs {
  int64_t n_rows;      // batch rows
  int act_dim;
  float sigma;         // relative to the half-range
  float noise_clip;    // c, relative to the half-range
  const float* mu;     // (n_rows, act_dim) the target actor's actions; may alias action
  const float* low;    // (act_dim)
  const float* high;   // (act_dim)
  uint64_t seed;
  DeviceCounter update;  // the update number
  float* action;       // (n_rows, act_dim)
};

ACX_HD void smoothing_at(const SmoothingArgs& a, int64_t i) {
  const int64_t row = i / a.act_dim;
  const int d = static_cast<int>(i % a.act_dim);
  const float lo = a.low[d], hi = a.high[d];
  const float z = noise_normal(a.seed, RngPurpose::kTargetSmoothing, row, a.act_dim, d, a.update.get());
  const float eps = clip_action(a.sigma * z, -a.noise_clip, a.noise_clip);
  a.action[i] = clip_action(a.mu[i] + eps * (0.5f * (hi - lo)), lo, hi);
}

// Per-env exploration scales redrawn when that env's episode ends (the
// many-env recipe; FastTD3 draws each env's scale from a range at its
// reset): where row r's last step terminated or truncated its episode,
//   sigma[r] = lo * (hi_k / lo)^u,   u ~ U(0, 1) keyed by (seed, r, step),
// log-uniform in [lo, hi_k] like the initial spread, hi_k = sigma_hi[r / n_envs].
struct RedrawSigmaArgs {
  int64_t n_rows;            // K * N
  int64_t n_envs;            // N: row r belongs to agent r / N
  float lo;                  // explore.sigma_min
  const float* sigma_hi;     // (K) each agent's explore.sigma
  const uint8_t* terminated; // (n_rows), or null
  const uint8_t* truncated;  // (n_rows), or null
  uint64_t seed;
  DeviceCounter step;        // the vector step that just ended the episodes
  float* sigma;              // (n_rows)
};

ACX_HD void redraw_sigma_at(const RedrawSigmaArgs& a, int64_t r) {
  const bool done = (a.terminated && a.terminated[r]) || (a.truncated && a.truncated[r]);
  if (!done) return;
  const float hi = a.sigma_hi[r / a.n_envs];
  const float u = noise_uniform(a.seed, RngPurpose::kExploreScale, r, 1, 0, a.step.get());
  a.sigma[r] = a.lo * expf(u * logf(hi / a.lo));
}

// ---- host side -----------------------------------------------------------------------

// An env's action box on the device, checked once: finite, low < high.
class ActionBox {
 public:
  ActionBox() = default;
  // Throws UsageError for empty, mismatched, non-finite or empty-interval bounds.
  ActionBox(const Device& dev, const std::vector<float>& low, const std::vector<float>& high);
  int act_dim() const { return act_dim_; }
  const float* low() const { return low_.data(); }    // (act_dim), device
  const float* high() const { return high_.data(); }  // (act_dim), device
  const std::vector<float>& low_host() const { return low_host_; }
  const std::vector<float>& high_host() const { return high_host_; }

 private:
  int act_dim_ = 0;
  Buffer<float> low_, high_;
  std::vector<float> low_host_, high_host_;
};

// OpenAI baselines' OrnsteinUhlenbeckActionNoise defaults.
struct OuConfig {
  float theta = 0.15f;
  float mean = 0.0f;
  float dt = 1e-2f;
};

// n_envs scales spread log-uniformly (geometrically) from sigma_min (env 0) to
// sigma_max (env n-1), deterministic: "per-env exploration scale", as in
// Ape-X's per-actor epsilons. n_envs = 1 gives sigma_min.
std::vector<float> log_uniform_sigmas(int64_t n_envs, float sigma_min, float sigma_max);

namespace ops {
// Every op: rows (n_rows, act_dim) device arrays; low, high (act_dim) on the
// device (an ActionBox's low(), high()); mu may alias action.

// action = clip(mu + sigma[row] h N(0, 1), low, high); sigma (n_rows) on the device.
void gaussian_explore(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low,
                      const float* high, const float* sigma, uint64_t seed, DeviceCounter step, float* action);
// One OU step per row (state (n_rows, act_dim); zero it to start), restarting
// rows whose terminated or truncated flag (n_rows, of the step just taken;
// either may be null) is set, then action = clip(mu + h x, low, high).
void ou_explore(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low, const float* high,
                const OuConfig& cfg, const float* sigma, const uint8_t* terminated, const uint8_t* truncated,
                uint64_t seed, DeviceCounter step, float* state, float* action);
// Warm-up actions, uniform in [low, high].
void uniform_actions(const Device& dev, int64_t n_rows, int act_dim, const float* low, const float* high,
                     uint64_t seed, DeviceCounter step, float* action);
// Redraws sigma[r] for the rows whose episode just ended (RedrawSigmaArgs).
void redraw_sigma(const Device& dev, const RedrawSigmaArgs& a);
// TD3's smoothed target actions a' = clip(mu + clip(sigma N, -c, c) h, low, high).
void smooth_target_actions(const Device& dev, int64_t n_rows, int act_dim, const float* mu, const float* low,
                           const float* high, float sigma, float noise_clip, uint64_t seed, DeviceCounter update,
                           float* action);
}  // namespace ops

// ---- shells -----------------------------------------------------------------------
namespace cpu_kernels {
void explore_gaussian(const GaussianNoiseArgs& a);
void explore_ou(const OuNoiseArgs& a);
void explore_uniform(const UniformActionArgs& a);
void explore_smoothing(const SmoothingArgs& a);
void redraw_sigma(const RedrawSigmaArgs& a);
}  // namespace cpu_kernels

namespace cuda_kernels {
void explore_gaussian(const GaussianNoiseArgs& a, void* stream);
void explore_ou(const OuNoiseArgs& a, void* stream);
void explore_uniform(const UniformActionArgs& a, void* stream);
void explore_smoothing(const SmoothingArgs& a, void* stream);
void redraw_sigma(const RedrawSigmaArgs& a, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
