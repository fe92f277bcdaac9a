// mlp.h: the actor and critic networks, with a leading member dimension E
// (twin critics are E = 2, an ensemble of independent agents more), and our
// own gradient kernels: backward (input, weight and bias gradients), the
// critic's action-gradient dQ/da, the actor's vector-Jacobian product (the
// deterministic policy gradient) and its forward-mode twin, the Jacobian-
// vector product. docs/dpg.md explains the math.
//
// Parameter layout. One flat float buffer per network, [E, P]: member e's
// parameters are params[e * P, (e + 1) * P). Within a member, layer by layer
// (l = 0 .. L-1, input to output):
//     W_l  [out_l, in_l]  row-major (the PyTorch nn.Linear weight layout)
//     b_l  [out_l]
// and, on a hidden layer of a network built with MlpSpec::layer_norm,
//     g_l     [out_l]   the LayerNorm gain   (initialized to 1)
//     beta_l  [out_l]   the LayerNorm shift  (initialized to 0)
// right after b_l. So P = sum_l out_l * (in_l + 1), plus 2 * out_l per
// LayerNorm layer. Adam, Polyak averaging, clipping and checkpoints are one
// pass over one buffer.
//
// Activations are row-major [E, B, features]. A layer is z = x W^T + b, then
// h = act(z): ReLU on hidden layers (with LayerNorm: h = relu(g * n + beta),
// n = (z - mean(z)) / sqrt(var(z) + 1e-5) over the row's features, the
// biased variance: PyTorch's nn.LayerNorm); on the output the identity (critic) or
// a = mid + half_range * tanh(z) (actor, per action dimension, from the
// env's bounds). The matrix products are strided-batched GEMMs over E
// (kernels/runtime/blas.h); the bias, activation and their derivatives are the fused
// element kernels below, whose math is written once here.
//
// The critic's input concat(obs, action) is never materialized: the input is
// given as column blocks (MlpInput), and the first layer's GEMM is split into
// one GEMM per block, accumulating into the same output (beta = 1), each
// reading its slice of W_0's columns (ldb = in_0). The backward likewise
// writes each block's slice of dW_0, and dQ/da is one GEMM against the action
// columns of W_0. A block may be shared by all members (member_stride 0):
// twin critics read one batch of observations without copies.
//
// Initialization (Philox, reproducible): PyTorch's nn.Linear default, W and b
// ~ U(-1/sqrt(in), 1/sqrt(in)); optionally the last layer ~ U(-c, c) (DDPG
// uses c = 3e-3). Parameter j of member m is word j % 4 of the draw keyed by
// (seed, RngPurpose::kInit, m, counter = (tag << 32) | (j / 4)): member e of
// an ensemble equals a lone network built with first_member = e, and `tag`
// keeps networks sharing a seed (actor, critic) apart.
//
// Determinism: no float atomics. Weight gradients sum over the batch inside
// the GEMM; bias, gain and shift gradients are one thread per (member,
// output) adding the batch in order. Repeated runs on the CPU are bitwise
// identical.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

enum class Activation : int32_t { kIdentity = 0, kRelu = 1, kTanhScaled = 2 };

// ---- element math (host + device) ---------------------------------------------
// mid, half: the output affine of kTanhScaled (ignored otherwise).
ACX_HD float activation_forward(Activation act, float z, float mid, float half) {
  switch (act) {
    case Activation::kRelu: return z > 0.0f ? z : 0.0f;
    case Activation::kTanhScaled: return mid + half * tanhf(z);
    default: return z;
  }
}

ACX_HD float relu_derivative(float z) { return z > 0.0f ? 1.0f : 0.0f; }

// d act / d z at z.
ACX_HD float activation_derivative(Activation act, float z, float half) {
  switch (act) {
    case Activation::kRelu: return relu_derivative(z);
    case Activation::kTanhScaled: {
      const float t = tanhf(z);
      return half * (1.0f - t * t);
    }
    default: return 1.0f;
  }
}

