// Buffers, copies and device selection, on every backend.
#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <sstream>
#include <vector>

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class BufferTest : public ::testing::TestWithParam<Backend> {};

TEST_P(BufferTest, RoundTripsThroughDeviceMemory) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (size_t n : {size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
    const std::vector<float> host = test::random_floats(n, static_cast<uint32_t>(n));
    Buffer<float> a = Buffer<float>::from_host(dev, host);
    Buffer<float> b(dev, n);
    b.copy_from(a);
    EXPECT_EQ(b.to_host(), host) << "n = " << n;
    ASSERT_GT(test::l2_norm(host), 0.0);
  }
}

TEST_P(BufferTest, ZeroAndMoveSemantics) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  Buffer<int32_t> a = Buffer<int32_t>::from_host(dev, {1, 2, 3, 4, 5});
  const int32_t* p = a.data();
  Buffer<int32_t> b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.to_host(), (std::vector<int32_t>{1, 2, 3, 4, 5}));
  b.zero();
  EXPECT_EQ(b.to_host(), (std::vector<int32_t>(5, 0)));
  Buffer<int32_t> c(dev, 0);
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(c.to_host().empty());
}

TEST_P(BufferTest, OversizedCopyThrows) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  Buffer<float> a(dev, 4);
  std::vector<float> big(5, 1.0f);
  EXPECT_THROW(a.copy_from_host(big.data(), big.size()), Error);
}

INSTANTIATE_TEST_SUITE_P(Backends, BufferTest, test::all_backends(), test::backend_param_name);

TEST(DeviceSelection, CpuAlwaysWorks) {
  const Device d = Device::create("cpu", 1);
  EXPECT_EQ(d.backend(), Backend::kCpu);
  EXPECT_EQ(d.cpu_threads(), 1);
  EXPECT_NE(d.describe().find("cpu"), std::string::npos);
}

TEST(DeviceSelection, AutoFallsBackToCpuWithOneLineWhenNoGpu) {
  std::ostringstream note;
  const Device d = Device::create("auto", 0, &note);
  if (cuda_unusable_reason().empty()) {
    EXPECT_EQ(d.backend(), Backend::kCuda);
    EXPECT_TRUE(note.str().empty());
  } else {
    EXPECT_EQ(d.backend(), Backend::kCpu);
    const std::string line = note.str();
    EXPECT_NE(line.find("running on the CPU"), std::string::npos) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  }
}

TEST(DeviceSelection, CudaWithoutGpuIsAClearError) {
  if (cuda_unusable_reason().empty()) GTEST_SKIP() << "a CUDA device is usable here; nothing to refuse";
  try {
    (void)Device::create("cuda");
    FAIL() << "expected a throw";
  } catch (const UsageError&) {
    FAIL() << "no GPU is a runtime condition, not a usage error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is usable"), std::string::npos) << e.what();
  }
}

// The learner's scope (host/learn/agent.cpp) flushes subnormals on every
// thread of the team, and only while it is alive: the envs outside it keep
// IEEE arithmetic (gymnasium's tasks are followed bit for bit).
std::vector<float> halved_min_per_thread(int threads) {
  std::vector<float> out(threads, -1.0f);
  volatile float tiny = FLT_MIN;  // volatile: computed at run time, under MXCSR
#pragma omp parallel num_threads(threads)
  out[omp_get_thread_num()] = tiny * 0.5f;
  return out;
}

TEST(DeviceSelection, SubnormalsAsZeroFlushesOnEveryThreadOnlyInsideItsScope) {
  if (!SubnormalsAsZero::available()) GTEST_SKIP() << "no MXCSR on this CPU: the scope does nothing";
  const Device dev = Device::cpu();  // OpenMP's default team
  const int n = dev.cpu_threads();
  for (float x : halved_min_per_thread(n)) EXPECT_EQ(x, FLT_MIN * 0.5f) << "IEEE subnormal outside the scope";
  EXPECT_GT(FLT_MIN * 0.5f, 0.0f);
  {
    const SubnormalsAsZero scope(dev);
    for (float x : halved_min_per_thread(n)) EXPECT_EQ(x, 0.0f) << "flushed inside the scope";
    {
      const SubnormalsAsZero nested(dev);  // already on: leaves it to the outer scope
    }
    for (float x : halved_min_per_thread(n)) EXPECT_EQ(x, 0.0f) << "a nested scope must not restore early";
  }
  for (float x : halved_min_per_thread(n)) EXPECT_EQ(x, FLT_MIN * 0.5f) << "restored after the scope";
}

TEST(DeviceSelection, UnknownSpecsAreUsageErrors) {
  for (const char* spec : {"gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "", "cuda:99999"}) {
    EXPECT_THROW((void)Device::create(spec), UsageError) << "spec '" << spec << "'";
  }
  if (!cuda_unusable_reason().empty()) return;
  EXPECT_THROW((void)Device::create("cuda:999"), UsageError);
}

TEST(Errors, CheckMacroNamesFileLineAndCondition) {
  try {
    ACX_CHECK(1 + 1 == 3, "arithmetic");
    FAIL();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("tests/test_buffer_device.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("1 + 1 == 3"), std::string::npos) << what;
    EXPECT_NE(what.find("arithmetic"), std::string::npos) << what;
  }
}

TEST(Errors, CudaApiReportsWhyItCannotRun) {
  std::string why;
  const int n = cuda_api::device_count(&why);
  if (n == 0) {
    EXPECT_FALSE(why.empty());
  }
  if (!cuda_api::built()) {
    EXPECT_THROW((void)cuda_api::malloc(16), Error);
  }
}

}  // namespace
}  // namespace acx
