// envs/mujoco/: gymnasium's v5 MuJoCo tasks (HalfCheetah-v5, Hopper-v5, ...)
// and dm_control's cart-pole swing-up, run by the MuJoCo C library, behind
// the same VecEnv interface as the kernel envs. Built when CMake finds
// MuJoCo (ACX_MUJOCO, fetched by scripts/install_deps.sh); the rest of acx
// never includes MuJoCo headers.
//
// May include: kernels/runtime/, kernels/philox.h, envs/ (the floors below
// and its own). The physics runs on the CPU whatever the device; on a CUDA
// device each step's results travel to the device in one asynchronous copy
// from pinned host memory (docs/envs.md says what that costs).
#pragma once

#include <string>

namespace acx::mujoco_env {

// The MuJoCo version this build links ("4.0.0"), and the one the tasks are
// pinned to; a checkpoint written under another version is refused.
std::string linked_version();
constexpr const char* kPinnedVersion = "4.0.0";
constexpr const char* kGymnasiumVersion = "1.4.0";
constexpr const char* kDmControlVersion = "1.0.52";  // dmc-cartpole-swingup

// Where the task models (gymnasium's XML assets) are read from: the variable
// ACX_MUJOCO_ASSETS when set, else the folder install_deps.sh filled.
std::string assets_dir();

// The model file (full path) and frame skip of task `name` (for benchmarks
// that run the physics alone); throws UsageError for an unknown task.
struct TaskModel {
  std::string xml_path;
  int frame_skip = 0;
};
TaskModel task_model(const std::string& name);

}  // namespace acx::mujoco_env
