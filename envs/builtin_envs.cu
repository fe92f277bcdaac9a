// The built-in envs, registered by name. In a CUDA build nvcc instantiates
// each env's stepping kernel here; see envs/vec_env_register.h.
#include "envs/acrobot_continuous.h"
#include "envs/cartpole_swingup.h"
#include "envs/lqr.h"
#include "envs/mountain_car_continuous.h"
#include "envs/pendulum.h"
#include "envs/vec_env_register.h"

using acx::AcrobotContinuous;
using acx::CartpoleSwingup;
using acx::Lqr;
using acx::MountainCarContinuous;
using acx::Pendulum;

ACX_REGISTER_ENV(Pendulum)
ACX_REGISTER_ENV(MountainCarContinuous)
ACX_REGISTER_ENV(CartpoleSwingup)
ACX_REGISTER_ENV(AcrobotContinuous)
ACX_REGISTER_ENV(Lqr)
