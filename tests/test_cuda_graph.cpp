// CUDA graphs (kernels/runtime/graph.h) and the device counters that make
// them right (kernels/counter.h). On a GPU, or under the SIMT emulation
// (which records and replays closures with the same semantics: arguments
// frozen at capture); skipped visibly elsewhere.
//   - a capture runs nothing; each launch runs everything it recorded;
//   - a counter read from device memory moves on at every replay, a value
//     passed as an argument is frozen (why the trainer keeps its counters
//     on the device);
//   - host copies, waits and allocations inside a capture are errors that
//     name the call, and the capture ends cleanly;
//   - run_host_only drops the device work;
//   - acx train with graphs on is bit for bit acx train with graphs off
//     (TD3 with normalized observations and clipping, SAC), and it did
//     replay graphs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "host/io/safetensors.h"
#include "kernels/counter.h"
#include "kernels/explore.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/graph.h"
#include "kernels/vector_ops.h"
#include "tests/test_util.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRows = 64;
constexpr int kActDim = 3;

struct ExploreFixture {
  explicit ExploreFixture(const Device& dev)
      : mu(Buffer<float>::from_host(dev, test::random_floats(kRows * kActDim, 1, -0.5f, 0.5f))),
        sigma(Buffer<float>::from_host(dev, std::vector<float>(kRows, 0.3f))),
        low(Buffer<float>::from_host(dev, std::vector<float>(kActDim, -1.0f))),
        high(Buffer<float>::from_host(dev, std::vector<float>(kActDim, 1.0f))),
        out(dev, kRows * kActDim) {}
  void explore(const Device& dev, DeviceCounter step) {
    ops::gaussian_explore(dev, kRows, kActDim, mu.data(), low.data(), high.data(), sigma.data(), 42, step, out.data());
  }
  Buffer<float> mu, sigma, low, high, out;
};

TEST(CudaGraph, EachReplayReadsTheCounterTheDeviceAdvanced) {
  ACX_DEVICE_OR_SKIP(dev, Backend::kCuda);
  ExploreFixture f(dev);
  // What the launched calls give at steps 1 and 2.
  f.explore(dev, 1);
  const std::vector<float> want1 = f.out.to_host();
  f.explore(dev, 2);
  const std::vector<float> want2 = f.out.to_host();
  ASSERT_NE(want1, want2);

  Buffer<uint64_t> counter(dev, 1);
  counter.zero();
  f.out.zero();
  StreamGraph g = StreamGraph::capture(dev, [&] {
    ops::advance_counter(dev, counter.data());
    f.explore(dev, DeviceCounter::at(counter.data()));
  });
  EXPECT_EQ(g.nodes(), 2u);
  EXPECT_EQ(counter.to_host()[0], 0u) << "a capture must not run anything";
  EXPECT_EQ(f.out.to_host(), std::vector<float>(kRows * kActDim, 0.0f)) << "a capture must not run anything";
  g.launch();
  dev.synchronize();
  EXPECT_EQ(counter.to_host()[0], 1u);
  EXPECT_EQ(f.out.to_host(), want1);
  g.launch();
  dev.synchronize();
  EXPECT_EQ(counter.to_host()[0], 2u);
  EXPECT_EQ(f.out.to_host(), want2) << "the replay must read the advanced counter";
}

TEST(CudaGraph, AValuePassedAsAnArgumentIsFrozenAtCapture) {
  ACX_DEVICE_OR_SKIP(dev, Backend::kCuda);
  ExploreFixture f(dev);
  f.explore(dev, 7);
  const std::vector<float> want7 = f.out.to_host();
  uint64_t step = 7;
  StreamGraph g = StreamGraph::capture(dev, [&] { f.explore(dev, step); });
  step = 8;  // too late: the graph holds 7
  f.out.zero();
  g.launch();
  dev.synchronize();
  EXPECT_EQ(f.out.to_host(), want7);
}

TEST(CudaGraph, HostCopiesWaitsAndAllocationsInACaptureAreErrors) {
  ACX_DEVICE_OR_SKIP(dev, Backend::kCuda);
  Buffer<float> x(dev, 16);
  x.zero();
  const std::vector<float> host(16, 1.0f);
  auto expect_refused = [&](const std::function<void()>& body, const char* what) {
    try {
      (void)StreamGraph::capture(dev, body);
      ADD_FAILURE() << what << " was captured";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("captured CUDA graph"), std::string::npos) << e.what();
    }
  };
  expect_refused([&] { x.copy_from_host(host.data(), host.size()); }, "a host-to-device copy");
  expect_refused([&] { (void)x.to_host(); }, "a device-to-host copy");
  expect_refused([&] { dev.synchronize(); }, "a wait");
  expect_refused([&] { Buffer<float> y(dev, 8); }, "an allocation");
  std::optional<Buffer<float>> doomed(std::in_place, dev, 8);
  expect_refused([&] { doomed.reset(); }, "a free");
  // Each capture ended with its error: the stream runs work again.
  ops::fill(dev, x.data(), 16, 2.0f);
  EXPECT_EQ(x.to_host(), std::vector<float>(16, 2.0f));
}

