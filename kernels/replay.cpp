// replay.cpp: the replay buffer's host side: shapes, checks, the ring
// counters, dispatch to the CPU or CUDA shell, and checkpoints.
#include "kernels/replay.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

template <typename T>
HostArray host_array(const std::string& name, const char* dtype, std::vector<int64_t> shape, const Buffer<T>& buf) {
  HostArray h{name, dtype, std::move(shape), std::vector<uint8_t>(buf.bytes())};
  if (!buf.empty()) buf.copy_to_host(reinterpret_cast<T*>(h.bytes.data()), buf.size());
  return h;
}

const HostArray& find_array(const std::vector<HostArray>& arrays, const std::string& name, const char* dtype,
                            const std::vector<int64_t>& shape, size_t elem_bytes) {
  auto it = std::find_if(arrays.begin(), arrays.end(), [&](const HostArray& h) { return h.name == name; });
  if (it == arrays.end()) throw Error("replay buffer checkpoint: array '" + name + "' is missing");
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (it->dtype != dtype || it->shape != shape || it->bytes.size() != static_cast<size_t>(n) * elem_bytes) {
    throw Error("replay buffer checkpoint: array '" + name + "' is " + it->dtype + " " + shape_text(it->shape) + " (" +
                std::to_string(it->bytes.size()) + " bytes), this buffer needs " + dtype + " " + shape_text(shape));
  }
  return *it;
}

template <typename T>
void restore(Buffer<T>& buf, const HostArray& h) {
  if (!buf.empty()) buf.copy_from_host(reinterpret_cast<const T*>(h.bytes.data()), buf.size());
}

}  // namespace

ReplayBatch::ReplayBatch(const Device& dev, int64_t n_rows, int obs_dim, int act_dim, bool with_index)
    : rows(n_rows),
      obs(dev, static_cast<size_t>(n_rows) * obs_dim),
      action(dev, static_cast<size_t>(n_rows) * act_dim),
      reward(dev, static_cast<size_t>(n_rows)),
      next_obs(dev, static_cast<size_t>(n_rows) * obs_dim),
      discount(dev, static_cast<size_t>(n_rows)),
      index(dev, with_index ? static_cast<size_t>(n_rows) : 0) {
  ACX_CHECK(n_rows >= 1 && obs_dim >= 1 && act_dim >= 1, "a replay batch needs rows, obs_dim, act_dim >= 1");
}

ReplayBuffer::ReplayBuffer(const Device& dev, const ReplayConfig& cfg) : dev_(dev), cfg_(cfg) {
  ACX_USAGE_CHECK(cfg.n_envs >= 1, "replay buffer: n_envs must be >= 1, got " + std::to_string(cfg.n_envs));
  ACX_USAGE_CHECK(cfg.obs_dim >= 1 && cfg.act_dim >= 1, "replay buffer: obs_dim and act_dim must be >= 1");
  ACX_USAGE_CHECK(cfg.capacity >= cfg.n_envs,
                  "replay buffer: capacity " + std::to_string(cfg.capacity) + " is smaller than one step of " +
                      std::to_string(cfg.n_envs) + " envs");
  ACX_USAGE_CHECK(cfg.n_step >= 1, "replay buffer: n_step must be >= 1, got " + std::to_string(cfg.n_step));
  ACX_USAGE_CHECK(cfg.gamma >= 0.0f && cfg.gamma <= 1.0f,
                  "replay buffer: gamma must be in [0, 1], got " + std::to_string(cfg.gamma));
  ACX_USAGE_CHECK(cfg.n_members >= 1 && cfg.n_envs % cfg.n_members == 0,
                  "replay buffer: " + std::to_string(cfg.n_envs) + " envs do not split into " +
                      std::to_string(cfg.n_members) + " members");
  capacity_steps_ = ceil_div(cfg.capacity, cfg.n_envs);
  (void)bytes_for(cfg);  // every size below fits
  const size_t rows = static_cast<size_t>(capacity_steps_ * cfg.n_envs);
  obs_ = Buffer<float>(dev, rows * cfg.obs_dim);
  action_ = Buffer<float>(dev, rows * cfg.act_dim);
  reward_ = Buffer<float>(dev, rows);
  next_obs_ = Buffer<float>(dev, rows * cfg.obs_dim);
  terminated_ = Buffer<uint8_t>(dev, rows);
  truncated_ = Buffer<uint8_t>(dev, rows);
  // Zeroed so that a checkpoint of a partly filled buffer is deterministic.
  obs_.zero();
  action_.zero();
  reward_.zero();
  next_obs_.zero();
  terminated_.zero();
  truncated_.zero();
  ring_ = Buffer<RingPosition>(dev, 1);
  ring_.zero();
}

