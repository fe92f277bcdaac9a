#include "host/dist/comm.h"

#include <cstdlib>
#include <string>
#include <limits>
#include <memory>

#include "kernels/runtime/error.h"

#if ACX_WITH_MPI
#include <mpi.h>
#endif

namespace acx::dist {

namespace {

std::unique_ptr<Comm> g_world;

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

#if ACX_WITH_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string("MPI call failed: ") + what + ": " + std::string(text, static_cast<size_t>(len)));
}

constexpr int kTagBytes = 17;  // Comm::send and recv

int checked_count(size_t n) {
  ACX_CHECK(n <= static_cast<size_t>(std::numeric_limits<int>::max()), "a message of 2 GiB or more for MPI");
  return static_cast<int>(n);
}
#endif

}  // namespace

bool built_with_mpi() { return ACX_WITH_MPI != 0; }

Comm::Comm() {
  if (env_or_null("OMPI_COMM_WORLD_SIZE")) {
    launcher_ = "mpirun";
  } else if (env_or_null("PMIX_RANK")) {
    launcher_ = env_or_null("SLURM_JOB_ID") ? "srun (PMIx)" : "a PMIx launcher";
  } else if (env_or_null("PMI_RANK") || env_or_null("PMI_SIZE")) {
    launcher_ = "a PMI launcher";
  }
#if ACX_WITH_MPI
  if (launcher_.empty()) return;
  // MPI errors come back as codes (checked), not as aborts inside the library.
  check_mpi(MPI_Init(nullptr, nullptr), "MPI_Init");
  initialized_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  check_mpi(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
  MPI_Comm_free(&node);
#else
  // Launched by mpirun but built without MPI: every process would think it
  // is alone and they would all write the same run directory.
  const char* n = env_or_null("OMPI_COMM_WORLD_SIZE");
  if (!n) n = env_or_null("PMI_SIZE");
  if (n && std::string(n) != "1")
    throw UsageError(std::string("launched as ") + n +
                     " processes, but this acx was built without MPI (ACX_MPI=OFF, or Open MPI was missing when it "
                     "was built): install libopenmpi-dev (scripts/install_deps.sh) and rebuild");
#endif
}

std::string Comm::broadcast(const std::string& bytes) const {
  if (size_ == 1) return bytes;
#if ACX_WITH_MPI
  uint64_t n = rank_ == 0 ? bytes.size() : 0;
  check_mpi(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? bytes : std::string(n, '\0');
  if (n > 0) check_mpi(MPI_Bcast(out.data(), checked_count(n), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
#else
  return bytes;
#endif
}

void Comm::send(int to, const std::string& bytes) const {
  if (to < 0 || to >= size_ || to == rank_)
    throw Error("Comm::send to rank " + std::to_string(to) + " of " + std::to_string(size_) + " from rank " +
                std::to_string(rank_));
#if ACX_WITH_MPI
  const uint64_t n = bytes.size();
  check_mpi(MPI_Send(&n, 1, MPI_UINT64_T, to, kTagBytes, MPI_COMM_WORLD), "MPI_Send");
  if (n > 0) check_mpi(MPI_Send(bytes.data(), checked_count(n), MPI_CHAR, to, kTagBytes, MPI_COMM_WORLD), "MPI_Send");
#endif
}

std::string Comm::recv(int from) const {
  if (from < 0 || from >= size_ || from == rank_)
    throw Error("Comm::recv from rank " + std::to_string(from) + " of " + std::to_string(size_) + " on rank " +
                std::to_string(rank_));
#if ACX_WITH_MPI
  uint64_t n = 0;
  check_mpi(MPI_Recv(&n, 1, MPI_UINT64_T, from, kTagBytes, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  std::string out(n, '\0');
  if (n > 0)
    check_mpi(MPI_Recv(out.data(), checked_count(n), MPI_CHAR, from, kTagBytes, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
              "MPI_Recv");
  return out;
#else
  return {};
#endif
}

std::vector<std::string> Comm::all_gather(const std::string& bytes) const {
  if (size_ == 1) return {bytes};
#if ACX_WITH_MPI
  std::vector<int> counts(size_), offsets(size_);
  const int mine = checked_count(bytes.size());
  check_mpi(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  size_t total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[r] = checked_count(total);
    total += static_cast<size_t>(counts[r]);
  }
  std::string all(total, '\0');
  check_mpi(MPI_Allgatherv(bytes.data(), mine, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR,
                           MPI_COMM_WORLD),
            "MPI_Allgatherv");
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.push_back(all.substr(offsets[r], counts[r]));
  return out;
#else
  return {bytes};
#endif
}

void Comm::all_reduce_sum(float* x, int64_t n) const {
  if (size_ == 1 || n == 0) return;
#if ACX_WITH_MPI
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, x, checked_count(static_cast<size_t>(n)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
#else
  (void)x;
#endif
}

void Comm::barrier() const {
#if ACX_WITH_MPI
  if (size_ > 1) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

Comm& world() {
  if (!g_world) g_world = std::make_unique<Comm>();
  return *g_world;
}

bool world_started() { return g_world != nullptr; }

void shutdown(int exit_code) {
  if (!g_world || !g_world->initialized_) return;
#if ACX_WITH_MPI
  if (exit_code == 0 || g_world->agreed_failure_ || g_world->size_ == 1) {
    MPI_Finalize();
  } else {
    // The others may be waiting in a collective for this rank: end them all.
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
#endif
  g_world->initialized_ = false;
}

uint64_t fnv1a64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace acx::dist
