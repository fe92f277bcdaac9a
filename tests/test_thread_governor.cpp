// The thread governor against simulated machines: iteration costs per thread
// count, quiet, busy, changing during the run. It must settle on the fastest
// count, follow the machine when it changes, and cost little while probing.
#include <gtest/gtest.h>

#include <functional>

#include "host/learn/thread_governor.h"

namespace acx {
namespace {

struct Simulation {
  double total_s = 0;      // time the iterations took
  double ideal_s = 0;      // time at the best count for each iteration
  int applied = 0;         // the count the governor set last
  long long at_best = 0;   // iterations run at the best count
  long long iterations = 0;
};

// Runs `n` iterations; cost(t, i) is iteration i's seconds at t threads.
Simulation simulate(int max_threads, long long n, const std::function<double(int, long long)>& cost,
                    ThreadGovernor** out = nullptr) {
  Simulation s;
  ThreadGovernor g(max_threads, [&](int t) { s.applied = t; });
  if (out) *out = nullptr;
  for (long long i = 0; i < n; ++i) {
    double best = cost(1, i);
    int best_t = 1;
    for (int t = 2; t <= max_threads; ++t) {
      if (cost(t, i) < best) best = cost(t, i), best_t = t;
    }
    const double c = cost(s.applied, i);
    s.total_s += c;
    s.ideal_s += best;
    s.at_best += s.applied == best_t;
    ++s.iterations;
    g.record(c);
  }
  return s;
}

TEST(ThreadGovernor, KeepsAllThreadsOnAQuietMachine) {
  const Simulation s = simulate(2, 20000, [](int t, long long) { return t == 2 ? 1.0e-3 : 1.6e-3; });
  EXPECT_EQ(s.applied, 2);
  EXPECT_GT(static_cast<double>(s.at_best) / s.iterations, 0.9);
  EXPECT_LT(s.total_s / s.ideal_s, 1.05) << "probing one thread costs more than 5%";
}

// Two spinning threads beside another job: 30x slower than one thread.
TEST(ThreadGovernor, DropsToOneThreadWhenTheCoresAreBusy) {
  const Simulation s = simulate(2, 20000, [](int t, long long) { return t == 2 ? 45e-3 : 1.5e-3; });
  EXPECT_EQ(s.applied, 1);
  EXPECT_LT(s.total_s / s.ideal_s, 1.15) << "probes of the bad count must be cut short";
}

// Cheap warm-up iterations first (no updates), then the expensive ones; a
// job beside this one from iteration 8000 to 14000.
TEST(ThreadGovernor, FollowsTheMachineWhenItChanges) {
  const auto cost = [](int t, long long i) {
    const double work = i < 250 ? 0.1e-3 : 1.0e-3;
    const bool busy = i >= 8000 && i < 14000;
    if (busy) return t == 2 ? 30 * work : 1.5 * work;
    return t == 2 ? work : 1.6 * work;
  };
  const Simulation s = simulate(2, 30000, cost);
  EXPECT_EQ(s.applied, 2) << "back to two threads once the machine is quiet again";
  EXPECT_LT(s.total_s / s.ideal_s, 1.25);
}

TEST(ThreadGovernor, FindsTheBestCountAmongMany) {
  // Fastest at 4 of 16 threads (say, 4 cores free).
  const auto cost = [](int t, long long) { return t <= 4 ? 4.0 / t * 1e-3 : (1.0 + 0.5 * (t - 4)) * 1e-3; };
  const Simulation s = simulate(16, 40000, cost);
  EXPECT_EQ(s.applied, 4);
}

TEST(ThreadGovernor, OneThreadIsLeftAlone) {
  int calls = 0, last = 0;
  ThreadGovernor g(1, [&](int t) { ++calls, last = t; });
  for (int i = 0; i < 1000; ++i) g.record(1e-3);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last, 1);
  EXPECT_EQ(g.threads(), 1);
  EXPECT_NE(g.summary().find("1 thread 100%"), std::string::npos) << g.summary();
}

}  // namespace
}  // namespace acx
