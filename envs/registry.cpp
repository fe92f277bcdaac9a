// registry.cpp: the list of built-in envs.
#include "envs/registry.h"

#include "envs/vec_env.h"
#include "kernels/runtime/error.h"

namespace acx {

static_assert(Environment<Pendulum>);
static_assert(Environment<MountainCarContinuous>);
static_assert(Environment<CartpoleSwingup>);
static_assert(Environment<AcrobotContinuous>);
static_assert(Environment<Lqr>);

// One source of truth: the envs registered with ACX_REGISTER_ENV (built-ins
// in envs/builtin_envs.cu, custom envs wherever their registration lives).
// Registration happens during static initialization, so the list is complete
// by the time anything asks for it.
const std::vector<EnvInfo>& env_registry() {
  static const std::vector<EnvInfo> registry = registered_envs();
  return registry;
}

std::string env_names() {
  std::string names;
  for (const EnvInfo& info : env_registry()) names += (names.empty() ? "" : ", ") + info.name;
  return names;
}

const EnvInfo& find_env(std::string_view name) {
  for (const EnvInfo& info : env_registry())
    if (info.name == name) return info;
  throw_usage_error("unknown env " + quote_input(name) + "; known envs: " + env_names());
}

}  // namespace acx
