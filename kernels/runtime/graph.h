// graph.h: CUDA graphs of a device's stream work, for the trainer's
// iteration (host/learn/trainer.cpp, docs/training.md "CUDA graphs").
//
// A graph is captured by running host code once with the stream recording:
// every kernel launch, device-to-device copy, fill and GEMM it issues is
// kept with the arguments it had, and the graph replays exactly those. So a
// captured iteration is right only when everything that changes between
// iterations lives in device memory (kernels/counter.h), and the host's own
// bookkeeping of a replayed iteration (its counters, the replay ring's
// mirror) is kept by running the same host code with the device work
// dropped: run_host_only. Copies to or from the host, waits and allocations
// inside either are errors that name the call (kernels/runtime/cuda_api.h).
//
// Under the SIMT emulation the same calls record and replay closures, so
// the whole scheme is tested without a GPU (tests/emu_train.sh); on a CPU
// device there are no graphs.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "kernels/runtime/device.h"

namespace acx {

class StreamGraph {
 public:
  StreamGraph() = default;
  ~StreamGraph();
  StreamGraph(StreamGraph&& o) noexcept;
  StreamGraph& operator=(StreamGraph&& o) noexcept;
  StreamGraph(const StreamGraph&) = delete;
  StreamGraph& operator=(const StreamGraph&) = delete;

  // Runs `body` once with dev's stream recording (nothing runs on the
  // device) and keeps what it issued. An exception in body ends the
  // capture, keeps nothing, and propagates.
  static StreamGraph capture(const Device& dev, const std::function<void()>& body);
  // Enqueues the recorded work on the stream it was captured from.
  void launch() const;
  bool empty() const { return exec_ == nullptr; }
  size_t nodes() const { return nodes_; }  // kernels, copies, fills and GEMMs recorded

 private:
  Device dev_;
  void* exec_ = nullptr;
  size_t nodes_ = 0;
};

// Runs `body` with the device work it issues dropped: the host side of an
// iteration whose device side a graph does.
void run_host_only(const Device& dev, const std::function<void()>& body);

// Whether `dev` can capture graphs (a CUDA device, real or emulated); why
// not, when it cannot.
bool graphs_supported(const Device& dev, std::string* why_not);

}  // namespace acx
