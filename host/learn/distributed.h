// distributed.h: `acx train` launched as several processes (`mpirun -np P`,
// `srun`), dist.mode = population (docs/distributed.md).
//
// population: the run.agents = K members are spread over the P ranks in
// contiguous blocks of K / P. Rank r trains members [r K/P, (r+1) K/P) as
// one process trains `acx train --agents K/P --seed (run.seed + r K/P)`,
// bit for bit, into DIR/rank-r/ (a complete run directory of its own);
// there is no communication while they train. Rank 0 owns DIR: the
// launch's config.toml, population.json (which rank trains which members,
// with which seed) and, at the end, the population's summary.json.
//
// Before anything is written every rank checks, together, that the launch
// is one run: the same acx binary and the same resolved config on every
// rank (else exit 2 naming the rank and the first differing key), a mode
// that has several ranks, and K a multiple of P.
#pragma once

#include <string>

#include "host/dist/comm.h"
#include "host/io/config.h"
#include "host/learn/trainer.h"

namespace acx {

// Whether `acx train` with this config in this world takes the distributed
// path (several ranks, or a dist.mode other than none).
bool wants_distributed(const dist::Comm& comm, const Config& cfg);

// Trains the population (see above). run.device "cuda" (or "auto" where
// CUDA is usable) gives each rank the GPU of its local rank.
TrainResult train_distributed(dist::Comm& comm, Config cfg, const std::string& out_dir, bool resume);

// The first rank whose binary or resolved config differs from rank 0's, as
// a message naming it and the first differing key; empty when all agree.
// `identities` are every rank's identity_of() text.
std::string first_difference(const std::vector<std::string>& identities);
// What check_same_run compares: a hash of the running binary and the config.
std::string identity_of(const Config& cfg, uint64_t binary_hash);

}  // namespace acx
