// The MuJoCo tasks: gymnasium 1.4.0's v5 locomotion and manipulation tasks,
// stepped by MuJoCo 4.0.0's batch (mjbatch.h) on a pool of threads.
//
// What "the same as gymnasium" takes, read from gymnasium's mujoco_env.py
// and each *_v5.py (facts, not code, are used here):
//   - the action goes to ctrl as given (MuJoCo clamps it inside the
//     actuator model; gymnasium does not clip it), then mj_step frame_skip
//     times and one mj_rnePostConstraint (for the tasks that read its
//     cfrc_ext; for the others it changes nothing they see); observations are read without
//     another mj_forward, so xpos, cinert, cvel, cfrc_ext, site_xpos are those
//     of the last substep's start, as gymnasium sees them;
//   - a quantity read "before" the step (Ant's torso xy, Humanoid's centre of
//     mass) is what the previous step left in mjData: kept per env in
//     `carry`, and saved in checkpoints, so that a resumed run is bitwise the
//     uninterrupted one;
//   - reward terms in gymnasium's order and precision: the control cost of
//     a float32 action is float32 under NumPy 2 (a Python float weight is
//     "weak"), and np.sum adds pairwise (np_sum below);
//   - reset: mj_resetData, noise on qpos0 and qvel with each task's
//     distribution (acx's Philox stream, keyed like every env), mj_forward.
#include "envs/mujoco/mujoco_env.h"

#include <mujoco/mjbatch.h>
#include <mujoco/mujoco.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "envs/vec_env.h"
#include "envs/vec_env_step.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"

