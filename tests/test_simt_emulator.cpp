// test_simt_emulator.cpp: the SIMT emulator (kernels/runtime/simt_emu.h) checked
// against what a GPU does: reductions against float64 references, exact
// shuffle and vote semantics, atomics, shared memory, scheduling, the cost
// model, and planted bugs that must be caught (an out-of-bounds write, a
// missing barrier, a wrong shuffle offset, a barrier in divergent code, a warp
// op with a lane missing) and reported, not hung.
//
// The kernels live in tests/simt_selftest_kernels.cu (compiled under the
// emulation); this file is ordinary host code and sees only their launchers.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/runtime/simt_emu.h"
#include "tests/simt_selftest_kernels.h"

namespace acx::simt_selftest {
namespace {

using ::acx::simt::EmulationError;
using ::acx::simt::GuardedBuffer;
using ::acx::simt::Schedule;
using ::acx::simt::ScopedSchedule;

const Schedule kAllSchedules[] = {Schedule::kForward, Schedule::kReverse, Schedule::kShuffle};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// The message of the EmulationError that `f` throws, or a failure.
template <typename F>
std::string emulation_error_of(F&& f) {
  try {
    f();
  } catch (const EmulationError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected acx::simt::EmulationError, nothing was thrown";
  return {};
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not found in: " << text;
}

// float64 reference, sharing nothing with the kernels.
double sum64(const std::vector<float>& x, size_t first, size_t count) {
  double s = 0;
  for (size_t i = first; i < first + count && i < x.size(); ++i) s += x[i];
  return s;
}

// ---- reductions -------------------------------------------------------------------
struct BlockSumCase {
  int64_t n;
  int block;
  unsigned max_blocks;
};

class BlockSum : public ::testing::TestWithParam<BlockSumCase> {};

TEST_P(BlockSum, MatchesFloat64ReferenceInEveryScheduleOrder) {
  const BlockSumCase c = GetParam();
  const std::vector<float> x = random_floats(static_cast<size_t>(c.n), 11);
  const double ref = sum64(x, 0, x.size());
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 7);
    GuardedBuffer<float> xs(x, "x");
    GuardedBuffer<float> sums(c.max_blocks, "block_sums");
    const unsigned grid = block_sum(xs.data(), c.n, c.block, c.max_blocks, sums.data());
    double got = 0;
    for (unsigned b = 0; b < grid; ++b) got += sums[b];
    EXPECT_NEAR(got, ref, 1e-5 * std::sqrt(static_cast<double>(c.n)) + 1e-6)
        << "schedule " << ::acx::simt::schedule_name(s) << ", n " << c.n << ", block " << c.block << ", grid " << grid;
    EXPECT_GT(std::fabs(ref), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, BlockSum,
                         ::testing::Values(BlockSumCase{1, 64, 1},            // one element
                                           BlockSumCase{1000, 1024, 1},       // one block, n not a multiple
                                           BlockSumCase{5000, 256, 65535},    // many blocks
                                           BlockSumCase{100003, 256, 7},      // grid-stride loop
                                           BlockSumCase{4096, 64, 3}));

TEST(BlockSumPerBlock, EachBlockSumMatches) {
  const int n = 3000;
  const std::vector<float> x = random_floats(n, 12);
  GuardedBuffer<float> xs(x, "x"), sums(12, "block_sums");
  const unsigned grid = block_sum(xs.data(), n, 256, 65535, sums.data());
  ASSERT_EQ(grid, 12u);
  for (unsigned b = 0; b < grid; ++b) EXPECT_NEAR(sums[b], sum64(x, b * 256u, 256), 1e-4) << "block " << b;
}

TEST(WarpReduce, ShflDownMatchesFloat64Reference) {
  const int n = 32 * 20;
  const std::vector<float> x = random_floats(n, 21);
  GuardedBuffer<float> xs(x, "x"), sums(n / 32, "warp_sums");
  warp_sum_down(xs.data(), n, sums.data());
  for (int w = 0; w < n / 32; ++w) EXPECT_NEAR(sums[w], sum64(x, w * 32u, 32), 1e-5) << "warp " << w;
}

TEST(WarpReduce, ShflXorGivesEveryLaneTheTotal) {
  const int n = 96 * 3;  // blocks of 96: three warps each
  const std::vector<float> x = random_floats(n, 22);
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 3);
    GuardedBuffer<float> xs(x, "x"), out(n, "out");
    warp_sum_xor(xs.data(), n, out.data());
    for (int i = 0; i < n; ++i) {
      ASSERT_NEAR(out[i], sum64(x, i / 32 * 32u, 32), 1e-5) << "element " << i << ", " << ::acx::simt::schedule_name(s);
    }
  }
}

// ---- shuffle semantics, lane by lane ------------------------------------------------------
// The expected source lane, written from the CUDA programming guide's prose
// rather than from PTX's formula (which the emulator uses).
int expected_source(int kind, int lane, int p, int width) {
  const int seg = lane / width * width;  // first lane of the lane's segment
  switch (kind) {
    case 0: return seg + ((p % width) + width) % width;                                  // srcLane mod width
    case 1: return (lane - seg) >= (p % 32) ? lane - (p % 32) : lane;                    // up: stays if it would leave the segment
    case 2: return (lane - seg) + (p % 32) < width ? lane + (p % 32) : lane;             // down: likewise
    default: return ((lane ^ (p % 32)) / width * width) > seg ? lane : (lane ^ (p % 32));  // xor: later segments give own value
  }
}

TEST(Shuffle, EveryKindWidthAndOffsetMatchesCudaSemantics) {
  const int widths[] = {32, 16, 8, 4, 2, 1};
  int checked = 0;
  for (int kind = 0; kind < 4; ++kind) {
    for (int width : widths) {
      for (int p : {0, 1, 2, 3, 5, 8, 13, 16, 31, 33, -1}) {
        if (kind != 0 && p < 0) continue;  // deltas are unsigned; xor masks use the low 5 bits
        std::vector<int> param(32, p);
        if (kind == 0) {  // per-lane source lanes too
          for (int l = 0; l < 32; ++l) param[l] = (p == 13) ? (l * 7 + 3) % 40 : p;
        }
        std::vector<int> got_i(32);
        std::vector<double> got_d(32);
        shuffle_probe(kind, param.data(), width, got_i.data(), got_d.data());
        for (int l = 0; l < 32; ++l) {
          const int src = expected_source(kind, l, param[l], width);
          ASSERT_EQ(got_i[l], 1000 + src) << "kind " << kind << " width " << width << " param " << param[l] << " lane " << l;
          ASSERT_EQ(got_d[l], 1000.0 + src) << "double, kind " << kind << " width " << width << " lane " << l;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 4000);
}

TEST(Shuffle, HandCheckedCases) {
  std::vector<int> param(32, 1), gi(32);
  std::vector<double> gd(32);
  shuffle_probe(2, param.data(), 32, gi.data(), gd.data());  // down by 1: lane 31 keeps its own
  EXPECT_EQ(gi[0], 1001);
  EXPECT_EQ(gi[30], 1031);
  EXPECT_EQ(gi[31], 1031);
  std::fill(param.begin(), param.end(), 4);
  shuffle_probe(1, param.data(), 8, gi.data(), gd.data());  // up by 4 in segments of 8
  EXPECT_EQ(gi[3], 1003);
  EXPECT_EQ(gi[4], 1000);
  EXPECT_EQ(gi[12], 1008);
  EXPECT_EQ(gi[11], 1011);
  std::fill(param.begin(), param.end(), 32);  // a delta of 32 is 0 modulo 32: own value
  shuffle_probe(2, param.data(), 32, gi.data(), gd.data());
  EXPECT_EQ(gi[0], 1000);
  std::fill(param.begin(), param.end(), 8);
  shuffle_probe(3, param.data(), 8, gi.data(), gd.data());  // xor 8 in segments of 8: later segment -> own
  EXPECT_EQ(gi[0], 1000);
  EXPECT_EQ(gi[8], 1000);  // earlier segment is readable
}

// ---- votes -------------------------------------------------------------------------------------
TEST(Votes, BallotAnyAllWithFullAndPartialMasks) {
  const int n = 32 * 5;
  std::vector<int> pred(n, 0);
  // warp 0: none; warp 1: all; warp 2: lanes 3 and 17; warp 3: all but lane 30; warp 4: odd lanes only.
  for (int l = 0; l < 32; ++l) {
    pred[32 + l] = 1;
    pred[96 + l] = l != 30;
    pred[128 + l] = l % 2;
  }
  pred[64 + 3] = pred[64 + 17] = 7;  // any non-zero value is true
  GuardedBuffer<int> p(pred, "pred"), any(5, "any"), all(5, "all"), eany(5, "even_any"), eall(5, "even_all");
  GuardedBuffer<unsigned> ballot(5, "ballot"), eballot(5, "even_ballot");
  votes(p.data(), n, ballot.data(), any.data(), all.data(), eballot.data(), eany.data(), eall.data());
  const unsigned want_ballot[] = {0u, 0xffffffffu, (1u << 3) | (1u << 17), ~(1u << 30), 0xaaaaaaaau};
  const int want_any[] = {0, 1, 1, 1, 1};
  const int want_all[] = {0, 1, 0, 0, 0};
  // Even lanes: lane 30 is even; odd lanes are outside the mask.
  const unsigned want_eballot[] = {0u, 0x55555555u, 0u, 0x55555555u & ~(1u << 30), 0u};
  const int want_eany[] = {0, 1, 0, 1, 0};
  const int want_eall[] = {0, 1, 0, 0, 0};
  for (int w = 0; w < 5; ++w) {
    EXPECT_EQ(ballot[w], want_ballot[w]) << "warp " << w;
    EXPECT_EQ(any[w], want_any[w]) << "warp " << w;
    EXPECT_EQ(all[w], want_all[w]) << "warp " << w;
    EXPECT_EQ(eballot[w], want_eballot[w]) << "warp " << w;
    EXPECT_EQ(eany[w], want_eany[w]) << "warp " << w;
    EXPECT_EQ(eall[w], want_eall[w]) << "warp " << w;
  }
}

// ---- atomics -------------------------------------------------------------------------------------
TEST(Atomics, HistogramsMatchACount) {
  const int n = 20000, n_bins = 37;
  std::mt19937 gen(5);
  std::vector<int> values(n);
  std::vector<unsigned> want(n_bins, 0);
  for (int& v : values) {
    v = static_cast<int>(gen() % n_bins);
    ++want[v];
  }
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 9);
    GuardedBuffer<int> vals(values, "values");
    GuardedBuffer<unsigned> global_bins(std::vector<unsigned>(n_bins, 0), "bins");
    GuardedBuffer<unsigned> shared_bins(std::vector<unsigned>(n_bins, 0), "bins_shared");
    histogram_global(vals.data(), n, n_bins, global_bins.data());
    histogram_shared(vals.data(), n, n_bins, shared_bins.data());
    EXPECT_EQ(global_bins.to_vector(), want) << ::acx::simt::schedule_name(s);
    EXPECT_EQ(shared_bins.to_vector(), want) << ::acx::simt::schedule_name(s);
  }
}

TEST(Atomics, MaxCasSpinLockAndAdds) {
  const int n = 300;
  std::vector<int> values(n);
  for (int i = 0; i < n; ++i) values[i] = (i * 7919) % 1000 - 400;
  const int vmax = *std::max_element(values.begin(), values.end());
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 4);
    GuardedBuffer<int> vals(values, "values");
    const AtomicResults r = atomics(vals.data(), n);
    EXPECT_EQ(r.max_int, vmax);
    unsigned umax = 0;
    for (int v : values) umax = std::max(umax, static_cast<unsigned>(v) * 3u);
    EXPECT_EQ(r.max_unsigned, umax);
    EXPECT_EQ(r.max_float_cas, 0.5f * static_cast<float>(vmax));
    EXPECT_EQ(r.locked_counter, n) << "the spin lock lost updates, " << ::acx::simt::schedule_name(s);
    long long sum = 0;
    for (int v : values) sum += v;
    EXPECT_EQ(r.add_int, sum);
    EXPECT_EQ(r.add_float, static_cast<float>(n));
    EXPECT_EQ(r.add_double, 0.25 * n);
    EXPECT_EQ(r.add_ull, static_cast<unsigned long long>(n) << 33);
  }
}

