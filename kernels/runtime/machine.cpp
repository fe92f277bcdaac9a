#include "kernels/runtime/machine.h"

#include <omp.h>

#include <fstream>
#include <thread>

#include "kernels/runtime/cuda_api.h"

extern "C" {
char* openblas_get_config(void);
int openblas_get_num_threads(void);
}

namespace acx {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown CPU";
}

MachineInfo query_machine() {
  MachineInfo m;
  m.cpu_model = cpu_model_name();
  m.cpu_threads = omp_get_max_threads();
  m.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  m.blas = openblas_get_config();
  m.blas_threads = openblas_get_num_threads();
  m.cuda_build = cuda_api::implementation();
  m.cuda_runtime = cuda_api::runtime_version();
  m.cuda_driver = cuda_api::driver_version();
  std::string why;
  const int n = cuda_api::device_count(&why);
  for (int i = 0; i < n; ++i) {
    const cuda_api::DeviceProps p = cuda_api::properties(i);
    CudaDeviceInfo d;
    d.ordinal = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.memory_gib = static_cast<double>(p.total_memory) / (1024.0 * 1024.0 * 1024.0);
    d.multiprocessors = p.multiprocessors;
    d.clock_mhz = p.clock_khz / 1000;
    m.cuda_devices.push_back(d);
  }
  if (n == 0) m.cuda_unusable = why;
  return m;
}

}  // namespace acx
