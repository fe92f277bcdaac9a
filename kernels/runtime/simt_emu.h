// simt_emu.h: run a CUDA kernel's own source on a CPU, with GPU semantics,
// for tests. g++ compiles the .cu file as C++ with -DACX_SIMT_EMULATION; this
// header then supplies the CUDA vocabulary of kernels/runtime/device_api.h.
//
// Model. A launch runs the blocks of the grid one after another. Within a
// block every thread is a fiber on its own stack; a fiber runs until it
// reaches a sync point (__syncthreads, a *_sync warp op) or returns. A barrier
// releases when every thread of the block waits at it; a warp op completes
// when every lane named in its mask waits at it, and then each lane receives
// what the GPU would give it. Fibers that never synchronize cost one switch in
// and one out, so launches of ~100k threads take milliseconds.
//
// Misuse is reported, never hung: a barrier some threads cannot reach (they
// returned, or wait at another __syncthreads), a warp op naming a lane that
// returned or waits elsewhere, lanes disagreeing on a warp op's mask or kind,
// illegal launch configurations, shared memory over the limits. The fibers
// of the block are abandoned and launch() throws acx::simt::EmulationError
// naming kernel, block, thread and source line. Shared memory is poisoned
// (every byte 0xFF, a NaN for float and double) at each block start, and
// buffers of GuardedBuffer carry red zones that are checked after every
// launch. An exception thrown by kernel code is caught in its fiber and
// rethrown, unchanged, by launch().
//
// The header has two parts. The host API (EmulationError, schedules,
// GuardedBuffer, the launch log) is always declared, so that ordinary test
// code can include it. The CUDA vocabulary (__global__, threadIdx, warp ops,
// atomics, ...) is defined only under ACX_SIMT_EMULATION, in kernel sources.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/runtime/error.h"

// ---- CUDA's launch-configuration types (global namespace, as in CUDA) ------
struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

struct CUstream_st;
typedef CUstream_st* cudaStream_t;  // streams are not emulated: launches complete before returning

namespace acx::simt {

// A misuse of the CUDA programming model found by the emulation.
class EmulationError : public ::acx::Error {
 public:
  using ::acx::Error::Error;
};

// ---- schedules ----------------------------------------------------------
// The order in which the emulation runs ready threads of a block (and the
// blocks of a grid). Any order is a legal GPU execution; a kernel whose result
// depends on it has a race. Default: ACX_SIMT_SCHEDULE=forward|reverse|shuffle
// and ACX_SIMT_SEED (for shuffle), read at the first launch.
enum class Schedule { kForward, kReverse, kShuffle };

void set_schedule(Schedule schedule, uint64_t seed = 0);
Schedule schedule();
uint64_t schedule_seed();
// "forward", "reverse" or "shuffle"; throws EmulationError otherwise.
Schedule parse_schedule(const std::string& text);
const char* schedule_name(Schedule schedule);

// Sets a schedule for a scope (tests), restoring the previous one after.
class ScopedSchedule {
 public:
  explicit ScopedSchedule(Schedule s, uint64_t seed = 0) : old_(schedule()), old_seed_(schedule_seed()) {
    set_schedule(s, seed);
  }
  ~ScopedSchedule() { set_schedule(old_, old_seed_); }
  ScopedSchedule(const ScopedSchedule&) = delete;
  ScopedSchedule& operator=(const ScopedSchedule&) = delete;

