#include "envs/vec_env.h"

#include <map>

#include "host/error.h"

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
  throw UsageError("unknown env '" + std::string(name) + "'; known envs: " + names());
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

}  // namespace acx