// Fused bias + activation over [E, rows, n]: z <- z + b, h = act(z).
struct BiasActArgs {
  int64_t rows;          // B
  int n;                 // features
  const float* bias;     // member e's bias: bias + e * bias_stride, [n]
  int64_t bias_stride;
  Activation act;
  const float* affine;   // [2, n]: mid then half_range (kTanhScaled), else null
  float* z;              // [E, rows, n] in: x W^T, out: x W^T + b
  float* h;              // [E, rows, n] out: act(z)
};

// The element kernels come in two forms: `_elem(a, i, e, o)` is the math at
// flat index i = (e * rows + r) * n + o, given its member e and feature o;
// `_at(a, i)` derives them from i (the CUDA shells, one thread per element).
// The CPU loops walk rows and features and pass them, which saves two 64-bit
// divisions per element and lets the compiler vectorize the feature loop.
ACX_HD void bias_act_forward_elem(const BiasActArgs& a, int64_t i, int64_t e, int o) {
  const float z = a.z[i] + a.bias[e * a.bias_stride + o];
  const float mid = a.affine ? a.affine[o] : 0.0f, half = a.affine ? a.affine[a.n + o] : 1.0f;
  a.z[i] = z;
  a.h[i] = activation_forward(a.act, z, mid, half);
}

ACX_HD void bias_act_forward_at(const BiasActArgs& a, int64_t i) {
  bias_act_forward_elem(a, i, i / (a.rows * a.n), static_cast<int>(i % a.n));
}

// The forward-mode twin: (z, dz) <- (z + b, dz + db), h = act(z),
// dh = act'(z) dz written over dz.
struct BiasActJvpArgs {
  BiasActArgs fwd;
  const float* dbias;    // the direction's bias: dbias + e * bias_stride
  float* dz;             // [E, rows, n] in: tangent of x W^T, out: tangent of h
};

// On values: xw = x W^T and dxw its tangent, b and db the bias and its direction.
struct ActJvp {
  float z, h, dh;
};
ACX_HD ActJvp bias_act_jvp_value(Activation act, float xw, float b, float dxw, float db, float mid, float half) {
  const float z = xw + b;
  return {z, activation_forward(act, z, mid, half), activation_derivative(act, z, half) * (dxw + db)};
}

ACX_HD void bias_act_jvp_elem(const BiasActJvpArgs& a, int64_t i, int64_t e, int o) {
  const BiasActArgs& f = a.fwd;
  const float mid = f.affine ? f.affine[o] : 0.0f, half = f.affine ? f.affine[f.n + o] : 1.0f;
  const ActJvp r = bias_act_jvp_value(f.act, f.z[i], f.bias[e * f.bias_stride + o], a.dz[i],
                                      a.dbias[e * f.bias_stride + o], mid, half);
  f.z[i] = r.z;
  f.h[i] = r.h;
  a.dz[i] = r.dh;
}

ACX_HD void bias_act_jvp_at(const BiasActJvpArgs& a, int64_t i) {
  bias_act_jvp_elem(a, i, i / (a.fwd.rows * a.fwd.n), static_cast<int>(i % a.fwd.n));
}

// Activation backward: dz = scale * dh * act'(z). dh may alias dz (same
// stride); dh == null stands for a cotangent of ones (dQ/da seeds with 1).
struct ActBackwardArgs {
  int64_t rows;
  int n;
  const float* dh;       // member e: dh + e * dh_stride, [rows, n]
  int64_t dh_stride;
  const float* z;        // [E, rows, n] pre-activations from the forward
  Activation act;
  const float* affine;   // [2, n] or null
  float scale;
  float* dz;             // [E, rows, n]
};

ACX_HD float act_backward_value(Activation act, float scale, float dh, float z, float half) {
  return scale * dh * activation_derivative(act, z, half);
}

ACX_HD void act_backward_elem(const ActBackwardArgs& a, int64_t i, int64_t e, int o) {
  const float dh = a.dh ? a.dh[e * a.dh_stride + (i - e * a.rows * a.n)] : 1.0f;
  const float half = a.affine ? a.affine[a.n + o] : 1.0f;
  a.dz[i] = act_backward_value(a.act, a.scale, dh, a.z[i], half);
}

ACX_HD void act_backward_at(const ActBackwardArgs& a, int64_t i) {
  act_backward_elem(a, i, i / (a.rows * a.n), static_cast<int>(i % a.n));
}