// ---- shared memory ------------------------------------------------------------------------------
TEST(SharedMemory, DynamicSharedReversesEachBlock) {
  const int n = 1000, block = 96;
  const std::vector<float> x = random_floats(n, 31);
  GuardedBuffer<float> xs(x, "x"), y(n, "y");
  reverse_in_blocks(xs.data(), n, block, y.data());
  for (int b = 0; b * block < n; ++b) {
    const int first = b * block, count = std::min(block, n - first);
    for (int t = 0; t < count; ++t) ASSERT_EQ(y[first + t], x[first + count - 1 - t]) << "element " << first + t;
  }
}

TEST(SharedMemory, UnwrittenSharedMemoryReadsAsNaN) {
  GuardedBuffer<float> out(128, "out");
  read_unwritten_shared(out.data(), 128);
  for (int t = 0; t < 128; ++t) {
    if (t % 2 == 1) EXPECT_EQ(out[t], 1.0f) << t;  // reads an even (written) element
    else EXPECT_TRUE(std::isnan(out[t])) << "thread " << t << " read " << out[t];
  }
}

TEST(SharedMemory, WritingPastASharedArrayIsReported) {
  GuardedBuffer<float> out(64, "out");
  const std::string msg = emulation_error_of([&] { shared_overflow_buggy(out.data()); });
  EXPECT_TRUE(contains(msg, "shared_overflow_kernel"));
  EXPECT_TRUE(contains(msg, "past the end of the shared array"));
  EXPECT_TRUE(contains(msg, "simt_selftest_kernels.cu"));
}

