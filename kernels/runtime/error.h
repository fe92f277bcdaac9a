// error.h: how acx reports failure. Everything throws; the CLI turns an
// exception into one line on stderr and an exit code (2 for usage errors,
// 1 for runtime errors).
#pragma once

#include <stdexcept>
#include <string>

namespace acx {

// A runtime failure: a failed CUDA or BLAS call, a corrupt file, NaN in training.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user asked for something that cannot be done as asked: a wrong flag,
// an unknown env, a malformed config or input file. Exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void throw_error(const char* file, int line, const std::string& what);
[[noreturn]] void throw_usage_error(const std::string& what);

}  // namespace acx

// Internal invariants and runtime conditions: throws acx::Error with the place.
#define ACX_CHECK(cond, msg)                                                            \
  do {                                                                                  \
    if (!(cond)) ::acx::throw_error(__FILE__, __LINE__, std::string("check failed: ") + #cond + ": " + (msg)); \
  } while (0)

// Usage errors: the user's input was wrong. The message names what was wrong.
#define ACX_USAGE_CHECK(cond, msg)             \
  do {                                         \
    if (!(cond)) ::acx::throw_usage_error(msg); \
  } while (0)

#if defined(__CUDACC__) || defined(ACX_WITH_CUDA_RUNTIME)
#include <cuda_runtime.h>
namespace acx {
// Throws acx::Error with file, line, the call's text and CUDA's message.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    throw_error(file, line,
                std::string(call) + " failed: " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
  }
}
}  // namespace acx
#define ACX_CUDA_CHECK(call) ::acx::check_cuda((call), #call, __FILE__, __LINE__)
#endif