// Bias gradient: db[e, o] = sum_r dz[e, r, o], the batch added in order by
// one thread per (member, output): deterministic without atomics. (The CPU
// loop adds in the same order, a block of outputs at a time, reading dz row
// by row: the same bits, without one pass over dz per output.)
struct BiasGradArgs {
  int64_t rows;
  int n;
  const float* dz;       // [E, rows, n]
  float* db;             // member e: db + e * db_stride, [n]
  int64_t db_stride;
};

ACX_HD void bias_grad_at(const BiasGradArgs& a, int64_t t) {
  const int64_t e = t / a.n;
  const int o = static_cast<int>(t % a.n);
  const float* col = a.dz + e * a.rows * a.n + o;
  float s = 0.0f;
  for (int64_t r = 0; r < a.rows; ++r) s += col[r * a.n];
  a.db[e * a.db_stride + o] = s;
}

// Uniform initialization of params[e, offset : offset + count] in
// (center - bound, center + bound); bound = 0 fills with center (LayerNorm's
// gain 1 and shift 0).
struct InitArgs {
  uint64_t seed;
  uint32_t tag;
  uint32_t first_member;
  int64_t n_params;      // P, the member stride
  int64_t offset, count;
  float bound;
  float center;
  float* params;         // [E, P]
};

ACX_HD float init_param_value(uint64_t seed, uint32_t tag, uint32_t member, int64_t j, float bound) {
  const uint64_t counter = (static_cast<uint64_t>(tag) << 32) | static_cast<uint64_t>(j >> 2);
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(RngPurpose::kInit), member, counter);
  // Select the word without indexing r.v by a runtime value (which would put r in local memory on the GPU).
  const int w = static_cast<int>(j & 3);
  const uint32_t bits = w == 0 ? r.v[0] : (w == 1 ? r.v[1] : (w == 2 ? r.v[2] : r.v[3]));
  return bound * (2.0f * uniform_from_bits(bits) - 1.0f);
}

ACX_HD void init_uniform_at(const InitArgs& a, int64_t i) {
  const int64_t e = i / a.count;
  const int64_t j = a.offset + i % a.count;
  a.params[e * a.n_params + j] =
      a.bound > 0.0f ? a.center + init_param_value(a.seed, a.tag, a.first_member + static_cast<uint32_t>(e), j, a.bound)
                     : a.center;
}

// ---- LayerNorm on a hidden layer (element math) ----------------------------------------
// Per row of z (n features): n = (z - mean) * rstd, rstd = 1 / sqrt(var + eps)
// (biased variance), y = g * n + beta, h = relu(y). The row sums are the
// shells' business (a loop on the CPU, a warp's shuffles on the GPU); these
// functions are the per-element math around them. Row r of [E * B] belongs
// to member r / B, whose g, beta (and b, and the direction's slices) sit at
// member stride P.
constexpr float kLayerNormEps = 1e-5f;

ACX_HD float layer_norm_rstd(float centered_square_sum, int n) {
  return 1.0f / sqrtf(centered_square_sum / static_cast<float>(n) + kLayerNormEps);
}

// Forward: xhat holds x W^T on entry (from the GEMM) and n on exit; y is the
// ReLU's input (kept for its backward), h the layer's output.
struct LayerNormArgs {
  int64_t rows;          // B
  int n;                 // features
  const float* bias;     // member e: bias + e * param_stride, [n]
  const float* gain;     // g, likewise
  const float* shift;    // beta, likewise
  int64_t param_stride;  // P
  float* xhat;           // [E, rows, n] in: x W^T, out: n (the normalized z)
  float* rstd;           // [E, rows]
  float* y;              // [E, rows, n] g * n + beta
  float* h;              // [E, rows, n] relu(y)
};

// z = x W^T + b at (row r, feature o).
ACX_HD float layer_norm_input(const LayerNormArgs& a, int64_t r, int o) {
  return a.xhat[r * a.n + o] + a.bias[(r / a.rows) * a.param_stride + o];
}

