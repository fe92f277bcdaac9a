// replay.h: the replay buffer on the device, and its n-step sampler.
//
// Storage is SoA and circular over TIME: one row holds one env step of all
// n_envs envs, so a store is one contiguous write per array and an n-step
// window of env i is the same column in consecutive rows. With
// capacity_steps = ceil(capacity / n_envs) rows:
//
//   obs        (capacity_steps, n_envs, obs_dim)  the observation the action was chosen on
//   action     (capacity_steps, n_envs, act_dim)
//   reward     (capacity_steps, n_envs)
//   next_obs   (capacity_steps, n_envs, obs_dim)  the env's final_obs: the step's own
//                                                 observation, before any auto-reset
//   terminated (capacity_steps, n_envs)  uint8
//   truncated  (capacity_steps, n_envs)  uint8
//
// Rows are written at `head`, which wraps; the stored rows, oldest first, are
// positions 0 .. size_steps - 1, row (head - size_steps + p) mod capacity_steps.
//
// Sampling is uniform over the stored (row, env) pairs, one thread per
// sample, the pair drawn by Philox keyed (seed, kReplaySample, sample index,
// counter = the update number): independent of the thread layout, the same on
// both backends, and exact after a resume.
//
// Members (independent agents trained together, --agents K): the envs split
// into n_members equal contiguous groups, member m owning envs
// [m n_envs / K, (m + 1) n_envs / K). A sample of `batch` per member gives a
// (K, batch) batch whose member-m rows come only from member m's envs, so
// agents never learn from each other's data. With one member (the default)
// every env is drawn from. Each sample is an n-step window
// from (p, i): R = sum_j gamma^j r_{p+j}, j = 0 .. k-1, where the window stops
// after j = n-1, or at a terminated or truncated transition, or at the newest
// stored row (end of data). The batch then holds
//   next_obs = next_obs of the window's last transition, discount = gamma^k,
// and discount = 0 if that transition terminated. A truncated one still
// bootstraps: its next_obs is the final observation of the cut episode. So the
// TD target is y = reward + discount * Q'(next_obs, mu'(next_obs)).
// Windows are counted in positions from the oldest row, so they never reach a
// row that was overwritten or not yet written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/counter.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/host_array.h"

namespace acx {

// ---- element math (host + device) ---------------------------------------------

// Device views of the storage, and what a store writes into row ring->head.
struct ReplayStoreArgs {
  int64_t n_envs;
  int obs_dim, act_dim;
  const RingPosition* ring;     // device: the row written is ring->head
  const float* src_obs;         // (n_envs, obs_dim)
  const float* src_action;      // (n_envs, act_dim)
  const float* src_reward;      // (n_envs)
  const float* src_next_obs;    // (n_envs, obs_dim)
  const uint8_t* src_terminated;  // (n_envs)
  const uint8_t* src_truncated;   // (n_envs)
  float* obs;                   // (capacity_steps, n_envs, obs_dim)
  float* action;                // (capacity_steps, n_envs, act_dim)
  float* reward;                // (capacity_steps, n_envs)
  float* next_obs;              // (capacity_steps, n_envs, obs_dim)
  uint8_t* terminated;          // (capacity_steps, n_envs)
  uint8_t* truncated;           // (capacity_steps, n_envs)
};

// Words of one stored step: the arrays one after another, so that a kernel
// thread (or a CPU iteration) copies one word and neighbours copy neighbours.
ACX_HD int64_t replay_store_words(const ReplayStoreArgs& a) {
  return a.n_envs * (2 * static_cast<int64_t>(a.obs_dim) + a.act_dim + 3);
}

ACX_HD void replay_store_at(const ReplayStoreArgs& a, int64_t w) {
  const int64_t n_obs = a.n_envs * a.obs_dim, n_act = a.n_envs * a.act_dim, n = a.n_envs;
  const int64_t slot = a.ring->head;
  if (w < n_obs) {
    a.obs[slot * n_obs + w] = a.src_obs[w];
    return;
  }
  w -= n_obs;
  if (w < n_obs) {
    a.next_obs[slot * n_obs + w] = a.src_next_obs[w];
    return;
  }
  w -= n_obs;
  if (w < n_act) {
    a.action[slot * n_act + w] = a.src_action[w];
    return;
  }
  w -= n_act;
  if (w < n) {
    a.reward[slot * n + w] = a.src_reward[w];
  } else if (w < 2 * n) {
    a.terminated[slot * n + w - n] = a.src_terminated[w - n] ? 1 : 0;
  } else {
    a.truncated[slot * n + w - 2 * n] = a.src_truncated[w - 2 * n] ? 1 : 0;
  }
}

struct ReplaySampleArgs {
  // storage
  int64_t n_envs;
  int obs_dim, act_dim;
  int64_t capacity_steps;
  const RingPosition* ring;  // device: the next row to write and the rows stored, read when the kernel runs
  int64_t envs_per_member;  // n_envs / n_members
  int64_t batch;            // samples per member
  const float* obs;
  const float* action;
  const float* reward;
  const float* next_obs;
  const uint8_t* terminated;
  const uint8_t* truncated;
  // sampling
  int n_step;          // >= 1
  float gamma;
  uint64_t seed;
  DeviceCounter counter;  // the update number (kernels/counter.h)
  // the batch
  float* out_obs;       // (n_members, batch, obs_dim)
  float* out_action;    // (n_members, batch, act_dim)
  float* out_reward;    // (n_members, batch) n-step discounted return
  float* out_next_obs;  // (n_members, batch, obs_dim)
  float* out_discount;  // (n_members, batch) gamma^k, 0 after a termination
  int64_t* out_index;   // (n_members, batch) row * n_envs + env of the window's first transition; may be null
};

// The stored (position, member's env) pair of output row b, as
// position * envs_per_member + env: 64 random bits modulo the count (bias
// below count / 2^64).
ACX_HD int64_t replay_draw_item(uint64_t seed, uint64_t counter, int64_t b, int64_t n_items) {
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(RngPurpose::kReplaySample), static_cast<uint32_t>(b), counter);
  const uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
  return static_cast<int64_t>(bits % static_cast<uint64_t>(n_items));
}