 private:
  Schedule old_;
  uint64_t old_seed_;
};

// ---- launch log and statistics -------------------------------------------
// Bare names ("acx::detail::sum_kernel<float, 256>" -> "sum_kernel") of every
// kernel launched by this process so far. At exit they are appended, one a
// line, to the file named by ACX_SIMT_LAUNCH_LOG, if set.
std::vector<std::string> launched_kernels();
std::string bare_kernel_name(const std::string& launch_text);

// What the last launch on this host thread did (tests check the cost model).
struct LaunchStats {
  uint64_t blocks = 0;
  uint64_t threads = 0;
  uint64_t switches = 0;  // context switches into and out of fibers
  uint64_t barriers = 0;  // block barriers released
  uint64_t warp_ops = 0;  // warp ops completed (counted once per warp)
};
LaunchStats last_launch_stats();

// Hardware limits the emulation enforces (an sm_90-class device).
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxStaticSharedBytes = 48 * 1024;
constexpr size_t kMaxSharedBytesPerBlock = 227 * 1024;
constexpr unsigned char kPoisonByte = 0xFF;

// Fills memory with the poison pattern (NaN for float and double).
void poison(void* p, size_t bytes);

// ---- guarded buffers ------------------------------------------------------
// Host memory with red zones before and after, filled with kPoisonByte and
// checked after every launch: a kernel writing out of bounds makes launch()
// throw EmulationError naming the buffer and the kernel. The payload starts
// poisoned (so outputs a kernel forgot to write read as NaN) unless filled.
class GuardedBytes {
 public:
  GuardedBytes(size_t bytes, std::string name);
  ~GuardedBytes();
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;

  void* bytes() { return payload_; }
  const void* bytes() const { return payload_; }
  size_t size_bytes() const { return bytes_; }
  const std::string& name() const { return name_; }
  // An empty string when both red zones are intact, else what was written.
  std::string corruption() const;
  // Throws EmulationError when a red zone was written.
  void check() const;
  // Refills the red zones (the launch checks do this after reporting).
  void repair_red_zones();

  static constexpr size_t kRedZoneBytes = 256;

 private:
  unsigned char* block_ = nullptr;
  unsigned char* payload_ = nullptr;
  size_t bytes_ = 0;
  std::string name_;
};

template <typename T>
class GuardedBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "GuardedBuffer holds plain data");

 public:
  explicit GuardedBuffer(size_t n, std::string name = "buffer") : bytes_(n * sizeof(T), std::move(name)), n_(n) {}
  GuardedBuffer(const std::vector<T>& init, std::string name = "buffer") : GuardedBuffer(init.size(), std::move(name)) {
    if (!init.empty()) std::memcpy(data(), init.data(), init.size() * sizeof(T));
  }

  T* data() { return static_cast<T*>(bytes_.bytes()); }
  const T* data() const { return static_cast<const T*>(bytes_.bytes()); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  void fill(const T& v) {
    for (size_t i = 0; i < n_; ++i) data()[i] = v;
  }
  std::vector<T> to_vector() const { return std::vector<T>(data(), data() + n_); }
  std::string corruption() const { return bytes_.corruption(); }
  void check() const { bytes_.check(); }

 private:
  GuardedBytes bytes_;
  size_t n_;
};