ACX_HD void layer_norm_store(const LayerNormArgs& a, int64_t r, int o, float z, float mean, float rstd) {
  const int64_t p = (r / a.rows) * a.param_stride + o, i = r * a.n + o;
  const float xhat = (z - mean) * rstd;
  const float y = a.gain[p] * xhat + a.shift[p];
  a.xhat[i] = xhat;
  a.y[i] = y;
  a.h[i] = y > 0.0f ? y : 0.0f;
}

// Forward mode: with z's tangent dz (the direction's dW, db and the input's
// tangent), and the direction's dg, dbeta,
//   dn = rstd (dz - mean(dz) - n mean(n dz)),   dy = dg n + g dn + dbeta,
//   dh = relu'(y) dy.
struct LayerNormJvpArgs {
  LayerNormArgs fwd;
  const float* dbias;    // the direction's b, g, beta (member stride fwd.param_stride)
  const float* dgain;
  const float* dshift;
  float* dz;             // [E, rows, n] in: tangent of x W^T, out: tangent of h
};

// z's tangent: d(x W^T) + db.
ACX_HD float layer_norm_input_tangent(const LayerNormJvpArgs& a, int64_t r, int o) {
  return a.dz[r * a.fwd.n + o] + a.dbias[(r / a.fwd.rows) * a.fwd.param_stride + o];
}

// mean_dz = mean(dz), mean_xdz = mean(n dz) over the row.
ACX_HD void layer_norm_jvp_store(const LayerNormJvpArgs& a, int64_t r, int o, float z, float dz, float mean,
                                 float rstd, float mean_dz, float mean_xdz) {
  const LayerNormArgs& f = a.fwd;
  const int64_t p = (r / f.rows) * f.param_stride + o, i = r * f.n + o;
  const float xhat = (z - mean) * rstd;
  const float y = f.gain[p] * xhat + f.shift[p];
  const float dxhat = rstd * (dz - mean_dz - xhat * mean_xdz);
  const float dy = a.dgain[p] * xhat + f.gain[p] * dxhat + a.dshift[p];
  f.xhat[i] = xhat;
  f.y[i] = y;
  f.h[i] = y > 0.0f ? y : 0.0f;
  a.dz[i] = y > 0.0f ? dy : 0.0f;
}

// Reverse mode, in place: dz holds dL/dy on entry (after the ReLU's
// backward) and dL/dz on exit:
//   dn = g dy,   dz = rstd (dn - mean(dn) - n mean(n dn))
// (the same symmetric operator as the forward-mode one).
struct LayerNormBackwardArgs {
  int64_t rows;
  int n;
  const float* gain;     // member e: gain + e * param_stride
  int64_t param_stride;
  const float* xhat;     // [E, rows, n]
  const float* rstd;     // [E, rows]
  float* dz;             // [E, rows, n] in: dL/dy, out: dL/dz
};

// dn = g dy at (r, o).
ACX_HD float layer_norm_dn(const LayerNormBackwardArgs& a, int64_t r, int o) {
  return a.gain[(r / a.rows) * a.param_stride + o] * a.dz[r * a.n + o];
}

ACX_HD float layer_norm_xhat(const LayerNormBackwardArgs& a, int64_t r, int o) { return a.xhat[r * a.n + o]; }

ACX_HD void layer_norm_backward_store(const LayerNormBackwardArgs& a, int64_t r, int o, float dn, float mean_dn,
                                      float mean_xdn) {
  const int64_t i = r * a.n + o;
  a.dz[i] = a.rstd[r] * (dn - mean_dn - a.xhat[i] * mean_xdn);
}

// Gain and shift gradients: dg[e, o] = sum_r dy n, dbeta[e, o] = sum_r dy,
// the batch added in order by one thread per (member, feature).
struct LayerNormParamGradArgs {
  int64_t rows;
  int n;
  const float* dy;       // [E, rows, n] dL/dy
  const float* xhat;     // [E, rows, n]
  float* dgain;          // member e: dgain + e * param_stride, [n]
  float* dshift;         // likewise
  int64_t param_stride;
};

ACX_HD void layer_norm_param_grad_at(const LayerNormParamGradArgs& a, int64_t t) {
  const int64_t e = t / a.n;
  const int o = static_cast<int>(t % a.n);
  const int64_t first = e * a.rows * a.n + o;
  float sg = 0.0f, sb = 0.0f;
  for (int64_t r = 0; r < a.rows; ++r) {
    const float dy = a.dy[first + r * a.n];
    sg += dy * a.xhat[first + r * a.n];
    sb += dy;
  }
  a.dgain[e * a.param_stride + o] = sg;
  a.dshift[e * a.param_stride + o] = sb;
}

