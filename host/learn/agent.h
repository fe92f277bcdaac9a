// agent.h: K independent TD3 or DDPG agents trained at once through the
// member dimension of the networks (kernels/mlp.h).
//
//   actor          (K, P_actor)        mu_k(s)
//   critic         (n_q * K, P_critic) member q * K + k is critic q of agent k
//   target actor, target critic: Polyak copies of the above
//
// One update (update(), all on the device, no host round trips):
//   a' = clip(mu'(s') + clip(sigma N(0, 1), -c, c) half_range)   (TD3 smoothing)
//   y  = r_n + discount * min_q Q'_q(s', a')                      (kernels/td_target.h)
//   critic step: MSE or Huber TD loss, backprop, optional clipping, Adam
//   every policy_delay updates (TD3; 1 for DDPG):
//     dQ/da = critic_action_grad(Q_0 of each agent at (s, mu(s)))
//     actor step: actor_vjp(-dQ/da), Adam; then Polyak of both targets
// docs/dpg.md explains why the actor step is those two kernels.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "envs/env_api.h"
#include "kernels/c51.h"
#include "kernels/counter.h"
#include "kernels/mlp.h"
#include "kernels/optim.h"
#include "kernels/runtime/buffer.h"

namespace acx {

enum class Algo { kTd3, kDdpg, kSac };

struct AgentConfig {
  Algo algo = Algo::kTd3;
  int n_agents = 1;                  // K
  std::vector<int> actor_hidden = {256, 256};
  std::vector<int> critic_hidden = {256, 256};
  float actor_lr = 3e-4f, critic_lr = 3e-4f;
  // Per-agent variants: K learning rates each, or empty (every agent uses
  // actor_lr / critic_lr). The optimizer reads them from the device.
  std::vector<float> actor_lr_per_agent, critic_lr_per_agent;
  float weight_decay = 0.0f;         // AdamW decoupled decay when > 0
  float tau = 0.005f;                // Polyak rate of the targets
  int policy_delay = 2;              // TD3: actor and targets every d critic updates
  float target_noise = 0.2f;         // TD3 smoothing sigma, in units of the action half-range
  float target_noise_clip = 0.5f;    // ... and its clip
  float max_grad_norm = 0.0f;        // <= 0: no clipping
  TdLoss loss = TdLoss::kMse;
  float huber_delta = 1.0f;
  int batch = 256;
  float reward_scale = 1.0f;      // the critic learns reward_scale x the return
  float final_init_bound = 0.0f;  // > 0: last layers ~ U(-c, c) (DDPG's 3e-3); 0: PyTorch default
  uint64_t seed = 1;            // network initialization
  uint64_t smoothing_seed = 2;  // TD3 target smoothing noise
  // SAC (kernels/sac.h): the actor's output is 2 act_dim wide (means, raw log-stds).
  float log_std_min = -5.0f, log_std_max = 2.0f;
  bool autotune_alpha = true;     // learn log alpha towards the target entropy
  float init_alpha = 1.0f;        // alpha's start (autotune) or its fixed value
  float alpha_lr = 1e-3f;
  float target_entropy_per_dim = -1.0f;  // H = this x act_dim
  uint64_t policy_seed = 3;       // the reparameterized samples in updates
  bool target_actor = true;  // TD3, DDPG: false takes a' from the online actor (no target actor kept)
  // A C51 distributional critic (kernels/c51.h) instead of a scalar one.
  bool c51 = false;
  int atoms = 101;
  float v_min = -10.0f, v_max = 10.0f;
};

// One sampled batch per agent, on the device.
struct TrainBatch {
  const float* obs;       // (K, B, obs_dim)
  const float* action;    // (K, B, act_dim)
  const float* reward;    // (K, B) n-step discounted
  const float* next_obs;  // (K, B, obs_dim)
  const float* discount;  // (K, B) gamma^k, 0 after a termination
};

// Scalars for logs, per agent (copied to the host only when asked).
struct AgentStats {
  std::vector<float> critic_loss;  // (K) mean over the agent's critics
  std::vector<float> actor_loss;   // (K) -mean Q_0(s, mu(s)) at the last actor step
  std::vector<float> mean_q;       // (K) mean Q_0(s, a) on the last batch
  std::vector<float> alpha;        // (K) SAC's temperature (empty otherwise)
  std::vector<float> entropy;      // (K) SAC: -mean log pi at the last actor step
};

// A named device tensor of the agent's state (for checkpoints).
struct StateTensor {
  std::string name;
  std::vector<int64_t> shape;
  float* data;  // device
};

// The name and shape of each tensor of Agent::state(), in its order.
struct StateShape {
  std::string name;
  std::vector<int64_t> shape;
};

class Agent {
 public:
  Agent(const Device& dev, const EnvInfo& env, const AgentConfig& cfg);

