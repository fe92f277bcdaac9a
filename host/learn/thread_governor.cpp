// thread_governor.cpp: see thread_governor.h.
#include "host/learn/thread_governor.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/runtime/error.h"

namespace acx {

ThreadGovernor::ThreadGovernor(int max_threads, std::function<void(int)> apply, ThreadGovernorOptions options)
    : max_threads_(max_threads), apply_(std::move(apply)), opt_(options), current_(max_threads) {
  ACX_CHECK(max_threads >= 1, "the thread governor needs at least one thread");
  iters_at_.assign(static_cast<size_t>(max_threads) + 1, 0);
  phase_ = max_threads > 1 ? Phase::kMeasure : Phase::kSettled;
  set(current_);
}

void ThreadGovernor::set(int n) {
  if (apply_) apply_(n);
}

void ThreadGovernor::start_window() {
  window_time_ = 0;
  window_iters_ = 0;
}

void ThreadGovernor::start_probe(double current_per_iter) {
  current_per_iter_ = current_per_iter;
  // The neighbour to try: half or double, alternating, within [1, max].
  const int down = std::max(1, current_ / 2), up = std::min(max_threads_, current_ * 2);
  probe_ = current_ == 1 ? up : current_ == max_threads_ ? down : probe_down_next_ ? down : up;
  probe_down_next_ = !probe_down_next_;
  phase_ = Phase::kProbe;
  start_window();
  set(probe_);
}

void ThreadGovernor::record(double seconds) {
  const int running = phase_ == Phase::kProbe ? probe_ : current_;
  ++iters_at_[static_cast<size_t>(running)];
  if (max_threads_ == 1) return;
  window_time_ += seconds;
  ++window_iters_;
  const bool full = window_time_ >= opt_.window_s && window_iters_ >= opt_.window_min_iters;
  const double per_iter = window_time_ / window_iters_;
  switch (phase_) {
    case Phase::kMeasure:
      if (full) start_probe(per_iter);
      return;
    case Phase::kProbe: {
      // Cut short a probe that is already clearly worse: a bad count can be
      // many times slower, and its whole window would cost that much.
      const bool clearly_worse = per_iter > 2 * current_per_iter_ && window_time_ >= opt_.window_s / 4;
      if (!full && !clearly_worse) return;
      if (per_iter < (1 - opt_.switch_margin) * current_per_iter_) {
        current_ = probe_;
        ++switches_;
      } else {
        set(current_);
      }
      phase_ = Phase::kSettled;
      settled_time_ = 0;
      start_window();
      return;
    }
    case Phase::kSettled:
      settled_time_ += seconds;
      if (!full) return;
      // Probe on schedule, or at once when iterations got much slower (a
      // job started beside this one, or the work changed: the first
      // updates after the warm-up).
      if (settled_time_ >= opt_.probe_every_s || per_iter > opt_.slowdown_trigger * current_per_iter_) {
        start_probe(per_iter);
      } else {
        start_window();
      }
      return;
  }
}

std::string ThreadGovernor::summary() const {
  long long total = 0;
  for (long long n : iters_at_) total += n;
  std::string out;
  for (int t = max_threads_; t >= 1; --t) {
    const long long n = iters_at_[static_cast<size_t>(t)];
    if (n == 0) continue;
    out += fmt::format("{}{} thread{} {:.0f}%", out.empty() ? "" : ", ", t, t == 1 ? "" : "s",
                       total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
  }
  return out + fmt::format(" of iterations; {} switch{}", switches_, switches_ == 1 ? "" : "es");
}

}  // namespace acx
