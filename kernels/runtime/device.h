// kernels/runtime/: the device runtime, the lowest floor of acx. Device
// selection (this file), buffers and host arrays, errors, BLAS, the CUDA
// runtime interface with its real, emulated and absent implementations, op
// dispatch, launch limits, machine facts, and the vocabulary every kernel is
// written in (device_api.h) with its SIMT emulation (simt_emu.h). It
// includes nothing of acx outside this folder; every other floor may include
// it (tools/check_layers.py checks both).
//
// device.h: the device a run uses, chosen at run time: `cpu`, `cuda`
// (`cuda:N` for the N-th GPU) or `auto`. A Device owns its stream, its BLAS
// handle and, on the CPU, the thread count given to OpenMP and OpenBLAS.
// Copies of a Device share those resources; the last copy releases them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

namespace acx {

enum class Backend { kCpu, kCuda };

const char* backend_name(Backend b);

class Device {
 public:
  // Parses `spec` ("cpu", "cuda", "cuda:N", "auto"). `auto` takes the CUDA
  // device when one is usable and otherwise the CPU, printing one line to
  // `note` (when not null) that says why. `cpu_threads` <= 0 keeps OpenMP's
  // default. Throws UsageError for an unknown spec, Error when `cuda` is asked
  // for and none is usable.
  static Device create(const std::string& spec = "auto", int cpu_threads = 0, std::ostream* note = nullptr);
  static Device cpu(int cpu_threads = 0) { return create("cpu", cpu_threads); }

  Backend backend() const;
  bool is_cuda() const { return backend() == Backend::kCuda; }
  int cuda_ordinal() const;
  int cpu_threads() const;
  // The CPU threads of OpenMP and OpenBLAS from now on (CPU backend; n >= 1).
  // Results do not depend on it: every kernel's arithmetic is fixed by its
  // sizes. The thread governor (host/learn/thread_governor.h) calls it.
  void set_cpu_threads(int n) const;
  // Opaque handles, meaningful on the CUDA backend (cudaStream_t, cublasHandle_t).
  void* stream() const;
  void* blas() const;
  // Waits for all work queued on this device's stream.
  void synchronize() const;
  // One line, e.g. "cpu (2 threads, OpenBLAS 0.3.21)" or "cuda:0 (NVIDIA H100, sm_90)".
  std::string describe() const;
  // The memory this device's buffers come from: the machine's physical
  // memory on the CPU, the GPU's global memory on CUDA (bytes). What a run
  // may ask for at most, before allocating it.
  uint64_t memory_bytes() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// While alive, the CPU threads that run a CPU device's kernels (OpenMP's
// team, which OpenBLAS shares) treat subnormal floats as zero: FTZ and DAZ
// in x86's MXCSR. Adam's moments of a parameter whose gradient has stopped
// (a dead ReLU unit's weights) decay through the subnormal range for
// thousands of steps, and every operation on a subnormal costs a microcode
// assist of about a hundred cycles: on Hopper-v5 a fifth of an update went
// to Adam on them. The learner's update runs inside this scope; the envs do
// not (gymnasium's tasks are followed bit for bit, subnormals included).
// Results stay deterministic: the same inputs flush the same way on every
// run and at every thread count. No effect on CUDA (the GPU handles fp32
// subnormals at full speed), nor on CPUs without MXCSR. Restores on exit.
class SubnormalsAsZero {
 public:
  explicit SubnormalsAsZero(const Device& device);
  ~SubnormalsAsZero();
  // Whether this build's CPU has the modes (x86 with SSE2); elsewhere the scope does nothing.
  static bool available();
  SubnormalsAsZero(const SubnormalsAsZero&) = delete;
  SubnormalsAsZero& operator=(const SubnormalsAsZero&) = delete;

 private:
  int threads_ = 0;  // 0: nothing was changed
};

// Why the CUDA backend cannot be used here (empty when it can): no device,
// no driver, not built, or a GPU this build has no code for.
std::string cuda_unusable_reason();

// Why code built for `archs` (CMAKE_CUDA_ARCHITECTURES as written, e.g.
// "80;90": each entry SASS and PTX, "-real" SASS only, "-virtual" PTX only)
// cannot run on a GPU of compute capability major.minor; empty when it can.
// SASS for sm_XY runs on X.Y and the later minors of X; PTX for compute_XY
// is compiled by the driver for any capability from X.Y on. "native",
// "all" and "all-major" are not second-guessed (empty).
std::string cuda_arch_mismatch(int major, int minor, const std::string& archs);
// The architectures this build's CUDA code was compiled for ("" without CUDA).
std::string cuda_built_archs();

}  // namespace acx