  const AgentConfig& config() const { return cfg_; }
  int n_q() const { return cfg_.algo == Algo::kDdpg ? 1 : 2; }
  bool is_sac() const { return cfg_.algo == Algo::kSac; }
  bool is_c51() const { return cfg_.c51; }
  bool has_target_actor() const { return !is_sac() && cfg_.target_actor; }
  const Mlp& actor() const { return actor_; }
  const Mlp& critic() const { return critic_; }
  const float* actor_params() const { return actor_params_.data(); }

  // mu(s) for n_per_agent observations per agent: obs (K, n, obs_dim) ->
  // actions (K, n, act_dim), both device memory. Deterministic (SAC: the
  // mean action, c + s tanh(x_m)).
  void act(const float* obs, int64_t n_per_agent, float* actions);
  // SAC's exploration: a sample of the policy, row r keyed by (seed, r, step).
  void act_sample(const float* obs, int64_t n_per_agent, uint64_t seed, DeviceCounter step, float* actions);

  // One update. Its draws (TD3's smoothing, SAC's samples) are keyed by the
  // update number n_updates(), which the device holds too: every counter an
  // update reads lives in device memory and is advanced there, so the update
  // can be captured once in a CUDA graph and replayed (kernels/counter.h).
  void update(const TrainBatch& batch);

  int64_t n_updates() const { return n_updates_; }
  int64_t n_actor_updates() const { return n_actor_updates_; }
  // Sets both counts, on the host and on the device (a resume).
  void set_counters(int64_t n_updates, int64_t n_actor_updates);
  // The update number in device memory (n_updates() before each update
  // runs): what the trainer keys replay sampling with.
  const uint64_t* update_counter() const { return update_counter_.data(); }
  // Throws Error when the device's counters disagree with the host's (a
  // check at checkpoints: a captured graph that missed an advance shows here).
  void check_device_counters() const;

  // Data-parallel learners (host/learn/distributed.h): called on each
  // network's flat gradient (device memory, n floats) between the backward
  // pass and the clipping and optimizer step, to replace it by its mean over
  // the ranks. Unset (the default): nothing is called.
  using GradReduce = std::function<void(float* grad, int64_t n)>;
  void set_grad_reduce(GradReduce f) { grad_reduce_ = std::move(f); }
  // Population-based training (host/learn/pbt.h): agent k's learning rates
  // from its next step on (the per-agent rates are made on the first call
  // when the config had none, every agent at its configured rate).
  void set_member_learning_rates(int k, float actor_lr, float critic_lr);

  AgentStats stats() const;
  // Everything a checkpoint must hold to resume bit for bit.
  std::vector<StateTensor> state();
  // The shapes of state() from the env and config alone, nothing allocated:
  // a checkpoint is checked against them before an Agent is built from it.
  static std::vector<StateShape> state_shapes(const EnvInfo& env, const AgentConfig& cfg);
  // Bytes of device memory the agent holds, and would hold for `cfg`
  // (computed before building one; UsageError past 64 bits).
  size_t bytes() const;
  static int64_t bytes_for(const EnvInfo& env, const AgentConfig& cfg);

