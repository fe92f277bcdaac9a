// nccl_comm.h: NCCL for device buffers between the ranks of one launch,
// bootstrapped through MPI: rank 0's ncclGetUniqueId is broadcast over
// MPI, then every rank calls ncclCommInitRank; collectives run on the
// device's stream. Built only in CUDA builds with MPI (ACX_WITH_NCCL:
// the CUDA toolkit's nccl.h and libnccl); elsewhere constructing one throws.
//
// NCCL cannot put two ranks on one GPU. nccl_unusable_reason() says when
// that is the case (or NCCL is not built in), and the caller falls back to
// staging through the host and MPI, saying so.
#pragma once

#include <cstdint>
#include <string>

#include "host/dist/comm.h"
#include "kernels/runtime/device.h"

namespace acx::dist {

bool built_with_nccl();

// Why NCCL cannot serve this launch on these devices ("" when it can):
// not built in, a CPU device, or two ranks on one GPU of one host. A
// collective: every rank must call it.
std::string nccl_unusable_reason(const Comm& world, const Device& dev);

class NcclComm {
 public:
  // Collective over `world`: every rank, each with its own CUDA device.
  NcclComm(const Comm& world, const Device& dev);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // In place, on the device's stream (asynchronous): x <- the mean over the
  // ranks (ncclAvg), or the sum when `mean` is false.
  void all_reduce(float* x, int64_t n, bool mean) const;

 private:
  Device dev_;
  void* comm_ = nullptr;  // ncclComm_t
};

}  // namespace acx::dist
