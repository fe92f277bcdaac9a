// counter.h: the counters that key a kernel's random draws (the env step,
// the update number), read either from the launch's arguments or from
// device memory when the kernel runs.
//
// A launched iteration could pass them as arguments; a CUDA graph cannot,
// because a captured launch replays the arguments it was captured with. So
// the trainer keeps each counter in device memory, advances it with a
// kernel (ops::advance_counter), and hands kernels a DeviceCounter that
// points at it. Tests and one-off calls still pass plain values: a
// DeviceCounter converts from a uint64_t, and then it is that value.
//
//   get() = (ptr ? *ptr : value) * scale + offset
//
// scale and offset give derived keys without another counter: SAC keys its
// update's draws update * (1 + policy_delay) + slot (host/learn/agent.cpp).
#pragma once

#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

struct DeviceCounter {
  uint64_t value = 0;
  const uint64_t* ptr = nullptr;  // device memory, or null: value
  uint64_t scale = 1, offset = 0;

  DeviceCounter() = default;
  DeviceCounter(uint64_t v) : value(v) {}  // NOLINT: a plain value is a counter fixed at launch
  static DeviceCounter at(const uint64_t* device_ptr, uint64_t scale = 1, uint64_t offset = 0) {
    DeviceCounter c;
    c.ptr = device_ptr;
    c.scale = scale;
    c.offset = offset;
    return c;
  }
  ACX_HD uint64_t get() const { return (ptr != nullptr ? *ptr : value) * scale + offset; }
};

// The ring position of a circular buffer in device memory: the next row to
// write and the rows held (kernels/replay.h), advanced by one store.
struct RingPosition {
  int64_t head;
  int64_t size;
};

struct AdvanceCounterArgs {
  uint64_t* counter;  // device
  uint64_t delta;
};
ACX_HD void advance_counter_at(const AdvanceCounterArgs& a) { *a.counter += a.delta; }

struct AdvanceRingArgs {
  RingPosition* ring;  // device
  int64_t capacity;
};
ACX_HD void advance_ring_at(const AdvanceRingArgs& a) {
  a.ring->head = (a.ring->head + 1) % a.capacity;
  if (a.ring->size < a.capacity) ++a.ring->size;
}

namespace ops {
// *counter += delta, on the device, in stream order (one thread).
void advance_counter(const Device& dev, uint64_t* counter, uint64_t delta = 1);
// One row stored: head moves on (wrapping at capacity), size grows to capacity.
void advance_ring(const Device& dev, RingPosition* ring, int64_t capacity);
}  // namespace ops

namespace cpu_kernels {
void advance_counter(const AdvanceCounterArgs& a);
void advance_ring(const AdvanceRingArgs& a);
}  // namespace cpu_kernels

namespace cuda_kernels {
void advance_counter(const AdvanceCounterArgs& a, void* stream);
void advance_ring(const AdvanceRingArgs& a, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
