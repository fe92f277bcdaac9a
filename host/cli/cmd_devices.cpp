// acx devices: what this machine offers a run.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "host/cli/commands.h"
#include "kernels/runtime/machine.h"

namespace acx {

namespace {

void print_devices() {
  const MachineInfo m = query_machine();
  fmt::print("cpu: {} ({} hardware threads, OpenMP uses {})\n", m.cpu_model, m.hardware_threads, m.cpu_threads);
  fmt::print("blas: {} ({} threads)\n", m.blas, m.blas_threads);
  if (m.cuda_build == "none") {
    fmt::print("cuda: not built into this acx (configure with -DACX_CUDA=ON where nvcc is installed)\n");
    return;
  }
  if (m.cuda_build == "emulation") {
    fmt::print("cuda: SIMT emulation build: kernels' CUDA source runs on the CPU, for tests only\n");
  } else {
    fmt::print("cuda: runtime {}, driver {}\n", m.cuda_runtime.empty() ? "unknown" : m.cuda_runtime,
               m.cuda_driver.empty() ? "none" : m.cuda_driver);
  }
  if (m.cuda_devices.empty()) {
    fmt::print("cuda: no CUDA device is usable: {}\n", m.cuda_unusable);
  }
  for (const CudaDeviceInfo& d : m.cuda_devices) {
    fmt::print("cuda:{}: {} (compute capability {}.{}, {:.1f} GiB, {} SMs, {} MHz)\n", d.ordinal, d.name, d.major,
               d.minor, d.memory_gib, d.multiprocessors, d.clock_mhz);
  }
}

}  // namespace

void register_devices_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("devices", "List the CPU, the BLAS and every CUDA device usable by acx");
  add_command(sub, print_devices);
}

}  // namespace acx