TEST(SharedMemory, LimitsAreEnforced) {
  EXPECT_NO_THROW(static_shared(1024, 200 * 1024));
  EXPECT_TRUE(contains(emulation_error_of([] { static_shared(13000, 0); }), "49152-byte limit"));
  EXPECT_TRUE(contains(emulation_error_of([] { static_shared(1024, 227 * 1024); }), "plus dynamic"));
  EXPECT_TRUE(contains(emulation_error_of([] { static_shared(1024, 227 * 1024 + 1); }), "dynamic shared memory"));
}

// ---- launch configuration -----------------------------------------------------------------------
TEST(LaunchConfig, IllegalBlocksAreReported) {
  EXPECT_NO_THROW(configured_launch(2, 1024, 1, 1, 16));
  EXPECT_NO_THROW(configured_launch(2, 8, 4, 2, 16));
  EXPECT_TRUE(contains(emulation_error_of([] { configured_launch(1, 1025, 1, 1, 0); }), "1025x1x1"));
  EXPECT_TRUE(contains(emulation_error_of([] { configured_launch(1, 64, 32, 1, 0); }), "more than 1024 threads"));
  EXPECT_TRUE(contains(emulation_error_of([] { configured_launch(1, 0, 1, 1, 0); }), "zero dimension"));
  EXPECT_TRUE(contains(emulation_error_of([] { configured_launch(1, 1, 1, 65, 0); }), "limits"));
}