TEST(CudaGraph, RunHostOnlyDropsTheDeviceWork) {
  ACX_DEVICE_OR_SKIP(dev, Backend::kCuda);
  Buffer<float> x(dev, 16);
  ops::fill(dev, x.data(), 16, 1.0f);
  int host_work = 0;
  run_host_only(dev, [&] {
    ops::fill(dev, x.data(), 16, 5.0f);
    ++host_work;
  });
  EXPECT_EQ(host_work, 1);
  EXPECT_EQ(x.to_host(), std::vector<float>(16, 1.0f));
}

TEST(CudaGraph, ACpuDeviceHasNoGraphs) {
  std::string why;
  EXPECT_FALSE(graphs_supported(Device::cpu(), &why));
  EXPECT_NE(why.find("CPU"), std::string::npos) << why;
}

// ---- acx train, graphs on and off -------------------------------------------------------

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("acx_graph_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

const std::string kRun =
    " --env pendulum --device cuda --seed 5 --agents 2 --set net.actor_hidden=[16,16] --set net.critic_hidden=[16,16]"
    " --set algo.batch_size=16 --set env.n_envs=4 --set env.max_steps=40 --set algo.learning_starts=80"
    " --set algo.warmup_steps=80 --set run.eval_every=200 --set run.eval_episodes=1 --set run.log_every=100"
    " --set run.checkpoint_every=200 --set replay.capacity=2000 --set run.total_env_steps=400";

void expect_graphs_change_nothing(const std::string& args, const std::string& name) {
  const fs::path on = fresh_dir(name + "_on"), off = fresh_dir(name + "_off");
  const test::CliRun a = test::run_acx("train" + kRun + args + " --set run.cuda_graph=on --out " + on.string());
  ASSERT_EQ(a.code, 0) << a.err;
  const test::CliRun b = test::run_acx("train" + kRun + args + " --set run.cuda_graph=off --out " + off.string());
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(a.err.find("CUDA graphs on"), std::string::npos) << a.err;
  EXPECT_NE(b.err.find("CUDA graphs off (run.cuda_graph = off)"), std::string::npos) << b.err;
  const nlohmann::json s = nlohmann::json::parse(std::ifstream(on / "summary.json"));
  EXPECT_TRUE(s["cuda_graph"]["on"].get<bool>());
  EXPECT_GT(s["cuda_graph"]["graph_replays"].get<int64_t>(), 50) << s.dump();
  EXPECT_GT(s["cuda_graph"]["max_graph_nodes"].get<int64_t>(), 20) << s.dump();
  const auto fa = safetensors::load_safetensors((on / "checkpoint.safetensors").string());
  const auto fb = safetensors::load_safetensors((off / "checkpoint.safetensors").string());
  int compared = 0;
  for (const safetensors::Tensor& t : fa.tensors()) {
    EXPECT_EQ(t.data, fb.get(t.name).data) << name << ": " << t.name << " differs between graphs on and off";
    ++compared;
  }
  EXPECT_GT(compared, 10);
  fs::remove_all(on);
  fs::remove_all(off);
}

TEST(CudaGraph, TrainingWithGraphsIsBitwiseTrainingWithout) {
  ACX_DEVICE_OR_SKIP(dev, Backend::kCuda);
  (void)dev;
  expect_graphs_change_nothing(" --set obs_norm.enabled=true --set algo.max_grad_norm=1.0", "td3");
  expect_graphs_change_nothing(" --algo sac --set algo.updates_per_step=0.5", "sac");
}

TEST(CudaGraph, OnIsRefusedWhereGraphsCannotRun) {
  const test::CliRun cpu = test::run_acx("train --env pendulum --device cpu --set run.cuda_graph=on --out " +
                                         fresh_dir("cpu").string());
  EXPECT_EQ(cpu.code, 2);
  EXPECT_NE(cpu.err.find("run.cuda_graph = on, but this run cannot use CUDA graphs: the device is a CPU"),
            std::string::npos)
      << cpu.err;
}

}  // namespace
}  // namespace acx