// ---- the per-thread context the vocabulary reads ---------------------------
struct ThreadContext {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

namespace detail {
extern thread_local const ThreadContext* t_current;
[[noreturn]] void fail_outside_kernel(const char* what);

enum class WarpOpKind : int { kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll, kSyncWarp };

// The core of every warp op. value: the lane's operand bits; param: source
// lane, delta, xor mask, or the vote's predicate. Returns the lane's result bits.
uint64_t warp_op(WarpOpKind kind, unsigned mask, uint64_t value, int value_bytes, int param, int width,
                 const char* file, int line);
void syncthreads(const char* file, int line);
unsigned activemask();
void yield_after_failed_cas();

void* shared_array_bytes(const char* file, int line, const char* function, const void* type_tag, size_t elem_bytes,
                         size_t align, long long n);
void* dynamic_shared_bytes(size_t align);

template <typename T>
inline const char type_tag = 0;

struct LaunchSpec {
  const char* name;
  const char* file;
  int line;
  dim3 grid;
  dim3 block;
  size_t shared_bytes;
};
void launch_erased(const LaunchSpec& spec, void (*thunk)(void*), void* closure);

template <typename T>
inline constexpr bool kShuffleable = std::is_trivially_copyable_v<T> && (sizeof(T) == 4 || sizeof(T) == 8);

template <typename T>
inline uint64_t to_bits(T v) {
  if constexpr (sizeof(T) == 4) return std::bit_cast<uint32_t>(v);
  else return std::bit_cast<uint64_t>(v);
}
template <typename T>
inline T from_bits(uint64_t b) {
  if constexpr (sizeof(T) == 4) return std::bit_cast<T>(static_cast<uint32_t>(b));
  else return std::bit_cast<T>(b);
}
}  // namespace detail

inline const ThreadContext& current_thread() {
  const ThreadContext* c = detail::t_current;
  if (c == nullptr) [[unlikely]] detail::fail_outside_kernel("threadIdx/blockIdx/blockDim/gridDim");
  return *c;
}

// Static shared memory of the running block: one array per (call site,
// enclosing function, type, n), shared by all threads of the block, poisoned.
template <typename T>
T* shared_array(const char* file, int line, long long n,
                std::source_location loc = std::source_location::current()) {
  return static_cast<T*>(detail::shared_array_bytes(file, line, loc.function_name(), &detail::type_tag<T>, sizeof(T),
                                                    alignof(T), n));
}

// The block's dynamic shared memory (the launch's shared_bytes), poisoned.
template <typename T>
T* dynamic_shared() {
  return static_cast<T*>(detail::dynamic_shared_bytes(alignof(T)));
}

// Runs kernel(args...) over the grid. Arguments are converted to the
// kernel's parameter types once, then copied into every thread's call.
template <typename... KernelArgs, typename... Args>
void launch(const char* name, const char* file, int line, void (*kernel)(KernelArgs...), dim3 grid, dim3 block,
            size_t shared_bytes, Args&&... args) {
  static_assert(sizeof...(KernelArgs) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  struct Closure {
    void (*kernel)(KernelArgs...);
    std::tuple<std::decay_t<KernelArgs>...> params;
  };
  Closure closure{kernel, std::tuple<std::decay_t<KernelArgs>...>(std::forward<Args>(args)...)};
  auto thunk = [](void* p) {
    auto* c = static_cast<Closure*>(p);
    std::apply(c->kernel, c->params);
  };
  detail::launch_erased(detail::LaunchSpec{name, file, line, grid, block, shared_bytes}, thunk, &closure);
}

}  // namespace acx::simt

// ===========================================================================
// The CUDA vocabulary, for kernel sources compiled under the emulation.
// ===========================================================================
#if defined(ACX_SIMT_EMULATION)

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...)
// Raw __shared__ cannot be emulated per block: kernels use ACX_SHARED_ARRAY
// and ACX_DYNAMIC_SHARED from kernels/runtime/device_api.h.
#define __shared__ static_assert(false, "use ACX_SHARED_ARRAY / ACX_DYNAMIC_SHARED instead of __shared__");

#define threadIdx (::acx::simt::current_thread().thread_idx)
#define blockIdx (::acx::simt::current_thread().block_idx)
#define blockDim (::acx::simt::current_thread().block_dim)
#define gridDim (::acx::simt::current_thread().grid_dim)

inline constexpr int warpSize = 32;

// A barrier for all threads of the block; the call site identifies it.
#define __syncthreads() ::acx::simt::detail::syncthreads(__FILE__, __LINE__)

inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location loc = std::source_location::current()) {
  ::acx::simt::detail::warp_op(::acx::simt::detail::WarpOpKind::kSyncWarp, mask, 0, 4, 0, 32, loc.file_name(),
                               static_cast<int>(loc.line()));
}

// ---- warp shuffles (exact PTX shfl.sync semantics, any 4- or 8-byte type) --
template <typename T>
  requires ::acx::simt::detail::kShuffleable<T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
                     std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return from_bits<T>(warp_op(WarpOpKind::kShflIdx, mask, to_bits(var), sizeof(T), src_lane, width, loc.file_name(),
                              static_cast<int>(loc.line())));
}