int64_t ReplayBuffer::bytes_for(const ReplayConfig& cfg) {
  const int64_t rows = checked_product({ceil_div(cfg.capacity, cfg.n_envs), cfg.n_envs}, "replay rows");
  // obs, next_obs, action and reward in float32; terminated and truncated in bytes.
  const int64_t per_row = checked_product({2 * cfg.obs_dim + cfg.act_dim + 1, 4}, "replay bytes per row") + 2;
  return checked_product({rows, per_row}, "replay bytes (rows x bytes per row)");
}

size_t ReplayBuffer::bytes() const {
  return obs_.bytes() + action_.bytes() + reward_.bytes() + next_obs_.bytes() + terminated_.bytes() +
         truncated_.bytes();
}

void ReplayBuffer::store(const float* obs, const float* action, const float* reward, const float* next_obs,
                         const uint8_t* terminated, const uint8_t* truncated) {
  ReplayStoreArgs a;
  a.n_envs = cfg_.n_envs;
  a.obs_dim = cfg_.obs_dim;
  a.act_dim = cfg_.act_dim;
  a.ring = ring_.data();
  a.src_obs = obs;
  a.src_action = action;
  a.src_reward = reward;
  a.src_next_obs = next_obs;
  a.src_terminated = terminated;
  a.src_truncated = truncated;
  a.obs = obs_.data();
  a.action = action_.data();
  a.reward = reward_.data();
  a.next_obs = next_obs_.data();
  a.terminated = terminated_.data();
  a.truncated = truncated_.data();
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::replay_store(a, dev_.stream()));
  } else {
    cpu_kernels::replay_store(a);
  }
  ops::advance_ring(dev_, ring_.data(), capacity_steps_);
  head_ = (head_ + 1) % capacity_steps_;
  size_steps_ = std::min(size_steps_ + 1, capacity_steps_);
}

ReplayBatch ReplayBuffer::make_batch(int batch, bool with_index) const {
  return ReplayBatch(dev_, static_cast<int64_t>(cfg_.n_members) * batch, cfg_.obs_dim, cfg_.act_dim, with_index);
}

void ReplayBuffer::sample(int batch, uint64_t seed, DeviceCounter counter, ReplayBatch& out) const {
  ACX_CHECK(batch >= 1, "replay sample: batch must be >= 1, got " + std::to_string(batch));
  const int64_t per_member = size() / cfg_.n_members;
  ACX_CHECK(batch <= per_member, "replay sample: batch " + std::to_string(batch) + " is larger than the " +
                                     std::to_string(per_member) + " transitions stored" +
                                     (cfg_.n_members > 1 ? " per member" : ""));
  const int64_t rows = static_cast<int64_t>(cfg_.n_members) * batch;
  const size_t r = static_cast<size_t>(rows);
  ACX_CHECK(rows <= (int64_t{1} << 32), "replay sample: more than 2^32 samples in one batch");
  ACX_CHECK(out.rows >= rows && out.obs.size() >= r * cfg_.obs_dim && out.action.size() >= r * cfg_.act_dim &&
                out.next_obs.size() >= r * cfg_.obs_dim && out.reward.size() >= r && out.discount.size() >= r,
            "replay sample: the output batch holds fewer than the " + std::to_string(rows) +
                " rows asked for, or its dims differ");
  ReplaySampleArgs a;
  a.n_envs = cfg_.n_envs;
  a.obs_dim = cfg_.obs_dim;
  a.act_dim = cfg_.act_dim;
  a.capacity_steps = capacity_steps_;
  a.ring = ring_.data();
  a.envs_per_member = cfg_.n_envs / cfg_.n_members;
  a.batch = batch;
  a.obs = obs_.data();
  a.action = action_.data();
  a.reward = reward_.data();
  a.next_obs = next_obs_.data();
  a.terminated = terminated_.data();
  a.truncated = truncated_.data();
  a.n_step = cfg_.n_step;
  a.gamma = cfg_.gamma;
  a.seed = seed;
  a.counter = counter;
  a.out_obs = out.obs.data();
  a.out_action = out.action.data();
  a.out_reward = out.reward.data();
  a.out_next_obs = out.next_obs.data();
  a.out_discount = out.discount.data();
  a.out_index = out.index.size() >= r ? out.index.data() : nullptr;
  if (dev_.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::replay_sample(a, rows, dev_.stream()));
  } else {
    cpu_kernels::replay_sample(a, rows);
  }
}