// ---- the network ------------------------------------------------------------------
struct MlpSpec {
  int in_dim = 0;
  std::vector<int> hidden;                     // widths of the ReLU layers
  int out_dim = 0;
  Activation output = Activation::kIdentity;   // kIdentity (critic) or kTanhScaled (actor)
  std::vector<float> out_low, out_high;        // action bounds, kTanhScaled only, out_dim each
  float final_init_bound = 0.0f;               // > 0: last layer ~ U(-c, c); 0: PyTorch default
  bool layer_norm = false;                     // LayerNorm (gain, shift) before each hidden ReLU
};

// The layout of one member's parameters (above), computed from the spec
// alone: what a checkpoint's shapes are checked against before anything is
// allocated. Mlp holds one.
struct MlpLayout {
  std::vector<int> in, out;        // per layer
  std::vector<int64_t> w_offset;   // per layer
  int64_t n_params = 0;            // P, per member
  int max_width = 0;
};
MlpLayout mlp_layout(const MlpSpec& spec);

// The layout of one member's parameters, and the device copy of the output
// affine. Cheap to copy around by reference; holds the device it lives on.
class Mlp {
 public:
  Mlp(const Device& dev, MlpSpec spec);

  const Device& device() const { return dev_; }
  const MlpSpec& spec() const { return spec_; }
  int n_layers() const { return static_cast<int>(layout_.out.size()); }
  int layer_in(int l) const { return layout_.in[l]; }
  int layer_out(int l) const { return layout_.out[l]; }
  Activation activation(int l) const { return l + 1 == n_layers() ? spec_.output : Activation::kRelu; }
  int64_t weight_offset(int l) const { return layout_.w_offset[l]; }
  int64_t bias_offset(int l) const { return layout_.w_offset[l] + static_cast<int64_t>(layout_.out[l]) * layout_.in[l]; }
  // LayerNorm on layer l: every hidden layer when spec().layer_norm, never the output.
  bool has_layer_norm(int l) const { return spec_.layer_norm && l + 1 < n_layers(); }
  int64_t gain_offset(int l) const { return bias_offset(l) + layout_.out[l]; }       // g_l [out_l], if has_layer_norm(l)
  int64_t shift_offset(int l) const { return bias_offset(l) + 2 * layout_.out[l]; }  // beta_l [out_l], likewise
  int64_t n_params() const { return layout_.n_params; }  // P, per member
  int max_width() const { return layout_.max_width; }     // the widest layer output
  // [2, out_dim] on the device: mid, half_range (kTanhScaled), else null.
  const float* out_affine() const { return affine_.empty() ? nullptr : affine_.data(); }

 private:
  Device dev_;
  MlpSpec spec_;
  MlpLayout layout_;
  Buffer<float> affine_;
};

// One block of input columns: member e, row b at data + e * member_stride + b * width.
struct MlpInput {
  const float* data;
  int width;
  int64_t member_stride;  // 0: every member reads the same rows
};

// What a forward pass keeps for the backward pass and the JVP, for one
// (E, B). The input blocks are remembered, not copied: they must outlive the
// backward.
struct MlpTape {
  MlpTape(const Mlp& net, int n_members, int batch);

  int n_members, batch;
  std::vector<Buffer<float>> pre;   // per layer: (E, B, out_l) z = x W^T + b
  std::vector<Buffer<float>> post;  // per layer: (E, B, out_l) act(z)
  // LayerNorm layers only (empty elsewhere); pre[l] then holds y = g n + beta.
  std::vector<Buffer<float>> ln_xhat;  // per layer: (E, B, out_l) n, the normalized z
  std::vector<Buffer<float>> ln_rstd;  // per layer: (E, B) 1 / sqrt(var(z) + eps)
  Buffer<float> scratch0, scratch1; // (E, B, max_width) backward deltas, JVP tangents
  std::vector<MlpInput> inputs;     // the last forward's input blocks
  const float* output() const { return post.back().data(); }  // (E, B, out_dim)
};

