#include "host/learn/agent.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kernels/counter.h"
#include "kernels/explore.h"
#include "kernels/runtime/error.h"
#include "kernels/sac.h"
#include "kernels/td_target.h"
#include "kernels/vector_ops.h"

namespace acx {

namespace {
// Init tags keep the actor's and the critic's Philox draws apart (mlp_init).
constexpr uint32_t kActorTag = 1;
constexpr uint32_t kCriticTag = 2;
// Agent::adam_steps_, one per optimizer.
constexpr int kAdamCritic = 0, kAdamActor = 1, kAdamAlpha = 2;

MlpSpec actor_spec(const EnvInfo& env, const AgentConfig& cfg) {
  MlpSpec s;
  s.in_dim = env.obs_dim;
  s.hidden = cfg.actor_hidden;
  s.final_init_bound = cfg.final_init_bound;
  if (cfg.algo == Algo::kSac) {
    // The two heads (means, raw log-stds) as one linear output layer: the
    // same fan-in, so the same initialization as two nn.Linear heads.
    s.out_dim = 2 * env.act_dim;
    s.output = Activation::kIdentity;
    return s;
  }
  s.out_dim = env.act_dim;
  s.output = Activation::kTanhScaled;
  s.out_low = env.action_low;
  s.out_high = env.action_high;
  return s;
}

MlpSpec critic_spec(const EnvInfo& env, const AgentConfig& cfg) {
  MlpSpec s;
  s.in_dim = env.obs_dim + env.act_dim;
  s.hidden = cfg.critic_hidden;
  s.out_dim = cfg.c51 ? cfg.atoms : 1;  // C51: the logits over the support
  s.output = Activation::kIdentity;
  s.final_init_bound = cfg.final_init_bound;
  return s;
}
}  // namespace

const char* algo_name(Algo a) {
  switch (a) {
    case Algo::kTd3: return "td3";
    case Algo::kSac: return "sac";
    default: return "ddpg";
  }
}

Algo parse_algo(const std::string& s) {
  if (s == "td3") return Algo::kTd3;
  if (s == "ddpg") return Algo::kDdpg;
  if (s == "sac") return Algo::kSac;
  throw UsageError("unknown algorithm " + quote_input(s) + ": expected td3, ddpg or sac");
}

Agent::Agent(const Device& dev, const EnvInfo& env, const AgentConfig& cfg)
    : dev_(dev),
      cfg_(cfg),
      env_(env),
      obs_dim_(env.obs_dim),
      act_dim_(env.act_dim),
      K_(cfg.n_agents),
      B_(cfg.batch),
      actor_(dev, actor_spec(env, cfg)),
      critic_(dev, critic_spec(env, cfg)) {
  ACX_USAGE_CHECK(K_ >= 1, "the number of agents must be at least 1");
  ACX_USAGE_CHECK(B_ >= 1, "the batch size must be at least 1");
  ACX_USAGE_CHECK(cfg.policy_delay >= 1, "policy_delay must be at least 1");
  ACX_USAGE_CHECK(cfg.tau > 0.0f && cfg.tau <= 1.0f, "tau must be in (0, 1]");
  if (cfg.algo == Algo::kDdpg) cfg_.policy_delay = 1;
  const int nq = n_q();
  const int64_t pa = actor_.n_params(), pc = critic_.n_params();

  auto zeros = [&](int64_t n) {
    Buffer<float> b(dev, static_cast<size_t>(n));
    b.zero();
    return b;
  };
  actor_params_ = Buffer<float>(dev, K_ * pa);
  critic_params_ = Buffer<float>(dev, nq * K_ * pc);
  mlp_init(actor_, K_, cfg.seed, kActorTag, actor_params_.data());
  mlp_init(critic_, nq * K_, cfg.seed, kCriticTag, critic_params_.data());
  if (has_target_actor()) {  // SAC has none, and TD3 without algo.target_actor
    actor_target_ = Buffer<float>(dev, K_ * pa);
    actor_target_.copy_from(actor_params_);
  }
  critic_target_ = Buffer<float>(dev, nq * K_ * pc);
  critic_target_.copy_from(critic_params_);
  if (!cfg.actor_lr_per_agent.empty()) {
    ACX_USAGE_CHECK(static_cast<int>(cfg.actor_lr_per_agent.size()) == K_,
                    "one actor learning rate per agent expected");
    actor_member_lr_ = Buffer<float>::from_host(dev, cfg.actor_lr_per_agent);
  }
  if (!cfg.critic_lr_per_agent.empty()) {
    ACX_USAGE_CHECK(static_cast<int>(cfg.critic_lr_per_agent.size()) == K_,
                    "one critic learning rate per agent expected");
    const std::vector<float>& lr = cfg.critic_lr_per_agent;
    std::vector<float> per_member;  // critic member q K + k is critic q of agent k
    for (int q = 0; q < nq; ++q) per_member.insert(per_member.end(), lr.begin(), lr.end());
    critic_member_lr_ = Buffer<float>::from_host(dev, per_member);
  }
  actor_m_ = zeros(K_ * pa);
  actor_v_ = zeros(K_ * pa);
  actor_grad_ = zeros(K_ * pa);
  critic_m_ = zeros(nq * K_ * pc);
  critic_v_ = zeros(nq * K_ * pc);
  critic_grad_ = zeros(nq * K_ * pc);

  const int64_t kb = static_cast<int64_t>(K_) * B_;
  critic_obs_ = Buffer<float>(dev, nq * kb * obs_dim_);
  critic_act_ = Buffer<float>(dev, nq * kb * act_dim_);
  critic_next_obs_ = Buffer<float>(dev, nq * kb * obs_dim_);
  critic_next_act_ = Buffer<float>(dev, nq * kb * act_dim_);
  next_act_ = Buffer<float>(dev, kb * act_dim_);
  y_ = Buffer<float>(dev, nq * kb);
  dq_ = Buffer<float>(dev, nq * kb);
  critic_loss_ = zeros(nq * K_);
  dq_da_ = Buffer<float>(dev, kb * act_dim_);
  grad_norms_ = zeros(nq * K_);
  if (cfg.max_grad_norm > 0.0f) {
    // Sized for the larger of the two clips (the critics', the actor's) now,
    // so that no update reallocates it: a captured graph points at it.
    clip_ws_.partial = Buffer<double>(
        dev, static_cast<size_t>(std::max(nq * K_ * ceil_div(pc, kNormChunk), K_ * ceil_div(pa, kNormChunk))));
    clip_ws_.scales = Buffer<float>(dev, static_cast<size_t>(nq) * K_);
  }
  update_counter_ = Buffer<uint64_t>(dev, 1);
  update_counter_.zero();
  adam_steps_ = Buffer<AdamStepState>(dev, 3);
  adam_steps_.zero();
  act_low_ = Buffer<float>::from_host(dev, env.action_low);
  act_high_ = Buffer<float>::from_host(dev, env.action_high);

  actor_tape_ = std::make_unique<MlpTape>(actor_, K_, B_);
  target_actor_tape_ = std::make_unique<MlpTape>(actor_, K_, B_);
  critic_tape_ = std::make_unique<MlpTape>(critic_, nq * K_, B_);
  target_critic_tape_ = std::make_unique<MlpTape>(critic_, nq * K_, B_);
  actor_critic_tape_ = std::make_unique<MlpTape>(critic_, K_, B_);
  if (is_c51()) {
    ACX_USAGE_CHECK(cfg.atoms >= 2 && cfg.atoms <= 4096, "critic.atoms must be in [2, 4096]");
    ACX_USAGE_CHECK(cfg.v_min < cfg.v_max, "critic.v_min must be below critic.v_max");
    const int64_t n = cfg.atoms;
    c51_target_ = zeros(kb * n);
    c51_dlogits_ = zeros(nq * kb * n);
    c51_row_loss_ = zeros(nq * kb);
    c51_q_ = zeros(nq * kb);
    c51_dq_dl_ = zeros(nq * kb * n);
    c51_q_pi_ = zeros(kb);
  }

  if (is_sac()) {
    ACX_USAGE_CHECK(cfg.log_std_min < cfg.log_std_max, "sac.log_std_min must be below sac.log_std_max");
    ACX_USAGE_CHECK(cfg.init_alpha > 0.0f && std::isfinite(cfg.init_alpha), "sac.init_alpha must be positive");
    log_alpha_ = Buffer<float>::from_host(dev, std::vector<float>(K_, std::log(cfg.init_alpha)));
    alpha_m_ = zeros(K_);
    alpha_v_ = zeros(K_);
    alpha_grad_ = zeros(K_);
    mean_logp_ = zeros(K_);
    next_logp_ = zeros(kb);
    logp_ = zeros(kb);
    eps_ = zeros(kb * act_dim_);
    pi_act_ = zeros(kb * act_dim_);
    pi_act_b_ = zeros(nq * kb * act_dim_);
    dq_da_all_ = zeros(nq * kb * act_dim_);
    q_min_ = zeros(kb);
    d_head_ = zeros(kb * 2 * act_dim_);
    pi_critic_tape_ = std::make_unique<MlpTape>(critic_, nq * K_, B_);
  }
}

void Agent::ensure_act_tape(int64_t n) {
  std::unique_ptr<MlpTape>& tape = act_tapes_[n];
  if (!tape) tape = std::make_unique<MlpTape>(actor_, K_, static_cast<int>(n));
  act_tape_ = tape.get();
}

void Agent::set_counters(int64_t n_updates, int64_t n_actor_updates) {
  ACX_CHECK(n_updates >= 0 && n_actor_updates >= 0, "update counts are never negative");
  n_updates_ = n_updates;
  n_actor_updates_ = n_actor_updates;
  const uint64_t u = static_cast<uint64_t>(n_updates);
  update_counter_.copy_from_host(&u, 1);
  // The scalars are recomputed from the step by the next adam_advance.
  const AdamStepState steps[3] = {{n_updates, 0, 0, 0, 0}, {n_actor_updates, 0, 0, 0, 0}, {n_actor_updates, 0, 0, 0, 0}};
  adam_steps_.copy_from_host(steps, 3);
}

void Agent::check_device_counters() const {
  uint64_t u = 0;
  update_counter_.copy_to_host(&u, 1);
  AdamStepState steps[3];
  adam_steps_.copy_to_host(steps, 3);
  // The temperature steps with the actor, and only when it is learned.
  const bool alpha_learned = is_sac() && cfg_.autotune_alpha;
  if (u != static_cast<uint64_t>(n_updates_) || steps[kAdamCritic].step != n_updates_ ||
      steps[kAdamActor].step != n_actor_updates_ || (alpha_learned && steps[kAdamAlpha].step != n_actor_updates_)) {
    throw Error(fmt::format("the device's update counters ({} updates, Adam steps {} / {} / {}) disagree with the "
                            "host's ({} updates, {} actor updates)",
                            u, steps[kAdamCritic].step, steps[kAdamActor].step, steps[kAdamAlpha].step, n_updates_,
                            n_actor_updates_));
  }
}

void Agent::act(const float* obs, int64_t n_per_agent, float* actions) {
  ensure_act_tape(n_per_agent);
  mlp_forward(actor_, actor_params_.data(), {MlpInput{obs, obs_dim_, n_per_agent * obs_dim_}}, *act_tape_);
  if (is_sac()) {
    ops::squashed_gaussian(dev_, SquashedGaussianArgs{K_ * n_per_agent, act_dim_, act_tape_->output(), act_low_.data(),
                                                      act_high_.data(), cfg_.log_std_min, cfg_.log_std_max, 0,
                                                      RngPurpose::kEval, 0, 1, actions, nullptr, nullptr});
    return;
  }
  memory::copy_device_to_device(dev_, actions, act_tape_->output(), K_ * n_per_agent * act_dim_ * sizeof(float));
}

void Agent::act_sample(const float* obs, int64_t n_per_agent, uint64_t seed, DeviceCounter step, float* actions) {
  ACX_CHECK(is_sac(), "act_sample: only SAC's policy is stochastic");
  ensure_act_tape(n_per_agent);
  mlp_forward(actor_, actor_params_.data(), {MlpInput{obs, obs_dim_, n_per_agent * obs_dim_}}, *act_tape_);
  ops::squashed_gaussian(dev_, SquashedGaussianArgs{K_ * n_per_agent, act_dim_, act_tape_->output(), act_low_.data(),
                                                    act_high_.data(), cfg_.log_std_min, cfg_.log_std_max, seed,
                                                    RngPurpose::kExploration, step, 0, actions, nullptr, nullptr});
}

void Agent::broadcast(const float* src, int64_t block, float* dst) {
  for (int q = 0; q < n_q(); ++q) memory::copy_device_to_device(dev_, dst + q * block, src, block * sizeof(float));
}

void Agent::update(const TrainBatch& b) {
  const SubnormalsAsZero no_subnormals(dev_);
  if (is_sac()) {
    update_sac(b);
  } else {
    update_td3(b);
  }
  // The update number keyed this update's draws; the next one's is one on.
  ops::advance_counter(dev_, update_counter_.data());
}

void Agent::critic_step(const TrainBatch& b) {
  const int nq = n_q();
  const int64_t kb = static_cast<int64_t>(K_) * B_;
  const int64_t pc = critic_.n_params();
  const int64_t obs_stride = static_cast<int64_t>(B_) * obs_dim_, act_stride = static_cast<int64_t>(B_) * act_dim_;
  broadcast(b.obs, kb * obs_dim_, critic_obs_.data());
  broadcast(b.action, kb * act_dim_, critic_act_.data());
  mlp_forward(critic_, critic_params_.data(),
              {MlpInput{critic_obs_.data(), obs_dim_, obs_stride}, MlpInput{critic_act_.data(), act_dim_, act_stride}},
              *critic_tape_);
  if (is_c51()) {
    // Every critic of an agent learns the one target distribution.
    const int n = cfg_.atoms;
    ops::c51_loss_grad(dev_, C51LossArgs{n, nq * kb, kb, critic_tape_->output(), c51_target_.data(),
                                         1.0f / static_cast<float>(B_), c51_dlogits_.data(), c51_row_loss_.data()});
    ops::member_mean(dev_, MemberMeanArgs{nq * K_, B_, c51_row_loss_.data(), critic_loss_.data()});
    mlp_backward(critic_, critic_params_.data(), *critic_tape_, c51_dlogits_.data(), static_cast<int64_t>(B_) * n,
                 1.0f, critic_grad_.data());
  } else {
    ops::td_loss_grad(dev_, cfg_.loss, cfg_.huber_delta, nq * K_, B_, critic_tape_->output(), y_.data(), B_,
                      dq_.data(), critic_loss_.data());
    mlp_backward(critic_, critic_params_.data(), *critic_tape_, dq_.data(), B_, 1.0f, critic_grad_.data());
  }
  if (grad_reduce_) grad_reduce_(critic_grad_.data(), nq * K_ * pc);
  if (cfg_.max_grad_norm > 0.0f) {
    ops::clip_grad_norm(dev_, nq * K_, pc, cfg_.max_grad_norm, critic_grad_.data(), grad_norms_.data(), &clip_ws_);
  }
  ++n_updates_;
  const AdamConfig critic_adam{cfg_.critic_lr, 0.9f, 0.999f, 1e-8f, cfg_.weight_decay, cfg_.weight_decay > 0.0f};
  ops::adam_step_counted(dev_, nq * K_ * pc, critic_adam, adam_steps_.data() + kAdamCritic, critic_params_.data(),
                         critic_m_.data(), critic_v_.data(), critic_grad_.data(),
                         critic_member_lr_.empty() ? nullptr : critic_member_lr_.data(), pc);
}

// The actor's gradient is in actor_grad_: clip it (algo.max_grad_norm), then one Adam(W) step.
void Agent::actor_optimizer_step() {
  const int64_t pa = actor_.n_params();
  if (grad_reduce_) grad_reduce_(actor_grad_.data(), K_ * pa);
  if (cfg_.max_grad_norm > 0.0f) {
    ops::clip_grad_norm(dev_, K_, pa, cfg_.max_grad_norm, actor_grad_.data(), grad_norms_.data(), &clip_ws_);
  }
  ++n_actor_updates_;
  const AdamConfig actor_adam{cfg_.actor_lr, 0.9f, 0.999f, 1e-8f, cfg_.weight_decay, cfg_.weight_decay > 0.0f};
  ops::adam_step_counted(dev_, K_ * pa, actor_adam, adam_steps_.data() + kAdamActor, actor_params_.data(),
                         actor_m_.data(), actor_v_.data(), actor_grad_.data(),
                         actor_member_lr_.empty() ? nullptr : actor_member_lr_.data(), pa);
}

void Agent::critic_target(const TrainBatch& b, const float* next_log_prob) {
  const int nq = n_q();
  if (is_c51()) {
    ops::c51_project(dev_, C51ProjectArgs{support(), nq, K_, B_, target_critic_tape_->output(), b.reward, b.discount,
                                          cfg_.reward_scale, next_log_prob,
                                          next_log_prob ? log_alpha_.data() : nullptr, c51_target_.data(), nullptr});
    return;
  }
  TdTargetArgs target{nq, K_, B_, target_critic_tape_->output(), b.reward, b.discount, y_.data(), cfg_.reward_scale};
  target.next_log_prob = next_log_prob;
  target.log_alpha = next_log_prob ? log_alpha_.data() : nullptr;
  ops::td_target(dev_, target);
}

void Agent::value_and_action_grad(MlpTape& tape, int n_members, float* q, float* dq_da) {
  if (!is_c51()) {
    critic_action_grad(critic_, critic_params_.data(), tape, obs_dim_, dq_da);
    return;
  }
  const int64_t rows = static_cast<int64_t>(n_members) * B_;
  ops::c51_value(dev_, C51ValueArgs{support(), rows, tape.output(), q, c51_dq_dl_.data()});
  critic_action_grad(critic_, critic_params_.data(), tape, obs_dim_, dq_da, c51_dq_dl_.data(),
                     static_cast<int64_t>(B_) * cfg_.atoms);
}

void Agent::update_td3(const TrainBatch& b) {
  const int nq = n_q();
  const int64_t kb = static_cast<int64_t>(K_) * B_;
  const int64_t pa = actor_.n_params(), pc = critic_.n_params();

  // ---- target: a' = smoothed mu'(s'), y = r + discount * min_q Q'_q(s', a')
  mlp_forward(actor_, has_target_actor() ? actor_target_.data() : actor_params_.data(),
              {MlpInput{b.next_obs, obs_dim_, static_cast<int64_t>(B_) * obs_dim_}}, *target_actor_tape_);
  if (cfg_.algo == Algo::kTd3) {
    ops::smooth_target_actions(dev_, kb, act_dim_, target_actor_tape_->output(), act_low_.data(), act_high_.data(),
                               cfg_.target_noise, cfg_.target_noise_clip, cfg_.smoothing_seed,
                               DeviceCounter::at(update_counter_.data()), next_act_.data());
  } else {
    memory::copy_device_to_device(dev_, next_act_.data(), target_actor_tape_->output(), kb * act_dim_ * sizeof(float));
  }
  broadcast(b.next_obs, kb * obs_dim_, critic_next_obs_.data());
  broadcast(next_act_.data(), kb * act_dim_, critic_next_act_.data());
  const int64_t obs_stride = static_cast<int64_t>(B_) * obs_dim_, act_stride = static_cast<int64_t>(B_) * act_dim_;
  mlp_forward(critic_, critic_target_.data(),
              {MlpInput{critic_next_obs_.data(), obs_dim_, obs_stride},
               MlpInput{critic_next_act_.data(), act_dim_, act_stride}},
              *target_critic_tape_);
  critic_target(b, nullptr);

  // ---- critic step
  critic_step(b);

  if (n_updates_ % cfg_.policy_delay != 0) return;

  // ---- actor step: dQ/da at (s, mu(s)) from critic 0 of each agent, then the VJP
  mlp_forward(actor_, actor_params_.data(), {MlpInput{b.obs, obs_dim_, obs_stride}}, *actor_tape_);
  mlp_forward(critic_, critic_params_.data(),
              {MlpInput{b.obs, obs_dim_, obs_stride}, MlpInput{actor_tape_->output(), act_dim_, act_stride}},
              *actor_critic_tape_);
  value_and_action_grad(*actor_critic_tape_, K_, is_c51() ? c51_q_pi_.data() : nullptr, dq_da_.data());
  // Loss -mean_b Q(s_b, mu(s_b)): its gradient is the VJP of -dQ/da.
  actor_vjp(actor_, actor_params_.data(), *actor_tape_, dq_da_.data(), act_stride, -1.0f, actor_grad_.data());
  actor_optimizer_step();

  if (has_target_actor()) ops::polyak_update(dev_, K_ * pa, cfg_.tau, actor_params_.data(), actor_target_.data());
  ops::polyak_update(dev_, nq * K_ * pc, cfg_.tau, critic_params_.data(), critic_target_.data());
}

// SAC as CleanRL's sac_continuous_action.py runs it: the target action is a
// sample of the current actor (no target actor), the critics' targets move
// every update, and every policy_delay updates the actor (and alpha) take
// policy_delay steps on the same batch, one per update on average. The
// policy's noise is keyed by (policy_seed, row, counter): counter
// u (1 + policy_delay) + slot, u the update number (on the device), slot 0
// the target's sample and 1 + j the j-th actor step's, so no two draws
// share a key.
DeviceCounter Agent::sac_draw_key(uint64_t slot) const {
  return DeviceCounter::at(update_counter_.data(), 1 + static_cast<uint64_t>(cfg_.policy_delay), slot);
}

void Agent::update_sac(const TrainBatch& b) {
  const int nq = n_q();
  const int64_t kb = static_cast<int64_t>(K_) * B_;
  const int64_t pc = critic_.n_params();
  const int64_t obs_stride = static_cast<int64_t>(B_) * obs_dim_, act_stride = static_cast<int64_t>(B_) * act_dim_;

  // ---- target: a' ~ pi(s'), y = r + discount (min_q Q'_q(s', a') - alpha log pi(a'|s'))
  mlp_forward(actor_, actor_params_.data(), {MlpInput{b.next_obs, obs_dim_, obs_stride}}, *target_actor_tape_);
  ops::squashed_gaussian(dev_, SquashedGaussianArgs{kb, act_dim_, target_actor_tape_->output(), act_low_.data(),
                                                    act_high_.data(), cfg_.log_std_min, cfg_.log_std_max,
                                                    cfg_.policy_seed, RngPurpose::kSacPolicy, sac_draw_key(0), 0,
                                                    next_act_.data(), next_logp_.data(), nullptr});
  broadcast(b.next_obs, kb * obs_dim_, critic_next_obs_.data());
  broadcast(next_act_.data(), kb * act_dim_, critic_next_act_.data());
  mlp_forward(critic_, critic_target_.data(),
              {MlpInput{critic_next_obs_.data(), obs_dim_, obs_stride},
               MlpInput{critic_next_act_.data(), act_dim_, act_stride}},
              *target_critic_tape_);
  critic_target(b, next_logp_.data());

  // ---- critic step, then the critics' targets
  critic_step(b);
  ops::polyak_update(dev_, nq * K_ * pc, cfg_.tau, critic_params_.data(), critic_target_.data());

  if (n_updates_ % cfg_.policy_delay != 0) return;
  for (int j = 0; j < cfg_.policy_delay; ++j) sac_actor_step(b, 1 + static_cast<uint64_t>(j));
}

// One actor step: a ~ pi(s) with its noise kept, dQ/da of the smaller twin
// at (s, a), dL/d(heads) (kernels/sac.h), the actor's backward from there,
// Adam; then alpha's gradient from the same log pi, and its Adam step.
void Agent::sac_actor_step(const TrainBatch& b, uint64_t slot) {
  const int nq = n_q();
  const int64_t kb = static_cast<int64_t>(K_) * B_;
  const int64_t obs_stride = static_cast<int64_t>(B_) * obs_dim_, act_stride = static_cast<int64_t>(B_) * act_dim_;
  mlp_forward(actor_, actor_params_.data(), {MlpInput{b.obs, obs_dim_, obs_stride}}, *actor_tape_);
  ops::squashed_gaussian(dev_, SquashedGaussianArgs{kb, act_dim_, actor_tape_->output(), act_low_.data(),
                                                    act_high_.data(), cfg_.log_std_min, cfg_.log_std_max,
                                                    cfg_.policy_seed, RngPurpose::kSacPolicy, sac_draw_key(slot), 0,
                                                    pi_act_.data(), logp_.data(), eps_.data()});
  // critic_obs_ holds the batch's observations once per critic (critic_step).
  broadcast(pi_act_.data(), kb * act_dim_, pi_act_b_.data());
  mlp_forward(critic_, critic_params_.data(),
              {MlpInput{critic_obs_.data(), obs_dim_, obs_stride}, MlpInput{pi_act_b_.data(), act_dim_, act_stride}},
              *pi_critic_tape_);
  value_and_action_grad(*pi_critic_tape_, nq * K_, is_c51() ? c51_q_.data() : nullptr, dq_da_all_.data());
  ops::min_q_grad(dev_, MinQGradArgs{nq, kb, act_dim_, is_c51() ? c51_q_.data() : pi_critic_tape_->output(),
                                     dq_da_all_.data(), dq_da_.data(), q_min_.data()});
  ops::sac_actor_grad(dev_, SacActorGradArgs{kb, act_dim_, B_, actor_tape_->output(), eps_.data(), act_low_.data(),
                                             act_high_.data(), cfg_.log_std_min, cfg_.log_std_max, dq_da_.data(),
                                             log_alpha_.data(), 1.0f / static_cast<float>(B_), d_head_.data()});
  mlp_backward(actor_, actor_params_.data(), *actor_tape_, d_head_.data(), static_cast<int64_t>(B_) * 2 * act_dim_,
               1.0f, actor_grad_.data());
  actor_optimizer_step();

  // alpha's gradient uses the log pi of this step's sample (SB3's order;
  // CleanRL draws a fresh sample after the actor's step).
  ops::alpha_grad(dev_, AlphaGradArgs{K_, B_, logp_.data(), log_alpha_.data(),
                                      cfg_.target_entropy_per_dim * static_cast<float>(act_dim_), alpha_grad_.data(),
                                      mean_logp_.data()});
  if (cfg_.autotune_alpha) {
    if (grad_reduce_) grad_reduce_(alpha_grad_.data(), K_);
    // Adam's step count for alpha is the actor's: one alpha step per actor step.
    const AdamConfig alpha_adam{cfg_.alpha_lr, 0.9f, 0.999f, 1e-8f, 0.0f, false};
    ops::adam_step_counted(dev_, K_, alpha_adam, adam_steps_.data() + kAdamAlpha, log_alpha_.data(), alpha_m_.data(),
                           alpha_v_.data(), alpha_grad_.data(), nullptr, 1);
  }
}

AgentStats Agent::stats() const {
  AgentStats s;
  const int nq = n_q();
  const std::vector<float> loss = critic_loss_.to_host();
  s.critic_loss.assign(K_, 0.0f);
  for (int q = 0; q < nq; ++q)
    for (int k = 0; k < K_; ++k) s.critic_loss[k] += loss[q * K_ + k] / nq;
  // Q_0 of each agent: the first K members of the critic tape; the actor's
  // critic tape holds Q_0(s, mu(s)) of the last actor step.
  const int64_t kb = static_cast<int64_t>(K_) * B_;
  std::vector<float> q(kb), q_pi(kb), logp;
  if (is_c51()) {  // Q_0 is the expectation of critic 0's distribution, computed here for the logs
    const int n = cfg_.atoms;
    std::vector<float> logits(static_cast<size_t>(kb) * n);
    memory::copy_device_to_host(dev_, logits.data(), critic_tape_->output(), logits.size() * sizeof(float));
    const C51Support sup = support();
    for (int64_t i = 0; i < kb; ++i) q[i] = c51_mean(sup, logits.data() + i * n);
  } else {
    memory::copy_device_to_host(dev_, q.data(), critic_tape_->output(), kb * sizeof(float));
  }
  // SAC's actor loss: mean_b (alpha log pi - min_q Q(s, a ~ pi)); TD3's: -mean_b Q_0(s, mu(s)).
  memory::copy_device_to_host(dev_, q_pi.data(),
                              is_sac() ? q_min_.data() : (is_c51() ? c51_q_pi_.data() : actor_critic_tape_->output()),
                              kb * sizeof(float));
  if (is_sac()) {
    logp = logp_.to_host();
    const std::vector<float> log_alpha = log_alpha_.to_host(), mean_logp = mean_logp_.to_host();
    for (int k = 0; k < K_; ++k) {
      s.alpha.push_back(std::exp(log_alpha[k]));
      s.entropy.push_back(-mean_logp[k]);
    }
  }
  s.mean_q.assign(K_, 0.0f);
  s.actor_loss.assign(K_, 0.0f);
  for (int k = 0; k < K_; ++k) {
    double sq = 0, spi = 0;
    for (int i = 0; i < B_; ++i) {
      sq += q[k * B_ + i];
      spi += is_sac() ? static_cast<double>(s.alpha[k]) * logp[k * B_ + i] - q_pi[k * B_ + i] : -q_pi[k * B_ + i];
    }
    s.mean_q[k] = static_cast<float>(sq / B_);
    s.actor_loss[k] = n_actor_updates_ > 0 ? static_cast<float>(spi / B_) : 0.0f;
  }
  return s;
}

void Agent::set_member_learning_rates(int k, float actor_lr, float critic_lr) {
  ACX_CHECK(k >= 0 && k < K_, "agent index out of range");
  ACX_CHECK(std::isfinite(actor_lr) && actor_lr > 0 && std::isfinite(critic_lr) && critic_lr > 0,
            "learning rates must be positive and finite");
  const int nq = n_q();
  if (actor_member_lr_.empty())
    actor_member_lr_ = Buffer<float>::from_host(dev_, std::vector<float>(static_cast<size_t>(K_), cfg_.actor_lr));
  if (critic_member_lr_.empty())
    critic_member_lr_ =
        Buffer<float>::from_host(dev_, std::vector<float>(static_cast<size_t>(nq) * K_, cfg_.critic_lr));
  memory::copy_host_to_device(dev_, actor_member_lr_.data() + k, &actor_lr, sizeof(float));
  for (int q = 0; q < nq; ++q)  // critic member q K + k is critic q of agent k
    memory::copy_host_to_device(dev_, critic_member_lr_.data() + q * K_ + k, &critic_lr, sizeof(float));
}

std::vector<StateShape> Agent::state_shapes(const EnvInfo& env, const AgentConfig& cfg) {
  const int64_t pa = mlp_layout(actor_spec(env, cfg)).n_params, pc = mlp_layout(critic_spec(env, cfg)).n_params;
  const int64_t K = cfg.n_agents, ec = static_cast<int64_t>(cfg.algo == Algo::kDdpg ? 1 : 2) * K;
  if (cfg.algo == Algo::kSac) {  // no target actor; the temperature and its Adam state
    return {
        {"actor.params", {K, pa}},   {"actor_opt.m", {K, pa}},          {"actor_opt.v", {K, pa}},
        {"critic.params", {ec, pc}}, {"critic_target.params", {ec, pc}}, {"critic_opt.m", {ec, pc}},
        {"critic_opt.v", {ec, pc}},  {"alpha.log_alpha", {K, 1}},        {"alpha_opt.m", {K, 1}},
        {"alpha_opt.v", {K, 1}},
    };
  }
  std::vector<StateShape> shapes = {
      {"actor.params", {K, pa}},         {"actor_target.params", {K, pa}},  {"actor_opt.m", {K, pa}},
      {"actor_opt.v", {K, pa}},          {"critic.params", {ec, pc}},       {"critic_target.params", {ec, pc}},
      {"critic_opt.m", {ec, pc}},        {"critic_opt.v", {ec, pc}},
  };
  if (!cfg.target_actor) shapes.erase(shapes.begin() + 1);  // algo.target_actor = false keeps none
  return shapes;
}

std::vector<StateTensor> Agent::state() {
  std::vector<float*> data;
  if (is_sac()) {
    data = {actor_params_.data(),  actor_m_.data(),  actor_v_.data(),   critic_params_.data(), critic_target_.data(),
            critic_m_.data(),      critic_v_.data(), log_alpha_.data(), alpha_m_.data(),       alpha_v_.data()};
  } else {
    data = {actor_params_.data(),  actor_target_.data(), actor_m_.data(),  actor_v_.data(),
            critic_params_.data(), critic_target_.data(), critic_m_.data(), critic_v_.data()};
    if (!has_target_actor()) data.erase(data.begin() + 1);
  }
  std::vector<StateTensor> out;
  const std::vector<StateShape> shapes = state_shapes(env_, cfg_);
  for (size_t i = 0; i < shapes.size(); ++i) out.push_back({shapes[i].name, shapes[i].shape, data[i]});
  return out;
}

int64_t Agent::bytes_for(const EnvInfo& env, const AgentConfig& cfg) {
  // Per network: parameters, target, Adam's m and v (the state), and the gradient.
  int64_t n = 0;
  for (const StateShape& s : state_shapes(env, cfg)) {
    const int64_t floats = checked_product({s.shape[0], s.shape[1]}, "network parameters");
    n += s.name.find(".params") != std::string::npos && s.name.find("_target") == std::string::npos ? 2 * floats
                                                                                                     : floats;
  }
  return checked_product({n, static_cast<int64_t>(sizeof(float))}, "network bytes");
}

size_t Agent::bytes() const { return static_cast<size_t>(bytes_for(env_, cfg_)); }

}  // namespace acx
