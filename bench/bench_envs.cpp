// Env-steps/s of every env's vectorized step on the CPU backend (and on the
// GPU where one is usable), n_envs from 1k to 4M. One iteration is one call
// of VecEnv::step for all envs, auto-reset included; actions are fixed
// random values inside 1.5x the action box.
//
//   build-cpu/acx_bench_kernels --benchmark_filter=EnvStep --benchmark_out=envs.json
//
// bench/peers/env_peers.py runs this next to EnvPool and gymnasium.
#include <benchmark/benchmark.h>

#include "envs/vec_env.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"

namespace acx {
namespace {

void BM_EnvStep(benchmark::State& state, const char* name, const char* device) {
  const int64_t n = state.range(0);
  const Device dev = Device::create(device);
  auto env = make_vec_env(dev, name, n);
  env->reset(1);
  const EnvInfo& info = env->info();
  std::vector<float> a(n * info.act_dim);
  PhiloxStream rng(3, RngPurpose::kTest, 0, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < info.act_dim; ++k)
      a[i * info.act_dim + k] = 0.5f * (info.action_low[k] + info.action_high[k]) +
                                0.75f * (info.action_high[k] - info.action_low[k]) * rng.uniform(-1.0f, 1.0f);
  Buffer<float> actions = Buffer<float>::from_host(dev, a);
  for (int i = 0; i < 3; ++i) env->step(actions.data());  // warm-up: pages touched, caches filled
  dev.synchronize();
  for (auto _ : state) {
    env->step(actions.data());
    dev.synchronize();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["env_steps_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_env"] = static_cast<double>(env->bytes_per_env());
  state.counters["threads"] = dev.cpu_threads();
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1 << 10, 1 << 14, 1 << 18, 1 << 22}) b->Arg(n);
  b->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.3);
}

BENCHMARK_CAPTURE(BM_EnvStep, pendulum, "pendulum", "cpu")->Apply(sizes);
BENCHMARK_CAPTURE(BM_EnvStep, mountain_car_continuous, "mountain-car-continuous", "cpu")->Apply(sizes);
BENCHMARK_CAPTURE(BM_EnvStep, cartpole_swingup, "cartpole-swingup", "cpu")->Apply(sizes);
BENCHMARK_CAPTURE(BM_EnvStep, acrobot_continuous, "acrobot-continuous", "cpu")->Apply(sizes);
BENCHMARK_CAPTURE(BM_EnvStep, lqr, "lqr", "cpu")->Apply(sizes);

}  // namespace
}  // namespace acx

BENCHMARK_MAIN();