TEST(LaunchConfig, IndicesAndWarpsFollowCuda) {
  struct Shape {
    unsigned gx, gy, gz, bx, by, bz;
  };
  for (Shape s : {Shape{2, 3, 2, 8, 4, 2}, Shape{3, 1, 1, 50, 1, 1}, Shape{1, 2, 1, 7, 3, 5}}) {
    const unsigned threads = s.bx * s.by * s.bz, blocks = s.gx * s.gy * s.gz;
    std::vector<unsigned> out(15u * threads * blocks, 12345u);
    index_probe(s.gx, s.gy, s.gz, s.bx, s.by, s.bz, out.data());
    for (unsigned b = 0; b < blocks; ++b) {
      for (unsigned t = 0; t < threads; ++t) {
        const unsigned* o = &out[15u * (b * threads + t)];
        ASSERT_EQ(o[0], t % s.bx);
        ASSERT_EQ(o[1], t / s.bx % s.by);
        ASSERT_EQ(o[2], t / (s.bx * s.by));
        ASSERT_EQ(o[3], b % s.gx);
        ASSERT_EQ(o[4], b / s.gx % s.gy);
        ASSERT_EQ(o[5], b / (s.gx * s.gy));
        ASSERT_EQ(o[6], s.bx);
        ASSERT_EQ(o[7], s.by);
        ASSERT_EQ(o[8], s.bz);
        ASSERT_EQ(o[9], s.gx);
        ASSERT_EQ(o[10], s.gy);
        ASSERT_EQ(o[11], s.gz);
        ASSERT_EQ(o[12], t / 32 * 32) << "warps are 32 consecutive linear thread ids, x fastest";
        const unsigned lanes = std::min(32u, threads - t / 32 * 32);
        ASSERT_EQ(o[13], lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u) << "__activemask";
      }
    }
  }
}

