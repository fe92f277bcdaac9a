// cuda_api_mode.h: the stream mode of kernels/runtime/cuda_api.h (run,
// capture, discard) as one thread-local state with one set of checks and
// messages, shared by the implementations of that interface (the real
// runtime and the emulation). Not for other callers: they use cuda_api.h.
#pragma once

#include "kernels/runtime/cuda_api.h"

namespace acx::cuda_api::mode {

// kRun -> kCapture (graph_begin_capture); an Error from any other mode.
void begin_capture();
// kCapture -> kRun (graph_end_capture); true when a device free happened
// during the capture (free() is noexcept, so the end of the capture reports it).
bool end_capture();
// Throws Error naming `what` (a host copy, a wait, an allocation) unless the
// mode is kRun: a graph cannot hold it.
void refuse_in_graph(const char* what);
// free() calls it: a free of `ptr` inside a capture is remembered.
void note_free(const void* ptr) noexcept;
// The error graph_end_capture throws for such a free.
[[noreturn]] void throw_freed_in_capture();

}  // namespace acx::cuda_api::mode
