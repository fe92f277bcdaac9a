#include "host/dist/nccl_comm.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <map>
#include <vector>

#include "kernels/runtime/error.h"

#if ACX_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace acx::dist {

namespace {

#if ACX_WITH_NCCL
void check_nccl(ncclResult_t rc, const char* call, const char* file, int line) {
  if (rc == ncclSuccess) return;
  throw Error(fmt::format("{}:{}: {} failed: {} ({})", file, line, call, ncclGetErrorString(rc), ncclGetLastError(nullptr)));
}
#define ACX_NCCL(call) check_nccl((call), #call, __FILE__, __LINE__)
#endif

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

}  // namespace

bool built_with_nccl() { return ACX_WITH_NCCL != 0; }

std::string nccl_unusable_reason(const Comm& world, const Device& dev) {
  // Every rank gathers where the others are, whatever its own answer, so
  // that the collective is entered by all.
  const std::string where = dev.is_cuda() ? fmt::format("{}:cuda:{}", host_name(), dev.cuda_ordinal()) : "";
  const std::vector<std::string> all = world.all_gather(where);
  if (!built_with_nccl()) return "this acx was built without NCCL (a CUDA build with MPI has it)";
  std::map<std::string, int> first;
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    if (all[r].empty()) return fmt::format("rank {} runs on the CPU", r);
    const auto [it, fresh] = first.emplace(all[r], r);
    if (!fresh)
      return fmt::format("ranks {} and {} share {} (NCCL cannot put two ranks on one GPU)", it->second, r, all[r]);
  }
  return "";
}

#if ACX_WITH_NCCL

NcclComm::NcclComm(const Comm& world, const Device& dev) : dev_(dev) {
  ACX_CHECK(dev.is_cuda(), "NCCL needs a CUDA device");
  ncclUniqueId id;
  std::string bytes;
  if (world.rank() == 0) {
    ACX_NCCL(ncclGetUniqueId(&id));
    bytes.assign(reinterpret_cast<const char*>(&id), sizeof(id));
  }
  bytes = world.broadcast(bytes);
  ACX_CHECK(bytes.size() == sizeof(id), "the broadcast NCCL id has the wrong size");
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(&id));
  ACX_CHECK(cudaSetDevice(dev.cuda_ordinal()) == cudaSuccess, "cudaSetDevice failed before ncclCommInitRank");
  ncclComm_t c = nullptr;
  ACX_NCCL(ncclCommInitRank(&c, world.size(), id, world.rank()));
  comm_ = c;
}

NcclComm::~NcclComm() {
  if (!comm_) return;
  // Unwinding from an error, the peers may never reach the destroy's
  // synchronization: abort the communicator instead.
  if (std::uncaught_exceptions() > 0) {
    ncclCommAbort(static_cast<ncclComm_t>(comm_));
  } else {
    ncclCommDestroy(static_cast<ncclComm_t>(comm_));
  }
}

void NcclComm::all_reduce(float* x, int64_t n, bool mean) const {
  if (n == 0) return;
  ACX_NCCL(ncclAllReduce(x, x, static_cast<size_t>(n), ncclFloat, mean ? ncclAvg : ncclSum,
                         static_cast<ncclComm_t>(comm_), static_cast<cudaStream_t>(dev_.stream())));
}

#else

NcclComm::NcclComm(const Comm&, const Device& dev) : dev_(dev) {
  throw Error("this acx was built without NCCL (a CUDA build with MPI has it)");
}
NcclComm::~NcclComm() = default;
void NcclComm::all_reduce(float*, int64_t, bool) const {
  throw Error("this acx was built without NCCL");
}

#endif

}  // namespace acx::dist