std::vector<HostArray> ReplayBuffer::to_host() const {
  const int64_t c = capacity_steps_, n = cfg_.n_envs;
  std::vector<HostArray> out;
  out.push_back(host_array("obs", "F32", {c, n, cfg_.obs_dim}, obs_));
  out.push_back(host_array("action", "F32", {c, n, cfg_.act_dim}, action_));
  out.push_back(host_array("reward", "F32", {c, n}, reward_));
  out.push_back(host_array("next_obs", "F32", {c, n, cfg_.obs_dim}, next_obs_));
  out.push_back(host_array("terminated", "U8", {c, n}, terminated_));
  out.push_back(host_array("truncated", "U8", {c, n}, truncated_));
  const int64_t ring[6] = {c, n, cfg_.obs_dim, cfg_.act_dim, head_, size_steps_};
  HostArray h{"ring", "I64", {6}, std::vector<uint8_t>(sizeof(ring))};
  std::memcpy(h.bytes.data(), ring, sizeof(ring));
  out.push_back(std::move(h));
  return out;
}

void ReplayBuffer::from_host(const std::vector<HostArray>& arrays) {
  const int64_t c = capacity_steps_, n = cfg_.n_envs;
  const HostArray& ring_array = find_array(arrays, "ring", "I64", {6}, sizeof(int64_t));
  int64_t ring[6];
  std::memcpy(ring, ring_array.bytes.data(), sizeof(ring));
  if (ring[0] != c || ring[1] != n || ring[2] != cfg_.obs_dim || ring[3] != cfg_.act_dim) {
    throw Error("replay buffer checkpoint: it holds " + std::to_string(ring[0]) + " steps x " +
                std::to_string(ring[1]) + " envs of obs_dim " + std::to_string(ring[2]) + ", act_dim " +
                std::to_string(ring[3]) + "; this buffer is " + std::to_string(c) + " steps x " + std::to_string(n) +
                " envs of obs_dim " + std::to_string(cfg_.obs_dim) + ", act_dim " + std::to_string(cfg_.act_dim));
  }
  if (ring[4] < 0 || ring[4] >= c || ring[5] < 0 || ring[5] > c || (ring[5] < c && ring[4] != ring[5])) {
    throw Error("replay buffer checkpoint: corrupt ring counters (head " + std::to_string(ring[4]) + ", size " +
                std::to_string(ring[5]) + " of " + std::to_string(c) + " steps)");
  }
  // Check everything before touching the device, so a bad checkpoint leaves the buffer as it was.
  const HostArray& h_obs = find_array(arrays, "obs", "F32", {c, n, cfg_.obs_dim}, sizeof(float));
  const HostArray& h_action = find_array(arrays, "action", "F32", {c, n, cfg_.act_dim}, sizeof(float));
  const HostArray& h_reward = find_array(arrays, "reward", "F32", {c, n}, sizeof(float));
  const HostArray& h_next_obs = find_array(arrays, "next_obs", "F32", {c, n, cfg_.obs_dim}, sizeof(float));
  const HostArray& h_terminated = find_array(arrays, "terminated", "U8", {c, n}, 1);
  const HostArray& h_truncated = find_array(arrays, "truncated", "U8", {c, n}, 1);
  restore(obs_, h_obs);
  restore(action_, h_action);
  restore(reward_, h_reward);
  restore(next_obs_, h_next_obs);
  restore(terminated_, h_terminated);
  restore(truncated_, h_truncated);
  set_ring(ring[4], ring[5]);
}

void ReplayBuffer::set_ring(int64_t head, int64_t size_steps) {
  ACX_CHECK(head >= 0 && head < capacity_steps_ && size_steps >= 0 && size_steps <= capacity_steps_ &&
                (size_steps == capacity_steps_ || head == size_steps),
            "replay ring position out of range");
  head_ = head;
  size_steps_ = size_steps;
  const RingPosition pos{head_, size_steps_};
  ring_.copy_from_host(&pos, 1);
}

RingPosition ReplayBuffer::device_ring() const {
  RingPosition pos{};
  ring_.copy_to_host(&pos, 1);
  return pos;
}

}  // namespace acx
