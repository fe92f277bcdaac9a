// machine.h: facts about the machine a run is on, for `acx devices`, bench
// reports and run summaries.
#pragma once

#include <string>
#include <vector>

namespace acx {

struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;
  double memory_gib = 0;
  int multiprocessors = 0;
  int clock_mhz = 0;
};

struct MachineInfo {
  std::string cpu_model;
  int cpu_threads = 0;       // OpenMP's thread count
  int hardware_threads = 0;  // logical CPUs
  std::string blas;          // OpenBLAS's configuration string
  int blas_threads = 0;
  std::string cuda_build;    // "cuda", "emulation" or "none"
  std::string cuda_runtime, cuda_driver;
  std::vector<CudaDeviceInfo> cuda_devices;
  std::string cuda_unusable;  // why no CUDA device is usable (empty when one is)
};

MachineInfo query_machine();
std::string cpu_model_name();

}  // namespace acx
