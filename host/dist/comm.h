// host/dist/: training across processes. It stands on the runtime and the
// file formats; the learning system (host/learn/distributed.h) stands on it.
//
// comm.h: the processes of one `mpirun` or `srun` launch, over Open MPI
// (CPU-side: launch, bootstrap, small collectives of bytes). A build
// without MPI (ACX_MPI=OFF), or a plain launch of one process, is a world of
// one: rank 0 of 1, every collective a no-op, and MPI never initialized.
//
// MPI is initialized on the first call to world(), and only when a launcher
// started this process (Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx
// launchers, srun among them, set PMIX_RANK). shutdown() ends it: a clean
// MPI_Finalize when every rank ends the same way, MPI_Abort otherwise, so
// one failing rank brings the launch down instead of leaving the others
// waiting in a collective.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acx::dist {

// Whether this binary was built with MPI (ACX_MPI).
bool built_with_mpi();

class Comm {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // among the ranks on this node
  bool distributed() const { return size_ > 1; }
  // "mpirun", "srun (PMIx)" or "" when none launched this process.
  const std::string& launcher() const { return launcher_; }

  // Rank 0's bytes on every rank (`bytes` is read on rank 0 only).
  std::string broadcast(const std::string& bytes) const;
  // Every rank's bytes, in rank order, on every rank.
  std::vector<std::string> all_gather(const std::string& bytes) const;
  // Point to point, blocking: `bytes` to rank `to`, matched by its recv(from = this rank).
  void send(int to, const std::string& bytes) const;
  std::string recv(int from) const;
  void barrier() const;
  // In place: x <- the sum of x over the ranks (MPI_Allreduce, float32; the
  // order of the additions is the MPI library's choice).
  void all_reduce_sum(float* x, int64_t n) const;

  // Marks the error about to end this process as one every rank reaches
  // together (a bad config is bad on every rank): shutdown() then finalizes
  // cleanly and only rank 0 prints it.
  void mark_agreed_failure() { agreed_failure_ = true; }
  bool agreed_failure() const { return agreed_failure_; }

  Comm();  // world() builds the one instance

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool initialized_ = false, agreed_failure_ = false;
  std::string launcher_;
  friend void shutdown(int exit_code);
};

// The world of this process (initializes MPI once, when launched by mpirun or srun).
Comm& world();

// Whether world() has been asked for (and MPI possibly initialized).
bool world_started();

// Ends MPI before the process exits with exit_code: MPI_Finalize when the
// code is 0, the failure was agreed on or this rank is alone (mpirun -np 1),
// MPI_Abort(exit_code) otherwise.
void shutdown(int exit_code);

// A 64-bit FNV-1a hash of a byte string (the binary and config identity).
uint64_t fnv1a64(const std::string& bytes);

}  // namespace acx::dist