namespace acx::mujoco_env {

std::string linked_version() { return mj_versionString(); }

std::string assets_dir() {
  if (const char* v = std::getenv("ACX_MUJOCO_ASSETS"); v && *v) return v;
  return ACX_MUJOCO_ASSETS_DIR;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- the tasks -------------------------------------------------------------

enum class Kind {
  kHalfCheetah,
  kHopper,
  kWalker2d,
  kAnt,
  kHumanoid,
  kHumanoidStandup,
  kInvertedPendulum,
  kInvertedDoublePendulum,
  kReacher,
  kSwimmer,
  kPusher,
  kDmcCartpoleSwingup
};

struct Task {
  Kind kind;
  const char* name;    // acx's registry name
  const char* gym_id;  // gymnasium's id
  const char* xml;     // gymnasium's asset file
  int frame_skip, nq, nv, nu, obs_dim;
  float act_low, act_high;  // actuator_ctrlrange as float32 (checked against the model)
  double noise;             // reset_noise_scale
  const char* obs_layout;
  int max_steps = 1000;     // gymnasium's registered max_episode_steps
  bool dm_control = false;  // a dm_control suite task (gym_id is then "domain/task")
};

// Defaults of gymnasium 1.4.0's *_v5.py constructors.
constexpr Task kTasks[] = {
    {Kind::kHalfCheetah, "half-cheetah", "HalfCheetah-v5", "half_cheetah.xml", 5, 9, 9, 6, 17, -1, 1, 0.1,
     "[qpos[1:] (8), qvel (9)]"},
    {Kind::kHopper, "hopper", "Hopper-v5", "hopper.xml", 4, 6, 6, 3, 11, -1, 1, 0.005,
     "[qpos[1:] (5), clip(qvel, -10, 10) (6)]"},
    {Kind::kWalker2d, "walker2d", "Walker2d-v5", "walker2d_v5.xml", 4, 9, 9, 6, 17, -1, 1, 0.005,
     "[qpos[1:] (8), clip(qvel, -10, 10) (9)]"},
    {Kind::kAnt, "ant", "Ant-v5", "ant.xml", 5, 15, 14, 8, 105, -1, 1, 0.1,
     "[qpos[2:] (13), qvel (14), clip(cfrc_ext[1:], -1, 1) (78)]"},
    {Kind::kHumanoid, "humanoid", "Humanoid-v5", "humanoid.xml", 5, 24, 23, 17, 348, -0.4f, 0.4f, 0.01,
     "[qpos[2:] (22), qvel (23), cinert[1:] (130), cvel[1:] (78), qfrc_actuator[6:] (17), cfrc_ext[1:] (78)]"},
    {Kind::kHumanoidStandup, "humanoid-standup", "HumanoidStandup-v5", "humanoidstandup.xml", 5, 24, 23, 17, 348,
     -0.4f, 0.4f, 0.01,
     "[qpos[2:] (22), qvel (23), cinert[1:] (130), cvel[1:] (78), qfrc_actuator[6:] (17), cfrc_ext[1:] (78)]"},
    {Kind::kInvertedPendulum, "inverted-pendulum", "InvertedPendulum-v5", "inverted_pendulum.xml", 2, 2, 2, 1, 4, -3,
     3, 0.01, "[qpos (2), qvel (2)]"},
    {Kind::kInvertedDoublePendulum, "inverted-double-pendulum", "InvertedDoublePendulum-v5",
     "inverted_double_pendulum.xml", 5, 3, 3, 1, 9, -1, 1, 0.1,
     "[qpos[0], sin(qpos[1:]) (2), cos(qpos[1:]) (2), clip(qvel, -10, 10) (3), clip(qfrc_constraint[0], -10, 10)]"},
    {Kind::kReacher, "reacher", "Reacher-v5", "reacher.xml", 2, 4, 4, 2, 10, -1, 1, 0.0,
     "[cos(qpos[:2]), sin(qpos[:2]), qpos[2:] (2), qvel[:2], (fingertip - target)[:2]]", 50},
    {Kind::kSwimmer, "swimmer", "Swimmer-v5", "swimmer.xml", 4, 5, 5, 2, 8, -1, 1, 0.1,
     "[qpos[2:] (3), qvel (5)]"},
    {Kind::kPusher, "pusher", "Pusher-v5", "pusher_v5.xml", 5, 11, 11, 7, 23, -2, 2, 0.0,
     "[qpos[:7], qvel[:7], tips_arm (3), object (3), goal (3)]", 100},
    // dm_control 1.0.52's suite.load("cartpole", "swingup"): 10 s of 0.01 s
    // steps, no termination, the smooth reward in [0, 1] (docs/envs.md).
    {Kind::kDmcCartpoleSwingup, "dmc-cartpole-swingup", "cartpole/swingup", "dm_control/cartpole.xml", 1, 2, 2, 1, 5,
     -1, 1, 0.01, "[x, cos th, sin th (the pole's xmat zz, xz), x_dot, th_dot]", 1000, true},
};
constexpr int kNumTasks = static_cast<int>(sizeof(kTasks) / sizeof(kTasks[0]));
constexpr int kCarry = 2;  // doubles per env carried from one step to the next

// ---- NumPy's arithmetic ----------------------------------------------------

// np.sum of a contiguous array: the reduction starts from the identity 0 and
// adds NumPy's pairwise sum (8 accumulators per block of up to 128, halves
// above that), in T's own precision.
template <typename T>
T np_pairwise(const T* a, int64_t n) {
  if (n < 8) {
    T res = T(-0.0);
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return np_pairwise(a, n2) + np_pairwise(a + n2, n - n2);
}
template <typename T>
T np_sum(const T* a, int64_t n) {
  return T(0) + np_pairwise(a, n);
}

// sum(square(action)) of a float32 action, in float32.
float sum_sq_f32(const float* a, int n) {
  float sq[32];
  for (int k = 0; k < n; ++k) sq[k] = a[k] * a[k];
  return np_sum(sq, n);
}
double sum_sq_f64(const double* a, int n, double lo = -HUGE_VAL, double hi = HUGE_VAL) {
  double sq[256];
  for (int k = 0; k < n; ++k) {
    const double x = a[k] < lo ? lo : (a[k] > hi ? hi : a[k]);
    sq[k] = x * x;
  }
  return np_sum(sq, n);
}
double clipd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }
// np.linalg.norm of a 3-vector: sqrt(x . x), the dot in order.
double norm3(const double* v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

// ---- random numbers for resets ---------------------------------------------

// A double in [0, 1) from 53 random bits (two words), as NumPy's random() has.
double uniform01(PhiloxStream& rng) {
  const uint64_t hi = rng.next_u32() >> 5, lo = rng.next_u32() >> 6;  // 27 + 26 bits
  return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}
double uniform(PhiloxStream& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }
double standard_normal(PhiloxStream& rng) {
  const double u0 = 1.0 - uniform01(rng), u1 = uniform01(rng);  // u0 in (0, 1]
  return std::sqrt(-2.0 * std::log(u0)) * std::cos(6.283185307179586 * u1);
}

// ---- one task's physics ----------------------------------------------------

// Whether the task reads what mj_rnePostConstraint computes (cfrc_ext).
bool reads_contact_forces(const Task& t) {
  return t.kind == Kind::kAnt || t.kind == Kind::kHumanoid || t.kind == Kind::kHumanoidStandup;
}

struct Ids {
  int fingertip = -1, target = -1, tips_arm = -1, object = -1, goal = -1, pole = -1;
  double body_mass_sum = 0;
};

// Humanoid's mass_center: (body_mass . xipos) / sum(body_mass), x and y.
void mass_center(const mjModel* m, const mjData* d, const Ids& ids, double* xy) {
  for (int j = 0; j < 2; ++j) {
    double num = 0;
    for (int b = 0; b < m->nbody; ++b) num += m->body_mass[b] * d->xipos[3 * b + j];
    xy[j] = num / ids.body_mass_sum;
  }
}

// What the next step reads as "before": writes carry[0..1].
void carry_now(const Task& t, const mjModel* m, const mjData* d, const Ids& ids, double* carry) {
  carry[0] = carry[1] = 0;
  switch (t.kind) {
    case Kind::kHalfCheetah:
    case Kind::kHopper:
    case Kind::kWalker2d: carry[0] = d->qpos[0]; break;
    case Kind::kSwimmer: carry[0] = d->qpos[0], carry[1] = d->qpos[1]; break;
    case Kind::kAnt: carry[0] = d->xpos[3 * 1 + 0], carry[1] = d->xpos[3 * 1 + 1]; break;  // main_body = 1
    case Kind::kHumanoid: mass_center(m, d, ids, carry); break;
    default: break;
  }
}

// The observation in float64, as gymnasium builds it (obs_dim values).
void observe(const Task& t, const mjModel* m, const mjData* d, const Ids& ids, double* o) {
  int k = 0;
  auto put = [&](const double* src, int n, double lo = -HUGE_VAL, double hi = HUGE_VAL) {
    for (int i = 0; i < n; ++i) o[k++] = clipd(src[i], lo, hi);
  };
  switch (t.kind) {
    case Kind::kHalfCheetah: put(d->qpos + 1, t.nq - 1), put(d->qvel, t.nv); break;
    case Kind::kHopper:
    case Kind::kWalker2d: put(d->qpos + 1, t.nq - 1), put(d->qvel, t.nv, -10, 10); break;
    case Kind::kSwimmer: put(d->qpos + 2, t.nq - 2), put(d->qvel, t.nv); break;
    case Kind::kAnt:
      put(d->qpos + 2, t.nq - 2), put(d->qvel, t.nv), put(d->cfrc_ext + 6, 6 * (m->nbody - 1), -1, 1);
      break;
    case Kind::kHumanoid:
    case Kind::kHumanoidStandup:
      put(d->qpos + 2, t.nq - 2), put(d->qvel, t.nv);
      put(d->cinert + 10, 10 * (m->nbody - 1)), put(d->cvel + 6, 6 * (m->nbody - 1));
      put(d->qfrc_actuator + 6, t.nv - 6), put(d->cfrc_ext + 6, 6 * (m->nbody - 1));
      break;
    case Kind::kInvertedPendulum: put(d->qpos, t.nq), put(d->qvel, t.nv); break;
    case Kind::kInvertedDoublePendulum:
      o[k++] = d->qpos[0];
      for (int i = 1; i < t.nq; ++i) o[k++] = std::sin(d->qpos[i]);
      for (int i = 1; i < t.nq; ++i) o[k++] = std::cos(d->qpos[i]);
      put(d->qvel, t.nv, -10, 10), put(d->qfrc_constraint, 1, -10, 10);
      break;
    case Kind::kReacher:
      for (int i = 0; i < 2; ++i) o[k++] = std::cos(d->qpos[i]);
      for (int i = 0; i < 2; ++i) o[k++] = std::sin(d->qpos[i]);
      put(d->qpos + 2, t.nq - 2), put(d->qvel, 2);
      for (int j = 0; j < 2; ++j) o[k++] = d->xpos[3 * ids.fingertip + j] - d->xpos[3 * ids.target + j];
      break;
    case Kind::kPusher:
      put(d->qpos, 7), put(d->qvel, 7);
      put(d->xpos + 3 * ids.tips_arm, 3), put(d->xpos + 3 * ids.object, 3), put(d->xpos + 3 * ids.goal, 3);
      break;
    case Kind::kDmcCartpoleSwingup:  // position [x, zz, xz], then velocity
      o[k++] = d->qpos[0];
      o[k++] = d->xmat[9 * ids.pole + 8];
      o[k++] = d->xmat[9 * ids.pole + 2];
      put(d->qvel, t.nv);
      break;
  }
}

// dm_control's rewards.tolerance with bounds (0, 0): 1 at x = 0, else the
// sigmoid of d = |x| / margin (dm_control/utils/rewards.py). "gaussian" with
// value_at_margin 0.1 scales d by sqrt(-2 ln 0.1); "quadratic" with 0 by 1.
double tolerance_gaussian(double x, double margin) {
  if (x == 0.0) return 1.0;
  static const double scale = std::sqrt(-2.0 * std::log(0.1));
  const double z = std::fabs(x) / margin * scale;
  return std::exp(-0.5 * (z * z));
}
double tolerance_quadratic0(double x, double margin) {
  if (x == 0.0) return 1.0;
  const double z = std::fabs(x) / margin;
  return z < 1.0 ? 1.0 - z * z : 0.0;
}

// The step's reward (float64, as gymnasium returns it) and termination, from
// the state after the step and the carried "before" values.
void reward_and_done(const Task& t, const mjModel* m, const mjData* d, const Ids& ids, const float* action,
                     const double* before, const double* after, double dt, double* reward, bool* terminated) {
  *terminated = false;
  switch (t.kind) {
    case Kind::kHalfCheetah: {
      const double xv = (after[0] - before[0]) / dt;
      const float ctrl = 0.1f * sum_sq_f32(action, t.nu);
      *reward = 1.0 * xv - static_cast<double>(ctrl);
      break;
    }
    case Kind::kSwimmer: {
      const double xv = (after[0] - before[0]) / dt;
      const float ctrl = 0.0001f * sum_sq_f32(action, t.nu);
      *reward = 1.0 * xv - static_cast<double>(ctrl);
      break;
    }
    case Kind::kHopper:
    case Kind::kWalker2d: {
      const double xv = (after[0] - before[0]) / dt;
      const double z = d->qpos[1], angle = d->qpos[2];
      bool healthy;
      if (t.kind == Kind::kHopper) {
        bool state_ok = true;  // state_vector()[2:] strictly inside (-100, 100)
        for (int i = 2; i < t.nq; ++i) state_ok = state_ok && (-100.0 < d->qpos[i] && d->qpos[i] < 100.0);
        for (int i = 0; i < t.nv; ++i) state_ok = state_ok && (-100.0 < d->qvel[i] && d->qvel[i] < 100.0);
        healthy = state_ok && (0.7 < z && z < HUGE_VAL) && (-0.2 < angle && angle < 0.2);
      } else {
        healthy = (0.8 < z && z < 2.0) && (-1.0 < angle && angle < 1.0);
      }
      const float ctrl = 0.001f * sum_sq_f32(action, t.nu);
      *reward = (1.0 * xv + (healthy ? 1.0 : 0.0)) - static_cast<double>(ctrl);
      *terminated = !healthy;
      break;
    }
    case Kind::kAnt: {
      const double xv = (after[0] - before[0]) / dt;
      bool finite = true;
      for (int i = 0; i < t.nq; ++i) finite = finite && std::isfinite(d->qpos[i]);
      for (int i = 0; i < t.nv; ++i) finite = finite && std::isfinite(d->qvel[i]);
      const bool healthy = finite && 0.2 <= d->qpos[2] && d->qpos[2] <= 1.0;
      const float ctrl = 0.5f * sum_sq_f32(action, t.nu);
      const double contact = 0.0005 * sum_sq_f64(d->cfrc_ext, 6 * m->nbody, -1.0, 1.0);
      *reward = (xv * 1 + (healthy ? 1.0 : 0.0)) - (static_cast<double>(ctrl) + contact);
      *terminated = !healthy;
      break;
    }
    case Kind::kHumanoid: {
      const double xv = (after[0] - before[0]) / dt;
      const bool healthy = 1.0 < d->qpos[2] && d->qpos[2] < 2.0;
      const double ctrl = 0.1 * sum_sq_f64(d->ctrl, t.nu);
      const double contact = std::min(5e-7 * sum_sq_f64(d->cfrc_ext, 6 * m->nbody), 10.0);
      *reward = (1.25 * xv + (healthy ? 5.0 : 0.0)) - (ctrl + contact);
      *terminated = !healthy;
      break;
    }
    case Kind::kHumanoidStandup: {
      const double uph = (d->qpos[2] - 0) / m->opt.timestep;
      const double ctrl = 0.1 * sum_sq_f64(d->ctrl, t.nu);
      const double impact = std::min(5e-7 * sum_sq_f64(d->cfrc_ext, 6 * m->nbody), 10.0);
      *reward = ((uph - ctrl) - impact) + 1;
      break;
    }
    case Kind::kInvertedPendulum: {
      bool finite = true;
      for (int i = 0; i < t.nq; ++i) finite = finite && std::isfinite(d->qpos[i]);
      for (int i = 0; i < t.nv; ++i) finite = finite && std::isfinite(d->qvel[i]);
      *terminated = !finite || std::fabs(d->qpos[1]) > 0.2;
      *reward = *terminated ? 0.0 : 1.0;
      break;
    }
    case Kind::kInvertedDoublePendulum: {
      const double x = d->site_xpos[0], y = d->site_xpos[2];
      *terminated = y <= 1;
      const double v1 = d->qvel[1], v2 = d->qvel[2];
      const double dist = 0.01 * (x * x) + (y - 2) * (y - 2);
      const double vel = 0.001 * (v1 * v1) + 0.005 * (v2 * v2);
      *reward = ((*terminated ? 0.0 : 10.0) - dist) - vel;
      break;
    }
    case Kind::kReacher: {
      double v[3];
      for (int j = 0; j < 3; ++j) v[j] = d->xpos[3 * ids.fingertip + j] - d->xpos[3 * ids.target + j];
      const double dist = -norm3(v) * 1;
      const float ctrl = -sum_sq_f32(action, t.nu) * 1.0f;
      *reward = dist + static_cast<double>(ctrl);
      break;
    }
    case Kind::kPusher: {
      double v1[3], v2[3];
      for (int j = 0; j < 3; ++j) {
        v1[j] = d->xpos[3 * ids.object + j] - d->xpos[3 * ids.tips_arm + j];
        v2[j] = d->xpos[3 * ids.object + j] - d->xpos[3 * ids.goal + j];
      }
      const double near = -norm3(v1) * 0.5, dist = -norm3(v2) * 1;
      const float ctrl = -sum_sq_f32(action, t.nu) * 0.1f;
      *reward = (dist + static_cast<double>(ctrl)) + near;
      break;
    }
    case Kind::kDmcCartpoleSwingup: {  // dm_control's Balance._get_reward, smooth
      const double upright = (d->xmat[9 * ids.pole + 8] + 1) / 2;
      const double centered = (1 + tolerance_gaussian(d->qpos[0], 2)) / 2;
      const double small_control = (4 + tolerance_quadratic0(d->ctrl[0], 1)) / 5;  // the raw action
      const double small_velocity = (1 + tolerance_gaussian(d->qvel[1], 5)) / 2;
      *reward = upright * small_control * small_velocity * centered;
      break;
    }
  }
}

// gymnasium's reset_model: noise on qpos0 / qvel = 0, from the env's stream.
void reset_qpos_qvel(const Task& t, const mjModel* m, mjData* d, PhiloxStream& rng) {
  const double s = t.noise;
  double* qpos = d->qpos;
  double* qvel = d->qvel;
  switch (t.kind) {
    case Kind::kHalfCheetah:
    case Kind::kAnt:
    case Kind::kInvertedDoublePendulum:  // uniform qpos, normal qvel
      for (int i = 0; i < t.nq; ++i) qpos[i] = m->qpos0[i] + uniform(rng, -s, s);
      for (int i = 0; i < t.nv; ++i) qvel[i] = 0.0 + s * standard_normal(rng);
      break;
    case Kind::kReacher: {
      for (int i = 0; i < t.nq; ++i) qpos[i] = uniform(rng, -0.1, 0.1) + m->qpos0[i];
      double g0, g1;
      do {
        g0 = uniform(rng, -0.2, 0.2), g1 = uniform(rng, -0.2, 0.2);
      } while (!(std::sqrt(g0 * g0 + g1 * g1) < 0.2));
      qpos[t.nq - 2] = g0, qpos[t.nq - 1] = g1;
      for (int i = 0; i < t.nv; ++i) qvel[i] = 0.0 + uniform(rng, -0.005, 0.005);
      qvel[t.nv - 2] = qvel[t.nv - 1] = 0;
      break;
    }
    case Kind::kPusher: {
      for (int i = 0; i < t.nq; ++i) qpos[i] = m->qpos0[i];
      double c0, c1;
      do {
        c0 = uniform(rng, -0.3, 0.0), c1 = uniform(rng, -0.2, 0.2);
      } while (!(std::sqrt(c0 * c0 + c1 * c1) > 0.17));
      qpos[t.nq - 4] = c0, qpos[t.nq - 3] = c1, qpos[t.nq - 2] = 0, qpos[t.nq - 1] = 0;
      for (int i = 0; i < t.nv; ++i) qvel[i] = 0.0 + uniform(rng, -0.005, 0.005);
      for (int i = t.nv - 4; i < t.nv; ++i) qvel[i] = 0;
      break;
    }
    case Kind::kDmcCartpoleSwingup:  // Balance.initialize_episode(swing_up=True)
      qpos[0] = s * standard_normal(rng);
      qpos[1] = M_PI + s * standard_normal(rng);
      for (int i = 0; i < t.nv; ++i) qvel[i] = s * standard_normal(rng);
      break;
    default:  // uniform qpos and qvel
      for (int i = 0; i < t.nq; ++i) qpos[i] = m->qpos0[i] + uniform(rng, -s, s);
      for (int i = 0; i < t.nv; ++i) qvel[i] = 0.0 + uniform(rng, -s, s);
      break;
  }
}

// ---- log messages ------------------------------------------------------------

// MuJoCo's default handler would also append to MUJOCO_LOG.TXT in the
// working directory. Ours prints each distinct warning once, on stderr, and
// nothing while a task model loads (the compiler's notes are about
// gymnasium's files, not the user's run).
thread_local bool t_loading_model = false;
std::mutex g_log_mutex;
std::set<std::string>* g_seen = nullptr;

void log_handler(const mjLogMessage* msg) {
  if (t_loading_model || msg->level < mjLOG_WARNING) return;  // warnings and errors only
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (!g_seen) g_seen = new std::set<std::string>;
  if (!g_seen->insert(msg->subject).second) return;
  std::fprintf(stderr, "acx: MuJoCo %s: %s (shown once)\n", msg->level >= mjLOG_ERROR ? "error" : "warning", msg->subject);
}

void install_log_handler() {
  static std::once_flag once;
  std::call_once(once, [] { mju_setLogHandler(&log_handler); });
}

// ---- the vectorized env ----------------------------------------------------

struct StepArgs {
  const Task* task;
  const Ids* ids;
  VecEnvArrays h;          // host-side arrays
  double* carry;           // (n, kCarry)
  const float* actions;    // (n, nu) host; null for a reset
  const double* rows;      // (n, nq + nv) for set_state; else null
  uint64_t seed;
  int max_steps;
  bool auto_reset;
  double dt;
};

// The observation of env i's current state, rounded to float32, into `row`.
void write_obs(const Task& t, const mjModel* m, const mjData* d, const Ids& ids, float* row) {
  double o[512];
  observe(t, m, d, ids, o);
  for (int k = 0; k < t.obs_dim; ++k) row[k] = static_cast<float>(o[k]);
}

// After qpos and qvel are set: mj_forward, the carried quantities, the first
// observation, and counters zeroed for episode `episode`.
void begin_episode(const mjModel* m, mjData* d, int i, const StepArgs& a, uint32_t episode) {
  const Task& t = *a.task;
  mj_forward(m, d);
  carry_now(t, m, d, *a.ids, a.carry + kCarry * i);
  write_obs(t, m, d, *a.ids, a.h.obs + static_cast<int64_t>(i) * t.obs_dim);
  a.h.episode_step[i] = 0;
  a.h.episode_index[i] = episode;
  a.h.episode_return[i] = 0.0f;
}

// Starts episode `episode` of env i (gymnasium's reset()).
void reset_one(const mjModel* m, mjData* d, int i, const StepArgs& a, uint32_t episode) {
  mj_resetData(m, d);
  PhiloxStream rng = env_reset_stream(a.seed, i, episode);
  reset_qpos_qvel(*a.task, m, d, rng);
  begin_episode(m, d, i, a, episode);
}

void reset_func(const mjModel* m, mjData* d, int sim, void* arg) {
  reset_one(m, d, sim, *static_cast<const StepArgs*>(arg), 0u);
}

// gymnasium's reset() followed by set_state(qpos, qvel): the EnvPool-style
// injection acx rollout --init does.
void set_state_func(const mjModel* m, mjData* d, int sim, void* arg) {
  const StepArgs& a = *static_cast<const StepArgs*>(arg);
  const Task& t = *a.task;
  mj_resetData(m, d);
  const double* row = a.rows + static_cast<int64_t>(sim) * (t.nq + t.nv);
  std::memcpy(d->qpos, row, sizeof(double) * t.nq);
  std::memcpy(d->qvel, row + t.nq, sizeof(double) * t.nv);
  begin_episode(m, d, sim, a, 0u);
}

void step_func(const mjModel* m, mjData* d, int i, void* arg) {
  const StepArgs& a = *static_cast<const StepArgs*>(arg);
  const Task& t = *a.task;
  const float* u = a.actions + static_cast<int64_t>(i) * t.nu;
  float* final_row = a.h.final_obs + static_cast<int64_t>(i) * t.obs_dim;
  float* obs_row = a.h.obs + static_cast<int64_t>(i) * t.obs_dim;
  bool finite = true;
  for (int k = 0; k < t.nu; ++k) finite = finite && std::isfinite(u[k]);

  double reward = kNaN;
  bool terminated = false;
  if (finite) {
    for (int k = 0; k < t.nu; ++k) d->ctrl[k] = u[k];
    double* carry = a.carry + kCarry * i;
    const double before[kCarry] = {carry[0], carry[1]};
    for (int f = 0; f < t.frame_skip; ++f) mj_step(m, d);
    // gymnasium calls it after every step; only its outputs cfrc_ext/cacc/
    // cfrc_int depend on it, and only Ant and the humanoids read them (no
    // later step does), so the other tasks skip it with the same bits.
    if (reads_contact_forces(t)) mj_rnePostConstraint(m, d);
    // dm_control's Physics.step (legacy_step) follows an RK4 mj_step with
    // mj_step1, so that the observation reads kinematics of the new state.
    if (t.dm_control) mj_step1(m, d);
    carry_now(t, m, d, *a.ids, carry);
    write_obs(t, m, d, *a.ids, final_row);
    reward_and_done(t, m, d, *a.ids, u, before, carry, a.dt, &reward, &terminated);
  } else {
    // A non-finite action does not reach MuJoCo (which would reset the
    // simulation on its own and hide it): the step reports NaN, as the
    // kernel envs' arithmetic does, and the trainer stops on it.
    for (int k = 0; k < t.obs_dim; ++k) final_row[k] = static_cast<float>(kNaN);
  }
  const float r = static_cast<float>(reward);
  const int32_t steps = a.h.episode_step[i] + 1;
  const bool truncated = !terminated && steps >= a.max_steps;
  const float ret = a.h.episode_return[i] + r;
  a.h.reward[i] = r;
  a.h.terminated[i] = terminated ? 1 : 0;
  a.h.truncated[i] = truncated ? 1 : 0;
  if ((terminated || truncated) && a.auto_reset) {
    a.h.done_return[i] = ret;
    a.h.done_length[i] = steps;
    reset_one(m, d, i, a, a.h.episode_index[i] + 1);
    return;
  }
  std::memcpy(obs_row, final_row, sizeof(float) * t.obs_dim);
  a.h.episode_step[i] = steps;
  a.h.episode_return[i] = ret;
}

EnvInfo task_info(const Task& t) {
  EnvInfo info;
  info.name = t.name;
  info.state_dim = t.nq + t.nv;
  info.obs_dim = t.obs_dim;
  info.act_dim = t.nu;
  info.max_steps = t.max_steps;
  info.action_low.assign(t.nu, t.act_low);
  info.action_high.assign(t.nu, t.act_high);
  info.obs_low.assign(t.obs_dim, -std::numeric_limits<float>::infinity());
  info.obs_high.assign(t.obs_dim, std::numeric_limits<float>::infinity());
  info.state_layout = "[qpos (" + std::to_string(t.nq) + "), qvel (" + std::to_string(t.nv) + ")] float64; obs " +
                      t.obs_layout;
  if (t.dm_control) {
    info.source = std::string("dm_control ") + kDmControlVersion + " suite (" + t.gym_id + ", " + t.xml +
                  ", default arguments)";
    info.reference_id = std::string(t.gym_id) + " (dm_control " + kDmControlVersion + ")";
  } else {
    info.source = std::string("gymnasium ") + kGymnasiumVersion + " envs/mujoco (" + t.gym_id + ", " + t.xml +
                  ", default arguments)";
    info.reference_id = std::string(t.gym_id) + " (gymnasium " + kGymnasiumVersion + ")";
  }
  info.engine = std::string("MuJoCo ") + kPinnedVersion;
  info.frame_skip = t.frame_skip;
  return info;
}

struct ModelDeleter {
  void operator()(mjModel* m) const { mj_deleteModel(m); }
};
struct BatchDeleter {
  void operator()(mjBatch* b) const { mjb_deleteBatch(b); }
};

class MujocoVecEnv final : public VecEnv {
 public:
  MujocoVecEnv(const Device& dev, const Task& task, int64_t n_envs)
      : VecEnv(dev, task_info(task), n_envs, OwnArrays{}), task_(task) {
    install_log_handler();
    ACX_USAGE_CHECK(n_envs <= (1 << 24), "at most 2^24 envs of a MuJoCo task in one process (got " +
                                             std::to_string(n_envs) + ")");
    load_model();
    allocate_arrays();
    mjBatchConfig cfg;
    mjb_defaultConfig(&cfg);
    cfg.nthread = std::max(1, omp_get_max_threads());
    cfg.persistent = 1;  // one mjData per env: derived fields stay as gymnasium reads them
    char err[1024] = "";
    batch_.reset(mjb_makeBatch(model_.get(), static_cast<int>(n_envs), &cfg, err, sizeof err));
    ACX_CHECK(batch_ != nullptr, std::string(task.name) + ": MuJoCo could not make a batch of " +
                                     std::to_string(n_envs) + " simulations: " + err);
    ACX_CHECK(mjb_nstate(batch_.get()) == mj_stateSize(model_.get(), mjSTATE_INTEGRATION),
              "MuJoCo batch state rows are not mjSTATE_INTEGRATION");
    carry_.assign(static_cast<size_t>(n_envs) * kCarry, 0.0);
  }

  ~MujocoVecEnv() override {
    if (block_device_ && block_device_ != block_host_) memory::release(dev_, block_device_);
    if (block_host_) {
      if (dev_.is_cuda()) {
        memory::release_pinned(dev_, block_host_);
      } else {
        memory::release(dev_, block_host_);
      }
    }
    if (actions_host_) memory::release_pinned(dev_, actions_host_);
  }

  void reset(uint64_t seed) override {
    seed_ = seed;
    StepArgs a = args();
    apply(&reset_func, &a, "reset");
    std::memset(h_.reward, 0, sizeof(float) * n_envs_);
    std::memset(h_.done_return, 0, sizeof(float) * n_envs_);
    std::memset(h_.done_length, 0, sizeof(int32_t) * n_envs_);
    std::memset(h_.terminated, 0, n_envs_);
    std::memset(h_.truncated, 0, n_envs_);
    std::memcpy(h_.final_obs, h_.obs, sizeof(float) * n_envs_ * task_.obs_dim);
    publish();
  }

  // The physics runs on the host: on a CUDA device a step copies the
  // actions out and the results back.
  bool steps_on_device() const override { return !dev_.is_cuda(); }

  void step(const float* actions) override {
    const size_t bytes = sizeof(float) * n_envs_ * task_.nu;
    const float* host_actions = actions;
    if (dev_.is_cuda()) {
      // Waits for the stream: the previous step's copy of the pinned block
      // is done before the step below overwrites it.
      memory::copy_device_to_host(dev_, actions_host_, actions, bytes);
      host_actions = actions_host_;
    }
    StepArgs a = args();
    a.actions = host_actions;
    apply(&step_func, &a, "step");
    publish();
  }

  void set_state(const float* states) override {
    const size_t n = static_cast<size_t>(n_envs_) * info_.state_dim;
    std::vector<float> f(n);
    memory::copy_device_to_host(dev_, f.data(), states, n * sizeof(float));
    set_state_rows(std::vector<double>(f.begin(), f.end()));
  }

  void set_state_rows(const std::vector<double>& rows) override {
    ACX_CHECK(rows.size() == static_cast<size_t>(n_envs_) * info_.state_dim,
              "set_state_rows: wrong number of values");
    if (dev_.is_cuda()) dev_.synchronize();
    StepArgs a = args();
    a.rows = rows.data();
    apply(&set_state_func, &a, "set_state");
    std::memcpy(h_.final_obs, h_.obs, sizeof(float) * n_envs_ * task_.obs_dim);
    publish();
  }

  std::vector<float> state_host() const override {
    const int nq = task_.nq, nv = task_.nv, ns = mjb_nstate(batch_.get());
    int qpos_size = 0, qvel_size = 0;
    const mjtNum* qpos = mjb_stateComponent(batch_.get(), mjSTATE_QPOS, &qpos_size);
    const mjtNum* qvel = mjb_stateComponent(batch_.get(), mjSTATE_QVEL, &qvel_size);
    std::vector<float> rows(static_cast<size_t>(n_envs_) * (nq + nv));
    for (int64_t i = 0; i < n_envs_; ++i) {
      for (int k = 0; k < nq; ++k) rows[i * (nq + nv) + k] = static_cast<float>(qpos[i * ns + k]);
      for (int k = 0; k < nv; ++k) rows[i * (nq + nv) + nq + k] = static_cast<float>(qvel[i * ns + k]);
    }
    return rows;
  }

  size_t bytes_per_env() const override { return block_bytes_ / static_cast<size_t>(n_envs_); }

  std::vector<HostArray> to_host() const override {
    std::vector<HostArray> out;
    const int64_t n = n_envs_;
    const int ns = mjb_nstate(batch_.get());
    mjBatch* b = batch_.get();
    const mjtNum* state = mjb_state(b);
    out.push_back(bytes_array("env.mujoco_state", "F64", {n, ns}, state, sizeof(double) * n * ns));
    out.push_back(bytes_array("env.mujoco_carry", "F64", {n, kCarry}, carry_.data(), sizeof(double) * n * kCarry));
    const std::string version = linked_version();
    out.push_back(bytes_array("env.mujoco_version", "U8", {static_cast<int64_t>(version.size())}, version.data(),
                              version.size()));
    arrays_to_host(out);
    return out;
  }

  void from_host(const std::vector<HostArray>& arrays) override {
    const HostArray* version = find(arrays, "env.mujoco_version");
    const std::string theirs = version ? std::string(version->bytes.begin(), version->bytes.end()) : "(none)";
    if (theirs != linked_version()) {
      throw Error("the checkpoint's " + std::string(task_.name) + " state was written by MuJoCo " +
                  quote_input(theirs) + "; this build runs MuJoCo " + linked_version() +
                  ": its physics differs, so the run cannot resume bit for bit");
    }
    const int ns = mjb_nstate(batch_.get());
    const size_t n = static_cast<size_t>(n_envs_);
    copy_exact(arrays, "env.mujoco_state", "F64", n * ns * sizeof(double), mjb_state(batch_.get()));
    copy_exact(arrays, "env.mujoco_carry", "F64", n * kCarry * sizeof(double), carry_.data());
    arrays_from_host(arrays);
    // The host block mirrors the device one: bring it back.
    if (dev_.is_cuda()) memory::copy_device_to_host(dev_, block_host_, block_device_, block_bytes_);
  }

 private:
  static HostArray bytes_array(std::string name, const char* dtype, std::vector<int64_t> shape, const void* p,
                               size_t bytes) {
    HostArray a{std::move(name), dtype, std::move(shape), std::vector<uint8_t>(bytes)};
    if (bytes) std::memcpy(a.bytes.data(), p, bytes);
    return a;
  }
  static const HostArray* find(const std::vector<HostArray>& arrays, const std::string& name) {
    for (const HostArray& a : arrays)
      if (a.name == name) return &a;
    return nullptr;
  }
  static void copy_exact(const std::vector<HostArray>& arrays, const std::string& name, const char* dtype,
                         size_t bytes, void* dst) {
    const HostArray* a = find(arrays, name);
    if (!a) throw Error("the checkpoint lacks " + name + " (it was not written by a MuJoCo task)");
    if (a->dtype != dtype || a->bytes.size() != bytes) {
      throw Error("the checkpoint's " + name + " holds " + std::to_string(a->bytes.size()) + " bytes of " +
                  a->dtype + "; this env needs " + std::to_string(bytes) + " bytes of " + dtype);
    }
    std::memcpy(dst, a->bytes.data(), bytes);
  }

  void load_model() {
    namespace fs = std::filesystem;
    const fs::path path = fs::path(assets_dir()) / task_.xml;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      throw Error("the MuJoCo model of " + std::string(task_.name) + " is missing: " + quote_input(path.string()) +
                  " (scripts/install_deps.sh fetches gymnasium's and dm_control's models; ACX_MUJOCO_ASSETS names another "
                  "folder)");
    }
    char err[1024] = "";
    t_loading_model = true;
    mjModel* m = mj_loadXML(path.c_str(), nullptr, err, sizeof err);
    t_loading_model = false;
    if (!m) throw Error(quote_input(path.string()) + ": MuJoCo could not load this model: " + quote_input(err));
    model_.reset(m);
    if (m->nq != task_.nq || m->nv != task_.nv || m->nu != task_.nu) {
      throw Error(quote_input(path.string()) + ": not the model of " + task_.gym_id + " (nq, nv, nu = " +
                  std::to_string(m->nq) + ", " + std::to_string(m->nv) + ", " + std::to_string(m->nu) +
                  "; expected " + std::to_string(task_.nq) + ", " + std::to_string(task_.nv) + ", " +
                  std::to_string(task_.nu) + ")");
    }
    for (int k = 0; k < m->nu; ++k) {
      if (static_cast<float>(m->actuator_ctrlrange[2 * k]) != task_.act_low ||
          static_cast<float>(m->actuator_ctrlrange[2 * k + 1]) != task_.act_high) {
        throw Error(quote_input(path.string()) + ": actuator " + std::to_string(k) +
                    "'s control range differs from " + task_.gym_id + "'s");
      }
    }
    dt_ = m->opt.timestep * task_.frame_skip;
    std::vector<double> masses(m->body_mass, m->body_mass + m->nbody);
    ids_.body_mass_sum = np_sum(masses.data(), m->nbody);
    auto body = [&](const char* name) {
      const int id = mj_name2id(m, mjOBJ_BODY, name);
      if (id < 0) throw Error(quote_input(path.string()) + ": no body named '" + name + "'");
      return id;
    };
    if (task_.kind == Kind::kReacher) ids_.fingertip = body("fingertip"), ids_.target = body("target");
    if (task_.kind == Kind::kPusher)
      ids_.tips_arm = body("tips_arm"), ids_.object = body("object"), ids_.goal = body("goal");
    if (task_.kind == Kind::kDmcCartpoleSwingup) ids_.pole = body("pole_1");
  }

  // One block per side with every per-env array; on a CUDA device the host
  // side is pinned and goes over in one asynchronous copy per step.
  void allocate_arrays() {
    const size_t n = static_cast<size_t>(n_envs_), od = task_.obs_dim;
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t at = off;
      off += (bytes + 63) / 64 * 64;
      return at;
    };
    const size_t o_obs = take(n * od * 4), o_final = take(n * od * 4), o_rew = take(n * 4), o_ret = take(n * 4),
                 o_dret = take(n * 4), o_step = take(n * 4), o_dlen = take(n * 4), o_idx = take(n * 4),
                 o_term = take(n), o_trunc = take(n);
    block_bytes_ = off;
    if (dev_.is_cuda()) {
      block_host_ = static_cast<uint8_t*>(memory::allocate_pinned(dev_, block_bytes_));
      block_device_ = static_cast<uint8_t*>(memory::allocate(dev_, block_bytes_));
      actions_host_ = static_cast<float*>(memory::allocate_pinned(dev_, sizeof(float) * n * task_.nu));
    } else {
      block_host_ = block_device_ = static_cast<uint8_t*>(memory::allocate(dev_, block_bytes_));
    }
    std::memset(block_host_, 0, block_bytes_);
    auto view = [&](uint8_t* base) {
      VecEnvArrays v;
      v.n_envs = n_envs_;
      v.obs = reinterpret_cast<float*>(base + o_obs);
      v.final_obs = reinterpret_cast<float*>(base + o_final);
      v.reward = reinterpret_cast<float*>(base + o_rew);
      v.episode_return = reinterpret_cast<float*>(base + o_ret);
      v.done_return = reinterpret_cast<float*>(base + o_dret);
      v.episode_step = reinterpret_cast<int32_t*>(base + o_step);
      v.done_length = reinterpret_cast<int32_t*>(base + o_dlen);
      v.episode_index = reinterpret_cast<uint32_t*>(base + o_idx);
      v.terminated = base + o_term;
      v.truncated = base + o_trunc;
      return v;
    };
    h_ = view(block_host_);
    arrays_ = view(block_device_);
    publish();
  }

  // The host block to the device (nothing to do on the CPU).
  void publish() {
    if (dev_.is_cuda()) memory::copy_host_to_device_async(dev_, block_device_, block_host_, block_bytes_);
  }

  StepArgs args() {
    StepArgs a{};
    a.task = &task_;
    a.ids = &ids_;
    a.h = h_;
    a.carry = carry_.data();
    a.seed = seed_;
    a.max_steps = max_steps_;
    a.auto_reset = auto_reset_;
    a.dt = dt_;
    return a;
  }

  void apply(mjfBatchFunc f, StepArgs* a, const char* what) {
    const int failed = mjb_apply(batch_.get(), nullptr, 0, f, a, /*save=*/1);
    if (failed == 0) return;
    const int* status = mjb_status(batch_.get());
    for (int i = 0; i < static_cast<int>(n_envs_); ++i) {
      if (status[i]) {
        throw Error(std::string(task_.name) + ": MuJoCo failed in " + what + " of env " + std::to_string(i) + " (" +
                    std::to_string(failed) + " of " + std::to_string(n_envs_) +
                    " envs failed): " + mjb_error(batch_.get(), i));
      }
    }
    throw Error(std::string(task_.name) + ": MuJoCo reported " + std::to_string(failed) + " failed envs in " + what);
  }

  const Task& task_;
  std::unique_ptr<mjModel, ModelDeleter> model_;
  std::unique_ptr<mjBatch, BatchDeleter> batch_;
  Ids ids_;
  double dt_ = 0;
  std::vector<double> carry_;
  VecEnvArrays h_;
  uint8_t* block_host_ = nullptr;
  uint8_t* block_device_ = nullptr;
  float* actions_host_ = nullptr;
  size_t block_bytes_ = 0;
};

template <int I>
std::unique_ptr<VecEnv> create(const Device& dev, int64_t n_envs) {
  return std::make_unique<MujocoVecEnv>(dev, kTasks[I], n_envs);
}

template <int... I>
bool register_all(std::integer_sequence<int, I...>) {
  return (register_env(task_info(kTasks[I]), &create<I>) && ...);
}

[[maybe_unused]] const bool g_registered = register_all(std::make_integer_sequence<int, kNumTasks>{});

}  // namespace

TaskModel task_model(const std::string& name) {
  for (const Task& t : kTasks) {
    if (name == t.name) return {(std::filesystem::path(assets_dir()) / t.xml).string(), t.frame_skip};
  }
  throw UsageError("unknown MuJoCo task " + quote_input(name));
}
}  // namespace acx::mujoco_env