 private:
  void ensure_act_tape(int64_t n);
  void broadcast(const float* src, int64_t block, float* dst);  // copy one (K, ...) block n_q times
  void update_td3(const TrainBatch& batch);
  void update_sac(const TrainBatch& batch);
  void sac_actor_step(const TrainBatch& batch, uint64_t slot);
  // The key of one of an update's SAC draws: u (1 + policy_delay) + slot,
  // u the update number on the device.
  DeviceCounter sac_draw_key(uint64_t slot) const;
  void critic_step(const TrainBatch& batch);
  void actor_optimizer_step();  // clip actor_grad_ and take one Adam step
  // The critics' target from the target critics' output at (s', a'): the
  // scalar y (td_target) or the projected distribution (c51_project).
  void critic_target(const TrainBatch& batch, const float* next_log_prob);
  // Q and dQ/da at the last forward of `tape` (n_members critics): for C51
  // through the expectation, into q (or null: tape's scalar output is Q).
  void value_and_action_grad(MlpTape& tape, int n_members, float* q, float* dq_da);
  C51Support support() const { return C51Support{cfg_.atoms, cfg_.v_min, cfg_.v_max}; }

  Device dev_;
  AgentConfig cfg_;
  EnvInfo env_;
  int obs_dim_, act_dim_, K_, B_;
  Mlp actor_, critic_;
  Buffer<float> actor_params_, actor_target_, actor_m_, actor_v_, actor_grad_;
  Buffer<float> critic_params_, critic_target_, critic_m_, critic_v_, critic_grad_;
  Buffer<float> critic_obs_, critic_act_, critic_next_obs_, critic_next_act_;
  Buffer<float> next_act_, y_, dq_, critic_loss_, dq_da_, grad_norms_, act_low_, act_high_;
  Buffer<float> actor_member_lr_, critic_member_lr_;  // (K), (n_q K); empty without variants
  // SAC only (empty otherwise): the temperature and its Adam state (K), the
  // samples of the last update and what the actor step needs.
  Buffer<float> log_alpha_, alpha_m_, alpha_v_, alpha_grad_, mean_logp_;
  Buffer<float> next_logp_, logp_, eps_, pi_act_, pi_act_b_, dq_da_all_, q_min_, d_head_;
  std::unique_ptr<MlpTape> pi_critic_tape_;  // (n_q K, B) the critics at (s, a ~ pi(s))
  // C51: the target distribution (K B, N), the critics' logit gradients and
  // per-row losses, the expected values and dQ/d(logits) at the actor's action.
  Buffer<float> c51_target_, c51_dlogits_, c51_row_loss_, c51_q_, c51_dq_dl_, c51_q_pi_;
  std::unique_ptr<MlpTape> actor_tape_, target_actor_tape_, critic_tape_, target_critic_tape_, actor_critic_tape_;
  // act()'s tapes, one per row count (training's envs, evaluation's), each
  // kept: a captured graph holds on to its addresses.
  std::map<int64_t, std::unique_ptr<MlpTape>> act_tapes_;
  MlpTape* act_tape_ = nullptr;
  int64_t n_updates_ = 0, n_actor_updates_ = 0;
  // The device's copies: the update number, and Adam's steps of the critics,
  // the actor and SAC's temperature (kAdamCritic, kAdamActor, kAdamAlpha).
  Buffer<uint64_t> update_counter_;
  Buffer<AdamStepState> adam_steps_;
  GradReduce grad_reduce_;
  ops::ClipWorkspace clip_ws_;  // algo.max_grad_norm's scratch, allocated once
};

const char* algo_name(Algo a);
Algo parse_algo(const std::string& s);  // UsageError for an unknown name

}  // namespace acx
