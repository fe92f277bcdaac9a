// registry.h: the built-in envs by name (host side). The CLI resolves
// `--env NAME` here; the stepper turns a name into a type with visit_env.
#pragma once

#include "envs/acrobot_continuous.h"
#include "envs/cartpole_swingup.h"
#include "envs/env_api.h"
#include "envs/lqr.h"
#include "envs/mountain_car_continuous.h"
#include "envs/pendulum.h"

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace acx {

// Every registered env with its default Params (built-ins first).
const std::vector<EnvInfo>& env_registry();

// The env called `name`; throws acx::UsageError naming the known envs.
const EnvInfo& find_env(std::string_view name);

// "pendulum, mountain-car-continuous, ..." for messages and --help.
std::string env_names();

// Calls f(std::type_identity<E>{}) for the built-in env E called `name` and
// returns what f returns (the same type for every env); throws
// acx::UsageError for an unknown name.
//   visit_env("pendulum", [&]<Environment E>(std::type_identity<E>) { run<E>(...); });
template <typename F>
decltype(auto) visit_env(std::string_view name, F&& f) {
  if (name == Pendulum::kName) return f(std::type_identity<Pendulum>{});
  if (name == MountainCarContinuous::kName) return f(std::type_identity<MountainCarContinuous>{});
  if (name == CartpoleSwingup::kName) return f(std::type_identity<CartpoleSwingup>{});
  if (name == AcrobotContinuous::kName) return f(std::type_identity<AcrobotContinuous>{});
  if (name == Lqr::kName) return f(std::type_identity<Lqr>{});
  find_env(name);  // throws the usage error
  return f(std::type_identity<Pendulum>{});  // not reached
}

}  // namespace acx
