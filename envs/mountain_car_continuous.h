// mountain_car_continuous.h: gymnasium's MountainCarContinuous-v0
// (classic_control/continuous_mountain_car.py, gymnasium 1.0.0), float32 as
// gymnasium itself stores the state. An underpowered car in a valley must
// rock back and forth to reach the flag at position 0.45.
//
// Details that matter for parity: the force is the action clipped to [-1, 1],
// but the reward charges 0.1 * action^2 on the UNCLIPPED action; the speed is
// clipped before it moves the car; at the left wall (position -1.2) a
// negative speed is zeroed; the goal needs position >= 0.45 and speed >= 0.
#pragma once

#include "envs/env_api.h"

namespace acx {

struct MountainCarContinuous {
  static constexpr const char* kName = "mountain-car-continuous";
  static constexpr const char* kStateLayout = "[position (in [-1.2, 0.6]), velocity (in [-0.07, 0.07])]";
  static constexpr const char* kSource =
      "gymnasium 1.0.0 gymnasium/envs/classic_control/continuous_mountain_car.py (MountainCarContinuous-v0)";
  static constexpr int kStateDim = 2, kObsDim = 2, kActDim = 1;
  static constexpr int kMaxSteps = 999;

  static constexpr float kMinAction = -1.0f, kMaxAction = 1.0f;
  static constexpr float kMinPosition = -1.2f, kMaxPosition = 0.6f;
  static constexpr float kMaxSpeed = 0.07f;
  static constexpr float kGoalPosition = 0.45f;
  static constexpr float kGoalVelocity = 0.0f;
  static constexpr float kPower = 0.0015f;
  static constexpr float kGravityTerm = 0.0025f;  // velocity -= 0.0025 cos(3 position)
  static constexpr float kGoalReward = 100.0f;
  static constexpr float kActionCost = 0.1f;

  static constexpr float kActionLow[kActDim] = {kMinAction};
  static constexpr float kActionHigh[kActDim] = {kMaxAction};
  static constexpr float kObsLow[kObsDim] = {kMinPosition, -kMaxSpeed};
  static constexpr float kObsHigh[kObsDim] = {kMaxPosition, kMaxSpeed};

  struct Params {};

  // position ~ U(-0.6, -0.4), velocity = 0.
  ACX_HD static void reset(const Params&, float* state, PhiloxStream& rng) {
    state[0] = rng.uniform(-0.6f, -0.4f);
    state[1] = 0.0f;
  }

  ACX_HD static void step(const Params&, float* state, const float* action, float* reward, bool* terminated) {
    float position = state[0], velocity = state[1];
    const float force = envmath::clip(action[0], kMinAction, kMaxAction);
    velocity += force * kPower - kGravityTerm * cosf(3.0f * position);
    velocity = envmath::clip(velocity, -kMaxSpeed, kMaxSpeed);
    position += velocity;
    position = envmath::clip(position, kMinPosition, kMaxPosition);
    if (position == kMinPosition && velocity < 0.0f) velocity = 0.0f;
    const bool done = position >= kGoalPosition && velocity >= kGoalVelocity;
    state[0] = position;
    state[1] = velocity;
    *reward = (done ? kGoalReward : 0.0f) - kActionCost * (action[0] * action[0]);
    *terminated = done;
  }

  // [position, velocity]
  ACX_HD static void observe(const Params&, const float* state, float* obs) {
    obs[0] = state[0];
    obs[1] = state[1];
  }
};

}  // namespace acx
