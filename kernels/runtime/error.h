// error.h: how acx reports failure. Everything throws; the CLI turns an
// exception into one line on stderr and an exit code (2 for usage errors,
// 1 for runtime errors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

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

// User input (a value, a key, a path, a file's bytes) as a message may show
// it: in double quotes, with quotes, backslashes, control characters
// (terminal escapes among them), NUL and bytes that are not UTF-8 written as
// \", \\, \n, \t, \xHH escapes, and cut after `max_bytes` of input with a
// note of how much was cut. Every message that echoes input uses it, so no
// input can drive the terminal, end a message early or make it huge.
constexpr size_t kQuotedMaxBytes = 160;
std::string quote_input(std::string_view input, size_t max_bytes = kQuotedMaxBytes);

// A whole message made safe for a terminal line, for the last stop before
// printing: control characters and invalid UTF-8 escaped as in quote_input(), no
// quotes added, cut after `max_bytes` with a note.
constexpr size_t kMessageMaxBytes = 4096;
std::string printable(std::string_view message, size_t max_bytes = kMessageMaxBytes);

// The product of non-negative sizes, or a UsageError naming `what` and the
// factors when it does not fit in int64 (sizes of buffers built from user
// settings: checked before anything is allocated).
int64_t checked_product(std::initializer_list<int64_t> factors, const std::string& what);

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
