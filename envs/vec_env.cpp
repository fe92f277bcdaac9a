#include "envs/vec_env.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <map>

#include "kernels/runtime/error.h"

namespace acx {

VecEnv::VecEnv(const Device& dev, EnvInfo info, int64_t n_envs)
    : dev_(dev), info_(std::move(info)), n_envs_(n_envs), max_steps_(info_.max_steps) {
  ACX_USAGE_CHECK(n_envs >= 1, "the number of envs must be at least 1 (got " + std::to_string(n_envs) + ")");
  ACX_USAGE_CHECK(n_envs <= 0xffffffffll, "at most 2^32 - 1 envs on one device");
  const size_t n = static_cast<size_t>(n_envs);
  state_ = Buffer<float>(dev, n * info_.state_dim);
  obs_ = Buffer<float>(dev, n * info_.obs_dim);
  final_obs_ = Buffer<float>(dev, n * info_.obs_dim);
  reward_ = Buffer<float>(dev, n);
  episode_return_ = Buffer<float>(dev, n);
  done_return_ = Buffer<float>(dev, n);
  terminated_ = Buffer<uint8_t>(dev, n);
  truncated_ = Buffer<uint8_t>(dev, n);
  episode_step_ = Buffer<int32_t>(dev, n);
  done_length_ = Buffer<int32_t>(dev, n);
  episode_index_ = Buffer<uint32_t>(dev, n);
  for (auto* b : {&reward_, &episode_return_, &done_return_, &final_obs_}) b->zero();
  terminated_.zero();
  truncated_.zero();
  done_length_.zero();
  arrays_ = VecEnvArrays{n_envs,
                         state_.data(),
                         obs_.data(),
                         final_obs_.data(),
                         reward_.data(),
                         terminated_.data(),
                         truncated_.data(),
                         episode_step_.data(),
                         episode_index_.data(),
                         episode_return_.data(),
                         done_return_.data(),
                         done_length_.data()};
}

VecEnv::VecEnv(const Device& dev, EnvInfo info, int64_t n_envs, OwnArrays)
    : dev_(dev), info_(std::move(info)), n_envs_(n_envs), max_steps_(info_.max_steps) {
  ACX_USAGE_CHECK(n_envs >= 1, "the number of envs must be at least 1 (got " + std::to_string(n_envs) + ")");
  ACX_USAGE_CHECK(n_envs <= 0x7fffffffll, "at most 2^31 - 1 envs of this kind on one device");
  arrays_.n_envs = n_envs;
}

void VecEnv::set_state_rows(const std::vector<double>& rows) {
  const size_t want = static_cast<size_t>(n_envs_) * info_.state_dim;
  ACX_CHECK(rows.size() == want, "set_state_rows: expected " + std::to_string(want) + " values");
  std::vector<float> f(rows.begin(), rows.end());
  const Buffer<float> d = Buffer<float>::from_host(dev_, f);
  set_state(d.data());
  dev_.synchronize();
}

void VecEnv::set_max_steps(int max_steps) {
  ACX_USAGE_CHECK(max_steps >= 1, "max_steps must be at least 1 (got " + std::to_string(max_steps) + ")");
  max_steps_ = max_steps;
}

std::vector<float> VecEnv::state_host() const {
  const std::vector<float> soa = state_.to_host();
  std::vector<float> rows(soa.size());
  const int sd = info_.state_dim;
  for (int64_t i = 0; i < n_envs_; ++i)
    for (int d = 0; d < sd; ++d) rows[i * sd + d] = soa[d * n_envs_ + i];
  return rows;
}

size_t VecEnv::bytes_per_env() const {
  return sizeof(float) * (info_.state_dim + 2 * info_.obs_dim + 3) + 2 * sizeof(uint8_t) + 3 * sizeof(int32_t);
}

void VecEnv::arrays_to_host(std::vector<HostArray>& out) const {
  const int64_t n = n_envs_;
  const size_t un = static_cast<size_t>(n);
  const int64_t od = info_.obs_dim;
  const VecEnvArrays& a = arrays_;
  out.push_back(device_to_host_array(dev_, "env.obs", {n, od}, a.obs, un * od));
  out.push_back(device_to_host_array(dev_, "env.final_obs", {n, od}, a.final_obs, un * od));
  out.push_back(device_to_host_array(dev_, "env.reward", {n}, a.reward, un));
  out.push_back(device_to_host_array(dev_, "env.terminated", {n}, a.terminated, un));
  out.push_back(device_to_host_array(dev_, "env.truncated", {n}, a.truncated, un));
  out.push_back(device_to_host_array(dev_, "env.episode_step", {n}, a.episode_step, un));
  out.push_back(device_to_host_array(dev_, "env.episode_index", {n}, a.episode_index, un));
  out.push_back(device_to_host_array(dev_, "env.episode_return", {n}, a.episode_return, un));
  out.push_back(device_to_host_array(dev_, "env.done_return", {n}, a.done_return, un));
  out.push_back(device_to_host_array(dev_, "env.done_length", {n}, a.done_length, un));
  const std::vector<uint64_t> seed{seed_};
  HostArray s{"env.seed", "I64", {1}, std::vector<uint8_t>(8)};
  std::memcpy(s.bytes.data(), seed.data(), 8);
  out.push_back(std::move(s));
}

void VecEnv::arrays_from_host(const std::vector<HostArray>& arrays) {
  const size_t n = static_cast<size_t>(n_envs_);
  const size_t od = info_.obs_dim;
  const VecEnvArrays& a = arrays_;
  host_array_to_device(dev_, arrays, "env.obs", "F32", n * od, a.obs);
  host_array_to_device(dev_, arrays, "env.final_obs", "F32", n * od, a.final_obs);
  host_array_to_device(dev_, arrays, "env.reward", "F32", n, a.reward);
  host_array_to_device(dev_, arrays, "env.terminated", "U8", n, a.terminated);
  host_array_to_device(dev_, arrays, "env.truncated", "U8", n, a.truncated);
  host_array_to_device(dev_, arrays, "env.episode_step", "I32", n, a.episode_step);
  host_array_to_device(dev_, arrays, "env.episode_index", "U32", n, a.episode_index);
  host_array_to_device(dev_, arrays, "env.episode_return", "F32", n, a.episode_return);
  host_array_to_device(dev_, arrays, "env.done_return", "F32", n, a.done_return);
  host_array_to_device(dev_, arrays, "env.done_length", "I32", n, a.done_length);
  for (const HostArray& h : arrays) {
    if (h.name == "env.seed" && h.bytes.size() == 8) std::memcpy(&seed_, h.bytes.data(), 8);
  }
}

std::vector<HostArray> VecEnv::to_host() const {
  const int64_t n = n_envs_;
  const int64_t sd = info_.state_dim;
  std::vector<HostArray> out;
  out.push_back(device_to_host_array(dev_, "env.state", {sd, n}, state_.data(), static_cast<size_t>(n) * sd));
  arrays_to_host(out);
  return out;
}

void VecEnv::from_host(const std::vector<HostArray>& arrays) {
  const size_t n = static_cast<size_t>(n_envs_);
  host_array_to_device(dev_, arrays, "env.state", "F32", n * info_.state_dim, state_.data());
  arrays_from_host(arrays);
}

namespace {
struct Entry {
  EnvInfo info;
  VecEnvFactory factory;
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}
std::string names() {
  std::string s;
  for (const Entry& e : registry()) s += (s.empty() ? "" : ", ") + e.info.name;
  return s;
}
const Entry& find(std::string_view name) {
  for (const Entry& e : registry())
    if (e.info.name == name) return e;
  throw UsageError("unknown env " + quote_input(name) + "; known envs: " + names());
}
}  // namespace

bool register_env(const EnvInfo& info, VecEnvFactory factory) {
  for (const Entry& e : registry()) {
    if (e.info.name == info.name) {
      throw Error("two envs registered under the name '" + info.name + "'");
    }
  }
  registry().push_back(Entry{info, factory});
  return true;
}

std::vector<EnvInfo> registered_envs() {
  std::vector<EnvInfo> out;
  for (const Entry& e : registry()) out.push_back(e.info);
  return out;
}

EnvInfo find_registered_env(std::string_view name) { return find(name).info; }

std::unique_ptr<VecEnv> make_vec_env(const Device& dev, std::string_view name, int64_t n_envs) {
  return find(name).factory(dev, n_envs);
}

namespace {
nlohmann::json bounds_json(const std::vector<float>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (float x : v) std::isfinite(x) ? j.push_back(x) : j.push_back(x > 0 ? "inf" : "-inf");
  return j;
}
}  // namespace

std::string registered_envs_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const EnvInfo& e : registered_envs()) {
    out.push_back({{"name", e.name},
                   {"obs_dim", e.obs_dim},
                   {"act_dim", e.act_dim},
                   {"state_dim", e.state_dim},
                   {"max_steps", e.max_steps},
                   {"action_low", bounds_json(e.action_low)},
                   {"action_high", bounds_json(e.action_high)},
                   {"obs_low", bounds_json(e.obs_low)},
                   {"obs_high", bounds_json(e.obs_high)},
                   {"state_layout", e.state_layout},
                   {"source", e.source}});
    if (!e.engine.empty()) {
      out.back()["reference_id"] = e.reference_id;
      out.back()["engine"] = e.engine;
      out.back()["frame_skip"] = e.frame_skip;
    }
  }
  return out.dump(2);
}

}  // namespace acx
