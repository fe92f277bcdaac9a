#include "kernels/runtime/device.h"

#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include <ostream>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__SSE2__)
#include <immintrin.h>
#define ACX_HAS_MXCSR 1
#endif

#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"

extern "C" {
// OpenBLAS's own controls (declared in its cblas.h on Debian; repeated here
// so that another CBLAS header still compiles).
void openblas_set_num_threads(int num_threads);
char* openblas_get_config(void);
}

namespace acx {

struct Device::State {
  Backend backend = Backend::kCpu;
  int ordinal = -1;
  int cpu_threads = 1;
  void* stream = nullptr;
  void* blas = nullptr;
  std::string description;

  ~State() {
    if (backend == Backend::kCuda) {
      cuda_api::blas_destroy(blas);
      cuda_api::stream_destroy(stream);
    }
  }
};

const char* backend_name(Backend b) { return b == Backend::kCuda ? "cuda" : "cpu"; }

std::string cuda_built_archs() {
#if defined(ACX_CUDA_ARCHS)
  return ACX_CUDA_ARCHS;
#else
  return "";
#endif
}

std::string cuda_arch_mismatch(int major, int minor, const std::string& archs) {
  const int cc = 10 * major + minor;
  std::string list, entry;
  std::vector<std::string> entries;
  for (char c : archs + ";") {
    if (c == ';' || c == ',' || c == ' ') {
      if (!entry.empty()) entries.push_back(entry);
      entry.clear();
    } else {
      entry += c;
    }
  }
  if (entries.empty()) return "";
  for (const std::string& e : entries) {
    if (e == "native" || e.rfind("all", 0) == 0) return "";
    const size_t dash = e.find('-');
    const std::string num = e.substr(0, dash), kind = dash == std::string::npos ? "" : e.substr(dash + 1);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) return "";
    const int a = std::stoi(num);
    const bool sass = kind != "virtual", ptx = kind != "real";
    if (sass && a / 10 == major && a <= cc) return "";
    if (ptx && a <= cc) return "";
    list += (list.empty() ? "" : ", ") + (sass ? "sm_" + num : std::string()) +
            (sass && ptx ? " + " : "") + (ptx ? "compute_" + num + " PTX" : std::string());
  }
  return "its compute capability is " + std::to_string(major) + "." + std::to_string(minor) +
         ", and this acx has GPU code for " + list + " only: rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
         std::to_string(cc);
}

std::string cuda_unusable_reason() {
  std::string why;
  if (cuda_api::device_count(&why) == 0) return why.empty() ? std::string("no CUDA device") : why;
  const std::string archs = cuda_built_archs();
  if (archs.empty()) return {};
  const cuda_api::DeviceProps p = cuda_api::properties(0);
  const std::string mismatch = cuda_arch_mismatch(p.major, p.minor, archs);
  return mismatch.empty() ? std::string() : "cuda:0 (" + p.name + ") cannot run it: " + mismatch;
}

Device Device::create(const std::string& spec, int cpu_threads, std::ostream* note) {
  Backend backend;
  int ordinal = 0;
  if (spec == "cpu") {
    backend = Backend::kCpu;
  } else if (spec == "auto") {
    const std::string why = cuda_unusable_reason();
    backend = why.empty() ? Backend::kCuda : Backend::kCpu;
    if (!why.empty() && note) *note << "acx: no usable CUDA device (" << why << "); running on the CPU\n";
  } else if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    backend = Backend::kCuda;
    if (spec.size() >= 5) {
      const std::string num = spec.substr(5);
      ACX_USAGE_CHECK(!num.empty() && num.find_first_not_of("0123456789") == std::string::npos && num.size() < 4,
                      "invalid device " + quote_input(spec) + ": expected cuda:N with N a device number");
      ordinal = std::stoi(num);
    }
    std::string why;
    const int n = cuda_api::device_count(&why);
    if (n == 0) throw Error("device " + quote_input(spec) + " requested but no CUDA device is usable: " + why);
    if (ordinal >= n) {
      throw UsageError("device " + quote_input(spec) + " requested but only " + std::to_string(n) +
                       " CUDA device(s) exist");
    }
    if (!cuda_built_archs().empty()) {
      const cuda_api::DeviceProps p = cuda_api::properties(ordinal);
      const std::string mismatch = cuda_arch_mismatch(p.major, p.minor, cuda_built_archs());
      if (!mismatch.empty())
        throw Error("device " + quote_input(spec) + " (" + p.name + ") cannot run this build: " + mismatch);
    }
  } else {
    throw UsageError("unknown device " + quote_input(spec) + ": expected cpu, cuda, cuda:N or auto");
  }

  Device d;
  d.state_ = std::make_shared<State>();
  State& s = *d.state_;
  s.backend = backend;
  s.cpu_threads = cpu_threads > 0 ? cpu_threads : omp_get_max_threads();
  if (cpu_threads > 0) {
    omp_set_num_threads(cpu_threads);
    openblas_set_num_threads(cpu_threads);
  }
  if (backend == Backend::kCuda) {
    s.ordinal = ordinal;
    cuda_api::set_device(ordinal);
    s.stream = cuda_api::stream_create();
    s.blas = cuda_api::blas_create(s.stream);
    const cuda_api::DeviceProps p = cuda_api::properties(ordinal);
    s.description = "cuda:" + std::to_string(ordinal) + " (" + p.name + ", sm_" + std::to_string(p.major) +
                    std::to_string(p.minor) + ")";
  } else {
    s.description = "cpu (" + std::to_string(s.cpu_threads) + " threads, " + openblas_get_config() + ")";
  }
  return d;
}

Backend Device::backend() const { return state_->backend; }
int Device::cuda_ordinal() const { return state_->ordinal; }
int Device::cpu_threads() const { return state_->cpu_threads; }

void Device::set_cpu_threads(int n) const {
  ACX_CHECK(n >= 1, "a device needs at least one CPU thread");
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  state_->cpu_threads = n;
}
void* Device::stream() const { return state_->stream; }
void* Device::blas() const { return state_->blas; }
std::string Device::describe() const { return state_->description; }

uint64_t Device::memory_bytes() const {
  if (is_cuda()) return cuda_api::properties(state_->ordinal).total_memory;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : UINT64_MAX;
}

#ifdef ACX_HAS_MXCSR
namespace {
constexpr unsigned kFtzDaz = 0x8040u;  // MXCSR bits 15 (flush to zero) and 6 (denormals are zero)
}
#endif

bool SubnormalsAsZero::available() {
#ifdef ACX_HAS_MXCSR
  return true;
#else
  return false;
#endif
}

SubnormalsAsZero::SubnormalsAsZero(const Device& device) {
#ifdef ACX_HAS_MXCSR
  if (device.is_cuda() || (_mm_getcsr() & kFtzDaz) == kFtzDaz) return;
  threads_ = device.cpu_threads();
#pragma omp parallel num_threads(threads_)
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
#else
  (void)device;
#endif
}

SubnormalsAsZero::~SubnormalsAsZero() {
#ifdef ACX_HAS_MXCSR
  if (threads_ == 0) return;
#pragma omp parallel num_threads(threads_)
  _mm_setcsr(_mm_getcsr() & ~kFtzDaz);
#endif
}

void Device::synchronize() const {
  if (is_cuda()) cuda_api::stream_synchronize(state_->stream);
}

}  // namespace acx