// ---- scheduling -----------------------------------------------------------------------------------
TEST(Schedule, OrdersThreadsAndBlocksAsAsked) {
  const unsigned grid = 3, block = 40, n = grid * block;
  std::vector<int> order(n);
  {
    ScopedSchedule scope(Schedule::kForward);
    record_order(grid, block, order.data());
    for (unsigned k = 0; k < n; ++k) ASSERT_EQ(order[k], static_cast<int>(k));
  }
  {
    ScopedSchedule scope(Schedule::kReverse);
    record_order(grid, block, order.data());
    for (unsigned k = 0; k < n; ++k) ASSERT_EQ(order[k], static_cast<int>(n - 1 - k));
  }
  {
    ScopedSchedule scope(Schedule::kShuffle, 42);
    record_order(grid, block, order.data());
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (unsigned k = 0; k < n; ++k) ASSERT_EQ(sorted[k], static_cast<int>(k)) << "a permutation";
    int in_place = 0;
    for (unsigned k = 0; k < n; ++k) in_place += order[k] == static_cast<int>(k);
    EXPECT_LT(in_place, static_cast<int>(n / 2)) << "shuffled";
  }
  EXPECT_EQ(::acx::simt::parse_schedule("reverse"), Schedule::kReverse);
  EXPECT_THROW(::acx::simt::parse_schedule("backwards"), EmulationError);
}

// ---- the cost model ---------------------------------------------------------------------------------
TEST(CostModel, ThreadsWithoutSyncPointsCostTwoSwitches) {
  const int64_t n = 100000;
  const std::vector<float> x = random_floats(static_cast<size_t>(n), 41);
  GuardedBuffer<float> xs(x, "x"), y(static_cast<size_t>(n), "y");
  const auto t0 = std::chrono::steady_clock::now();
  affine(xs.data(), n, y.data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ::acx::simt::LaunchStats st = ::acx::simt::last_launch_stats();
  EXPECT_EQ(st.threads, 391u * 256u);
  EXPECT_EQ(st.switches, 2 * st.threads);
  EXPECT_EQ(st.barriers, 0u);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 2.0f * x[i] + 1.0f);
  std::printf("[          ] %lld threads in %.1f ms (%.0f ns per thread)\n", static_cast<long long>(st.threads),
              seconds * 1e3, seconds * 1e9 / static_cast<double>(st.threads));
  EXPECT_LT(seconds, 1.0);
}