// Output row b = member * batch + sample.
ACX_HD void replay_sample_at(const ReplaySampleArgs& a, int64_t b) {
  const int64_t member = b / a.batch;
  const int64_t head = a.ring->head, size_steps = a.ring->size;
  const int64_t item = replay_draw_item(a.seed, a.counter.get(), b, size_steps * a.envs_per_member);
  const int64_t pos = item / a.envs_per_member, env = member * a.envs_per_member + item % a.envs_per_member;
  const int64_t oldest = (head - size_steps + a.capacity_steps) % a.capacity_steps;
  const int64_t first = ((oldest + pos) % a.capacity_steps) * a.n_envs + env;
  int64_t last = first;
  float ret = 0.0f, g = 1.0f;
  bool terminal = false;
  for (int j = 0; j < a.n_step; ++j) {
    const int64_t p = pos + j;
    last = ((oldest + p) % a.capacity_steps) * a.n_envs + env;
    ret += g * a.reward[last];
    g *= a.gamma;
    if (a.terminated[last]) {
      terminal = true;
      break;
    }
    if (a.truncated[last] || p + 1 >= size_steps) break;
  }
  a.out_reward[b] = ret;
  a.out_discount[b] = terminal ? 0.0f : g;
  for (int d = 0; d < a.obs_dim; ++d) {
    a.out_obs[b * a.obs_dim + d] = a.obs[first * a.obs_dim + d];
    a.out_next_obs[b * a.obs_dim + d] = a.next_obs[last * a.obs_dim + d];
  }
  for (int d = 0; d < a.act_dim; ++d) a.out_action[b * a.act_dim + d] = a.action[first * a.act_dim + d];
  if (a.out_index) a.out_index[b] = first;
}

// ---- the buffer --------------------------------------------------------------------

struct ReplayConfig {
  int64_t capacity = 1'000'000;  // transitions, rounded up to whole env steps
  int64_t n_envs = 1;
  int obs_dim = 0, act_dim = 0;
  int n_step = 1;        // >= 1
  float gamma = 0.99f;   // in [0, 1]
  int n_members = 1;     // independent agents; n_envs must be a multiple
};

// A sampled batch, device memory: `rows` = n_members * batch rows, member
// m's samples in rows [m batch, (m + 1) batch).
struct ReplayBatch {
  ReplayBatch() = default;
  // with_index: also record each sample's storage position (tests, prioritized replay).
  ReplayBatch(const Device& dev, int64_t rows, int obs_dim, int act_dim, bool with_index = false);

