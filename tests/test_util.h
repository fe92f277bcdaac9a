// test_util.h: what every acx test needs: the backends to instantiate a test
// body for, a device or a visible skip, fresh random inputs, comparisons
// that print the worst pairs (|a - b| <= atol + rtol |ref|), and the message
// of an expected error of the right kind.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/philox.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/error.h"

// EXPECT_CONTAINS(text, needle): the text, printed whole when it fails.
#define EXPECT_CONTAINS(haystack, needle)                                                         \
  do {                                                                                            \
    const std::string h_ = (haystack);                                                            \
    EXPECT_NE(h_.find(needle), std::string::npos) << "expected '" << (needle) << "' in: " << h_; \
  } while (0)

namespace acx {
// Test names and failure messages say "cpu" / "cuda", not bytes.
inline void PrintTo(Backend b, std::ostream* os) { *os << backend_name(b); }
}  // namespace acx

namespace acx {

// The message of the acx::UsageError (exit 2) fn throws; otherwise a text
// that no expectation on the message matches.
template <typename Fn>
std::string usage_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A USAGE ERROR: ") + e.what();
  }
  return "NO ERROR";
}

// The message of the acx::Error that is not a usage error (exit 1) fn
// throws; otherwise a text that no expectation on the message matches.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError&) {
    return "A USAGE ERROR, NOT A RUNTIME ERROR";
  } catch (const Error& e) {
    return e.what();
  }
  return "NO ERROR";
}

}  // namespace acx

namespace acx::test {

inline std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) {
  return backend_name(info.param);
}

// The backends every op is tested on. The CUDA instance runs on a GPU, or
// under the SIMT emulation in that build, and otherwise skips.
inline auto all_backends() { return ::testing::Values(Backend::kCpu, Backend::kCuda); }

// A device for `b`, or nullopt after GTEST_SKIP has been recorded. Usage:
//   ACX_DEVICE_OR_SKIP(dev, GetParam());
inline bool make_device(Backend b, Device* out, std::string* why) {
  if (b == Backend::kCpu) {
    *out = Device::cpu();
    return true;
  }
  *why = cuda_unusable_reason();
  if (!why->empty()) return false;
  *out = Device::create("cuda");
  return true;
}

#define ACX_DEVICE_OR_SKIP(dev, backend)                                                    \
  ::acx::Device dev;                                                                        \
  do {                                                                                      \
    std::string acx_why_;                                                                   \
    if (!::acx::test::make_device((backend), &dev, &acx_why_))                              \
      GTEST_SKIP() << "no usable CUDA device, CUDA test skipped: " << acx_why_;             \
  } while (0)

// Fresh random floats in [lo, hi), keyed by `tag` so every test draws its own.
inline std::vector<float> random_floats(size_t n, uint32_t tag, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  PhiloxStream rng(0x5eed, RngPurpose::kTest, tag, 0);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

// Expects got[i] ~ want[i] for all i; prints up to 5 bad pairs and the worst.
template <typename A, typename B>
::testing::AssertionResult all_close(const std::vector<A>& got, const std::vector<B>& want, double atol,
                                     double rtol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  }
  size_t bad = 0;
  double worst = 0;
  size_t worst_i = 0;
  std::string report;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    const double d = std::fabs(g - w);
    const bool ok = std::isfinite(g) && d <= atol + rtol * std::fabs(w);
    if (!std::isfinite(g) || d > worst) {
      worst = std::isfinite(g) ? d : INFINITY;
      worst_i = i;
    }
    if (!ok && bad++ < 5) report += "\n  [" + std::to_string(i) + "] got " + std::to_string(g) + " want " + std::to_string(w);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ (atol " << atol
                                       << ", rtol " << rtol << "); largest |diff| " << worst << " at [" << worst_i
                                       << "]" << report;
}

// Guards against a test passing on an all-zero (or empty) output.
template <typename T>
double l2_norm(const std::vector<T>& v) {
  double s = 0;
  for (const T& x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s);
}

#ifdef ACX_BINARY
// What `acx ARGS` printed and how it exited (the binary the tests were built with).
struct CliRun {
  int code;
  std::string out, err;
};

inline CliRun run_acx(const std::string& args) {
  namespace fs = std::filesystem;
  const fs::path tmp = fs::temp_directory_path() / ("acx_test_cli_" + std::to_string(::getpid()));
  const std::string cmd = std::string(ACX_BINARY) + " " + args + " >" + tmp.string() + ".out 2>" + tmp.string() + ".err";
  const int status = std::system(cmd.c_str());
  CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, "", ""};
  std::ifstream o(tmp.string() + ".out"), e(tmp.string() + ".err");
  std::getline(o, r.out, '\0');
  std::getline(e, r.err, '\0');
  fs::remove(tmp.string() + ".out");
  fs::remove(tmp.string() + ".err");
  return r;
}
#endif

}  // namespace acx::test