// ---- planted bugs ---------------------------------------------------------------------------------------
// (a) An off-by-one guard writes y[n]; the red zone after y catches it.
TEST(PlantedBug, OffByOneGuardIsCaughtByTheRedZone) {
  const int n = 1000;
  const std::vector<float> x = random_floats(n, 51);
  GuardedBuffer<float> xs(x, "x"), y(n, "y");
  const std::string msg = emulation_error_of([&] { affine_off_by_one_buggy(xs.data(), n, y.data()); });
  EXPECT_TRUE(contains(msg, "affine_off_by_one_kernel"));
  EXPECT_TRUE(contains(msg, "guarded buffer 'y'"));
  EXPECT_TRUE(contains(msg, "after its end"));
  EXPECT_TRUE(contains(msg, "bytes +0 to +3"));  // exactly one float past the end
  // The correct kernel on the same buffers passes, and the check is repeatable.
  GuardedBuffer<float> y2(n, "y2");
  EXPECT_NO_THROW(affine(xs.data(), n, y2.data()));
  EXPECT_NO_THROW(y2.check());
  EXPECT_NO_THROW(y.check()) << "a reported red zone is repaired, so the next launch is judged on its own";
}

// (b) A missing barrier in the block reduction gives a wrong sum. In forward
// and shuffled order a thread reads its partner's unwritten (NaN) slot; in
// reverse order the partner happens to run first, which is why the tests
// should run in every order (ACX_SIMT_SCHEDULE).
TEST(PlantedBug, MissingBarrierGivesAWrongSum) {
  const int n = 256 * 4;
  const std::vector<float> x = random_floats(n, 61);
  auto wrong_in = [&](Schedule s, uint64_t seed) {
    ScopedSchedule scope(s, seed);
    GuardedBuffer<float> xs(x, "x"), sums(4, "block_sums");
    block_sum_missing_barrier_buggy(xs.data(), n, sums.data());
    int wrong = 0;
    for (int b = 0; b < 4; ++b) wrong += !(std::fabs(sums[b] - sum64(x, b * 256u, 256)) <= 1e-4);
    return wrong;
  };
  EXPECT_EQ(wrong_in(Schedule::kForward, 0), 4);
  for (uint64_t seed = 1; seed <= 5; ++seed) EXPECT_GT(wrong_in(Schedule::kShuffle, seed), 0) << "seed " << seed;
  // The same kernel with its barrier is right in every order (see BlockSum).
}

// (c) Shuffle offsets starting at warpSize: the first step adds each lane to itself.
TEST(PlantedBug, WrongShuffleOffsetGivesAWrongSum) {
  const int n = 32 * 8;
  const std::vector<float> x = random_floats(n, 71);
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 5);
    GuardedBuffer<float> xs(x, "x"), good(n / 32, "good"), bad(n / 32, "bad");
    warp_sum_down(xs.data(), n, good.data());
    warp_sum_wrong_offset_buggy(xs.data(), n, bad.data());
    for (int w = 0; w < n / 32; ++w) {
      const double ref = sum64(x, w * 32u, 32);
      EXPECT_NEAR(good[w], ref, 1e-5);
      EXPECT_GT(std::fabs(bad[w] - ref), 1e-3) << "warp " << w << ": the planted bug went unnoticed";
      EXPECT_NEAR(bad[w], 2 * ref, 1e-4) << "a delta of 32 is 0 modulo 32 in shfl.sync";
    }
  }
}

// (d) A barrier inside `if (threadIdx.x < 32)`: reported with its line, not hung.
TEST(PlantedBug, BarrierInDivergentBranchIsReported) {
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 6);
    GuardedBuffer<float> out(64, "out");
    const std::string msg = emulation_error_of([&] { barrier_in_branch_buggy(out.data()); });
    EXPECT_TRUE(contains(msg, "barrier_in_branch_kernel"));
    EXPECT_TRUE(contains(msg, "__syncthreads()"));
    EXPECT_TRUE(contains(msg, "simt_selftest_kernels.cu:"));
    EXPECT_TRUE(contains(msg, "has returned"));
    EXPECT_TRUE(contains(msg, "block (0,0,0)"));
  }
}

// (e) Lane 5 skips a full-mask shuffle.
TEST(PlantedBug, WarpOpWithALaneMissingIsReported) {
  GuardedBuffer<float> x(random_floats(32, 81), "x"), out(32, "out");
  for (Schedule s : kAllSchedules) {
    ScopedSchedule scope(s, 8);
    const std::string msg = emulation_error_of([&] { warp_op_lane_missing_buggy(x.data(), out.data()); });
    EXPECT_TRUE(contains(msg, "warp_op_lane_missing_kernel"));
    EXPECT_TRUE(contains(msg, "__shfl_down_sync(mask 0xffffffff)"));
    EXPECT_TRUE(contains(msg, "names lane 5"));
    EXPECT_TRUE(contains(msg, "has returned"));
  }
}

