// cuda_api_mode.cpp: the stream mode every build shares
// (kernels/runtime/cuda_api_mode.h).
#include "kernels/runtime/cuda_api_mode.h"

#include <string>

#include "kernels/runtime/error.h"

namespace acx::cuda_api {

namespace {
thread_local StreamMode g_mode = StreamMode::kRun;
thread_local bool g_freed_in_capture = false;

std::string in_graph(const char* what) {
  return std::string(what) + " inside a captured CUDA graph's iteration: a graph cannot hold it "
         "(every value that changes between iterations must stay in device memory; kernels/counter.h)";
}
}  // namespace

StreamMode stream_mode() { return g_mode; }

void discard_begin() {
  ACX_CHECK(g_mode == StreamMode::kRun, "a dropped iteration begun inside a capture or another one");
  g_mode = StreamMode::kDiscard;
}

void discard_end() { g_mode = StreamMode::kRun; }

namespace mode {

void begin_capture() {
  ACX_CHECK(g_mode == StreamMode::kRun, "graph capture begun inside another capture or a dropped iteration");
  g_freed_in_capture = false;
  g_mode = StreamMode::kCapture;
}

bool end_capture() {
  ACX_CHECK(g_mode == StreamMode::kCapture, "graph capture ended without one begun");
  g_mode = StreamMode::kRun;
  const bool freed = g_freed_in_capture;
  g_freed_in_capture = false;
  return freed;
}

void refuse_in_graph(const char* what) {
  if (g_mode != StreamMode::kRun) throw Error(in_graph(what));
}

void note_free(const void* ptr) noexcept {
  if (ptr != nullptr && g_mode == StreamMode::kCapture) g_freed_in_capture = true;
}

void throw_freed_in_capture() { throw Error(in_graph("a device free")); }

}  // namespace mode
}  // namespace acx::cuda_api