  int64_t rows = 0;
  Buffer<float> obs;       // (rows, obs_dim)
  Buffer<float> action;    // (rows, act_dim)
  Buffer<float> reward;    // (rows) n-step discounted return
  Buffer<float> next_obs;  // (rows, obs_dim)
  Buffer<float> discount;  // (rows) gamma^k, or 0 when the window ended in a termination
  Buffer<int64_t> index;   // (rows) row * n_envs + env, or empty
};

class ReplayBuffer {
 public:
  // Throws UsageError for capacity < n_envs, n_step < 1, gamma outside [0, 1],
  // non-positive dims, or n_envs not a multiple of n_members. The storage
  // starts zeroed.
  ReplayBuffer(const Device& dev, const ReplayConfig& cfg);

  // Copies one step of all envs (device pointers, the shapes above without
  // the leading capacity_steps) into row head, then advances head. The ring
  // position lives on the device (read by the kernels when they run, so a
  // captured CUDA graph stays right) and is mirrored on the host.
  void store(const float* obs, const float* action, const float* reward, const float* next_obs,
             const uint8_t* terminated, const uint8_t* truncated);
  // `batch` windows per member drawn uniformly (see the top of this file)
  // into `out`, which must hold n_members * batch rows. Throws when batch < 1
  // or batch > the transitions a member has stored (size() / n_members).
  // `counter` keys the draws: a value, or a counter in device memory.
  void sample(int batch, uint64_t seed, DeviceCounter counter, ReplayBatch& out) const;
  // A batch sized for sample(batch, ...).
  ReplayBatch make_batch(int batch, bool with_index = false) const;

  const ReplayConfig& config() const { return cfg_; }
  int64_t size() const { return size_steps_ * cfg_.n_envs; }          // transitions stored
  int64_t capacity() const { return capacity_steps_ * cfg_.n_envs; }  // transitions it holds
  int64_t size_steps() const { return size_steps_; }
  int64_t capacity_steps() const { return capacity_steps_; }
  int64_t head() const { return head_; }
  // The ring position the device holds (a copy to the host): equal to
  // {head(), size_steps()} unless something went wrong.
  RingPosition device_ring() const;
  // Sets the ring position, host and device (head < capacity_steps, size <=
  // capacity_steps, and head == size until the ring is full): what a
  // trainer puts back when a graph capture that moved it failed.
  void set_ring(int64_t head, int64_t size_steps);
  // Device memory held, bytes.
  size_t bytes() const;
  // The bytes a buffer of `cfg` holds, computed before it is built
  // (UsageError when the size does not fit in 64 bits).
  static int64_t bytes_for(const ReplayConfig& cfg);

  // Checkpoints: every array in full (the shapes above) and "ring" =
  // int64 [capacity_steps, n_envs, obs_dim, act_dim, head, size_steps].
  std::vector<HostArray> to_host() const;
  // Restores what to_host gave; throws Error naming the array when one is
  // missing or its dtype, shape or size disagrees with this buffer.
  void from_host(const std::vector<HostArray>& arrays);

  // Device views (tests, the trainer's diagnostics).
  const float* obs_data() const { return obs_.data(); }
  const float* action_data() const { return action_.data(); }
  const float* reward_data() const { return reward_.data(); }
  const float* next_obs_data() const { return next_obs_.data(); }
  const uint8_t* terminated_data() const { return terminated_.data(); }
  const uint8_t* truncated_data() const { return truncated_.data(); }

 private:
  Device dev_;
  ReplayConfig cfg_;
  int64_t capacity_steps_ = 0;
  int64_t head_ = 0;
  int64_t size_steps_ = 0;
  Buffer<RingPosition> ring_;  // (1) head_ and size_steps_ on the device
  Buffer<float> obs_, action_, reward_, next_obs_;
  Buffer<uint8_t> terminated_, truncated_;
};

// ---- shells -----------------------------------------------------------------------
namespace cpu_kernels {
void replay_store(const ReplayStoreArgs& a);
void replay_sample(const ReplaySampleArgs& a, int64_t n_rows);
}  // namespace cpu_kernels

namespace cuda_kernels {
void replay_store(const ReplayStoreArgs& a, void* stream);
void replay_sample(const ReplaySampleArgs& a, int64_t n_rows, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