// ---- ops (dispatch on the network's device) ------------------------------------------
// params: (n_members, P). Member e draws with key member first_member + e.
void mlp_init(const Mlp& net, int n_members, uint64_t seed, uint32_t tag, float* params, uint32_t first_member = 0);

// Forward over the input blocks (their widths add up to in_dim); the output
// is tape.output(). Sizes come from the tape.
void mlp_forward(const Mlp& net, const float* params, const std::vector<MlpInput>& inputs, MlpTape& tape);

// Reverse mode through the tape of the last forward, for the cotangent dout
// (member e at dout + e * dout_stride, (B, out_dim); null means all ones):
//   dparams (E, P)          <- scale * d<dout, y>/du        (skipped when null)
//   dinput  (E, B, c1 - c0) <- scale * d<dout, y>/dx[:, c0:c1] (skipped when null)
void mlp_backward(const Mlp& net, const float* params, MlpTape& tape, const float* dout, int64_t dout_stride,
                  float scale, float* dparams, float* dinput = nullptr, int col_begin = 0, int col_end = 0);

// The critic action-gradient: dq_da (E, B, act_dim) = dQ/da for the critic's
// last forward on the blocks (obs, action): backprop of a cotangent of ones
// that stops at the action columns [obs_dim, in_dim) of the first layer.
// A critic with several outputs (a C51 critic's logits, kernels/c51.h) gives
// its cotangent dQ/d(outputs), member e at dout + e * dout_stride.
void critic_action_grad(const Mlp& critic, const float* params, MlpTape& tape, int obs_dim, float* dq_da,
                        const float* dout = nullptr, int64_t dout_stride = 0);

// The actor VJP (the deterministic policy gradient): for the actor's last
// forward, dparams (E, P) = scale * d/du [ (1/B) sum_b g_b . mu(s_b; u) ],
// g member e at g + e * g_stride, (B, act_dim). Plain backprop; the Jacobian
// da/du is never formed. scale = -1 turns "climb Q" into a loss to descend.
void actor_vjp(const Mlp& actor, const float* params, MlpTape& tape, const float* g, int64_t g_stride, float scale,
               float* dparams);

// The actor JVP: forward mode along the parameter direction v (E, P):
// tangent (E, B, out_dim) = d/dt mu(s; u + t v) at t = 0, and the primal
// mu(s; u) in tape.output(). Propagates (x, dx): dz = x dW^T + dx W^T + db.
void actor_jvp(const Mlp& actor, const float* params, const float* direction, const std::vector<MlpInput>& inputs,
               MlpTape& tape, float* tangent);

// ---- shells -----------------------------------------------------------------------
namespace cpu_kernels {
void init_uniform(const InitArgs& a, int n_members);
void bias_act_forward(const BiasActArgs& a, int n_members);
void bias_act_jvp(const BiasActJvpArgs& a, int n_members);
void act_backward(const ActBackwardArgs& a, int n_members);
void bias_grad(const BiasGradArgs& a, int n_members);
void layer_norm_forward(const LayerNormArgs& a, int n_members);
void layer_norm_jvp(const LayerNormJvpArgs& a, int n_members);
void layer_norm_backward(const LayerNormBackwardArgs& a, int n_members);
void layer_norm_param_grad(const LayerNormParamGradArgs& a, int n_members);
}  // namespace cpu_kernels

namespace cuda_kernels {
void init_uniform(const InitArgs& a, int n_members, void* stream);
void bias_act_forward(const BiasActArgs& a, int n_members, void* stream);
void bias_act_jvp(const BiasActJvpArgs& a, int n_members, void* stream);
void act_backward(const ActBackwardArgs& a, int n_members, void* stream);
void bias_grad(const BiasGradArgs& a, int n_members, void* stream);
void layer_norm_forward(const LayerNormArgs& a, int n_members, void* stream);
void layer_norm_jvp(const LayerNormJvpArgs& a, int n_members, void* stream);
void layer_norm_backward(const LayerNormBackwardArgs& a, int n_members, void* stream);
void layer_norm_param_grad(const LayerNormParamGradArgs& a, int n_members, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
