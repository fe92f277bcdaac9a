// thread_governor.h: the CPU thread count a run uses when the user left it
// to acx (run.threads = 0), chosen by measuring, while training, how fast
// iterations go with each count.
//
// Why measure: on a machine it shares, a 2-thread run whose OpenMP threads
// wait for a core that another job holds runs slower than with one thread,
// by up to 34x measured here (pendulum, 2 cores, a 2-thread BLAS job beside
// it: 21 env steps/s with 2 threads, 451 with 1; docs/results.md). No
// setting is right for both a quiet and a busy machine, and the load changes
// during a run, so the governor keeps measuring: it times windows of
// iterations at the current count, and every `probe_every_s` (or at once
// when a window runs `slowdown_trigger` times slower than the last one
// measured: a job started beside this one, or the updates began) it times a
// window at a neighbouring count (half or double, within [1, max]) and keeps
// whichever was faster by more than `switch_margin`. A probe window that is already twice as slow as the
// one before it is cut short, so probing a bad count costs little. Results
// do not depend on the thread count (every kernel's arithmetic is fixed by
// its sizes, not by its threads), so switching never changes a number.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace acx {

struct ThreadGovernorOptions {
  double window_s = 0.25;     // a measurement window, at least this long...
  int window_min_iters = 4;   // ... and this many iterations
  double probe_every_s = 8.0;  // time between probes (the first after one window)
  double switch_margin = 0.1;  // a probe must be this much faster to win
  double slowdown_trigger = 1.5;  // a window this much slower than the last measured one probes at once
};

class ThreadGovernor {
 public:
  // `apply(n)` sets n threads (Device::set_cpu_threads). max_threads >= 1.
  ThreadGovernor(int max_threads, std::function<void(int)> apply, ThreadGovernorOptions options = {});

  // Reports that one iteration took `seconds` at threads(); may change threads().
  void record(double seconds);

  int threads() const { return current_; }
  // How the run spent its iterations, e.g. "2 threads 12%, 1 thread 88% of iterations; 6 switches".
  std::string summary() const;

 private:
  enum class Phase { kMeasure, kProbe, kSettled };
  void start_window();
  void start_probe(double current_per_iter);
  void set(int n);

  int max_threads_;
  std::function<void(int)> apply_;
  ThreadGovernorOptions opt_;
  int current_, probe_ = 0, switches_ = 0;
  Phase phase_ = Phase::kMeasure;
  double window_time_ = 0, settled_time_ = 0;
  int window_iters_ = 0;
  double current_per_iter_ = 0;  // the last window at the current count, seconds per iteration
  bool probe_down_next_ = true;  // alternate between half and double
  std::vector<long long> iters_at_;  // iterations run at each count (index = threads)
};

}  // namespace acx