template <typename T>
  requires ::acx::simt::detail::kShuffleable<T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                        std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return from_bits<T>(warp_op(WarpOpKind::kShflUp, mask, to_bits(var), sizeof(T), static_cast<int>(delta), width,
                              loc.file_name(), static_cast<int>(loc.line())));
}

template <typename T>
  requires ::acx::simt::detail::kShuffleable<T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                          std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return from_bits<T>(warp_op(WarpOpKind::kShflDown, mask, to_bits(var), sizeof(T), static_cast<int>(delta), width,
                              loc.file_name(), static_cast<int>(loc.line())));
}

template <typename T>
  requires ::acx::simt::detail::kShuffleable<T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                         std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return from_bits<T>(warp_op(WarpOpKind::kShflXor, mask, to_bits(var), sizeof(T), lane_mask, width, loc.file_name(),
                              static_cast<int>(loc.line())));
}

// ---- warp votes -------------------------------------------------------------
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return static_cast<unsigned>(
      warp_op(WarpOpKind::kBallot, mask, 0, 4, predicate != 0, 32, loc.file_name(), static_cast<int>(loc.line())));
}
inline int __any_sync(unsigned mask, int predicate, std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return static_cast<int>(
      warp_op(WarpOpKind::kAny, mask, 0, 4, predicate != 0, 32, loc.file_name(), static_cast<int>(loc.line())));
}
inline int __all_sync(unsigned mask, int predicate, std::source_location loc = std::source_location::current()) {
  using namespace ::acx::simt::detail;
  return static_cast<int>(
      warp_op(WarpOpKind::kAll, mask, 0, 4, predicate != 0, 32, loc.file_name(), static_cast<int>(loc.line())));
}
// The lanes of the caller's warp that have not returned. Not a sync point;
// as on the GPU, a mask from __activemask() does not promise convergence.
inline unsigned __activemask() { return ::acx::simt::detail::activemask(); }

// ---- atomics ------------------------------------------------------------------
// Fibers of one launch run on one host thread, one at a time, so a plain
// read-modify-write is atomic with respect to the kernel's other threads.
// The interleaving of atomics follows the schedule order.
inline float atomicAdd(float* address, float val) {
  float old = *address;
  *address = old + val;
  return old;
}
inline double atomicAdd(double* address, double val) {
  double old = *address;
  *address = old + val;
  return old;
}
inline int atomicAdd(int* address, int val) {
  int old = *address;
  *address = static_cast<int>(static_cast<unsigned>(old) + static_cast<unsigned>(val));  // wraps, as on the GPU
  return old;
}
inline unsigned atomicAdd(unsigned* address, unsigned val) {
  unsigned old = *address;
  *address = old + val;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long val) {
  unsigned long long old = *address;
  *address = old + val;
  return old;
}
inline int atomicMax(int* address, int val) {
  int old = *address;
  if (val > old) *address = val;
  return old;
}
inline unsigned atomicMax(unsigned* address, unsigned val) {
  unsigned old = *address;
  if (val > old) *address = val;
  return old;
}
// A failed compare-and-swap yields to the other threads, so that spin locks
// between threads of a block make progress as on Volta and later.
inline int atomicCAS(int* address, int compare, int val) {
  int old = *address;
  if (old == compare) *address = val;
  else ::acx::simt::detail::yield_after_failed_cas();
  return old;
}
inline unsigned atomicCAS(unsigned* address, unsigned compare, unsigned val) {
  unsigned old = *address;
  if (old == compare) *address = val;
  else ::acx::simt::detail::yield_after_failed_cas();
  return old;
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare, unsigned long long val) {
  unsigned long long old = *address;
  if (old == compare) *address = val;
  else ::acx::simt::detail::yield_after_failed_cas();
  return old;
}

// ---- loads and fast math ---------------------------------------------------------
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
// The GPU's approximate intrinsics; here exact, so tests keep a tolerance.
#if defined(__GLIBC__)
// glibc's <math.h> already declares __expf and __logf: its own exact expf/logf.
#else
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
#endif
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }  // NaN -> 0
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

#endif  // ACX_SIMT_EMULATION