// ---- more misuse, all reported ------------------------------------------------------------------------
TEST(Misuse, EarlyReturnBeforeABarrier) {
  const int n = 200;  // the second block has 56 threads past n
  GuardedBuffer<float> x(random_floats(n, 91), "x"), out(n, "out");
  const std::string msg = emulation_error_of([&] { early_return_before_barrier_buggy(x.data(), n, out.data()); });
  EXPECT_TRUE(contains(msg, "early_return_kernel"));
  EXPECT_TRUE(contains(msg, "block (1,0,0)"));
  EXPECT_TRUE(contains(msg, "56 of 128 threads returned"));
}

TEST(Misuse, DifferentBarriersInABlock) {
  GuardedBuffer<float> out(64, "out");
  const std::string msg = emulation_error_of([&] { different_barriers_buggy(out.data()); });
  EXPECT_TRUE(contains(msg, "must reach the same barrier"));
}

TEST(Misuse, LanesDisagreeOnAWarpOp) {
  GuardedBuffer<float> out(32, "out");
  EXPECT_TRUE(contains(emulation_error_of([&] { mismatched_warp_op_buggy(0, out.data()); }), "mask 0xfffffffe"));
  EXPECT_TRUE(contains(emulation_error_of([&] { mismatched_warp_op_buggy(1, out.data()); }), "__shfl_down_sync"));
}

TEST(Misuse, InvalidWidthAndLaneOutsideItsMask) {
  EXPECT_TRUE(contains(emulation_error_of([] { bad_warp_op(0); }), "width 12"));
  EXPECT_TRUE(contains(emulation_error_of([] { bad_warp_op(1); }), "not in the mask"));
}

TEST(Misuse, KernelExceptionsAreRethrownByTheLaunch) {
  EXPECT_THROW(throw_in_kernel(37, 64), std::out_of_range);
  EXPECT_NO_THROW(throw_in_kernel(-1, 64));  // and the emulator is usable afterwards
}

TEST(Misuse, TheEmulatorRecoversAfterErrors) {
  GuardedBuffer<float> out(64, "out");
  EXPECT_THROW(barrier_in_branch_buggy(out.data()), EmulationError);
  const std::vector<float> x = random_floats(5000, 99);
  GuardedBuffer<float> xs(x, "x"), sums(20, "sums");
  const unsigned grid = block_sum(xs.data(), 5000, 256, 65535, sums.data());
  double got = 0;
  for (unsigned b = 0; b < grid; ++b) got += sums[b];
  EXPECT_NEAR(got, sum64(x, 0, x.size()), 1e-3);
}

TEST(Misuse, VocabularyOutsideAKernelThrows) {
  EXPECT_THROW(::acx::simt::current_thread(), EmulationError);
}

// ---- the launch log ------------------------------------------------------------------------------------------
TEST(LaunchLog, BareNames) {
  using ::acx::simt::bare_kernel_name;
  EXPECT_EQ(bare_kernel_name("acx::detail::sum_kernel<float, 256>"), "sum_kernel");
  EXPECT_EQ(bare_kernel_name("(block_sum_kernel<64>)"), "block_sum_kernel");
  EXPECT_EQ(bare_kernel_name(" &::ns::k "), "k");
  EXPECT_EQ(bare_kernel_name("plain"), "plain");
  GuardedBuffer<float> x(random_floats(64, 1), "x"), s(1, "s");
  block_sum(x.data(), 64, 64, 1, s.data());
  const std::vector<std::string> names = ::acx::simt::launched_kernels();
  EXPECT_NE(std::find(names.begin(), names.end(), "block_sum_kernel"), names.end());
}

}  // namespace
}  // namespace acx::simt_selftest
