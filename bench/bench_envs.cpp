// Env-steps/s of every env's vectorized step on the CPU backend (and on the
// GPU where one is usable), n_envs from 1k to 4M. One iteration is one call
// of VecEnv::step for all envs, auto-reset included; actions are fixed
// random values inside 1.5x the action box.
//
//   build-cpu/acx_bench_kernels --benchmark_filter=EnvStep --benchmark_out=envs.json
//
// bench/peers/env_peers.py runs this next to EnvPool and gymnasium.
#include <benchmark/benchmark.h>

#include <omp.h>

#include "envs/vec_env.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"

#if ACX_HAS_MUJOCO
#include <mujoco/mujoco.h>

#include "envs/mujoco/mujoco_env.h"
#endif

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

#if ACX_HAS_MUJOCO
// The MuJoCo tasks at 1, 64 and 1024 envs (bench/peers/mujoco_env_peers.py
// runs these next to EnvPool and gymnasium).
void mujoco_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1, 64, 1024}) b->Arg(n);
  b->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.5);
}
BENCHMARK_CAPTURE(BM_EnvStep, half_cheetah, "half-cheetah", "cpu")->Apply(mujoco_sizes);
BENCHMARK_CAPTURE(BM_EnvStep, hopper, "hopper", "cpu")->Apply(mujoco_sizes);
BENCHMARK_CAPTURE(BM_EnvStep, ant, "ant", "cpu")->Apply(mujoco_sizes);

// The ceiling: the physics alone. One model copy per thread, one mjData
// per env, frame_skip calls of mj_step per env step with the action in
// ctrl; no observation, reward, reset or copy. Envs that fall keep falling.
void BM_RawMjStep(benchmark::State& state, const char* name) {
  const int64_t n = state.range(0);
  const mujoco_env::TaskModel tm = mujoco_env::task_model(name);
  char err[1000] = "";
  mjModel* m0 = mj_loadXML(tm.xml_path.c_str(), nullptr, err, sizeof err);
  ACX_CHECK(m0 != nullptr, tm.xml_path + ": " + err);
  const int threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(n)));
  std::vector<mjModel*> models(threads);
  for (int t = 0; t < threads; ++t) models[t] = mj_copyModel(nullptr, m0);
  std::vector<mjData*> data(n);
  PhiloxStream rng(3, RngPurpose::kTest, 0, 0);
  std::vector<double> ctrl(n * m0->nu);
  for (double& c : ctrl) c = 0.75 * rng.uniform(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    data[i] = mj_makeData(m0);
    mj_forward(m0, data[i]);
  }
  const int nu = m0->nu, fs = tm.frame_skip;
  auto step_all = [&] {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) {
      const mjModel* m = models[omp_get_thread_num()];
      for (int k = 0; k < nu; ++k) data[i]->ctrl[k] = ctrl[i * nu + k];
      for (int f = 0; f < fs; ++f) mj_step(m, data[i]);
    }
  };
  for (int i = 0; i < 3; ++i) step_all();
  for (auto _ : state) step_all();
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["env_steps_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
  for (mjData* d : data) mj_deleteData(d);
  for (mjModel* m : models) mj_deleteModel(m);
  mj_deleteModel(m0);
}
BENCHMARK_CAPTURE(BM_RawMjStep, half_cheetah, "half-cheetah")->Apply(mujoco_sizes);
BENCHMARK_CAPTURE(BM_RawMjStep, hopper, "hopper")->Apply(mujoco_sizes);
BENCHMARK_CAPTURE(BM_RawMjStep, ant, "ant")->Apply(mujoco_sizes);
#endif

}  // namespace
}  // namespace acx

BENCHMARK_MAIN();
