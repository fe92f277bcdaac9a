// mlp.cpp: the layers of an MLP put together from strided-batched GEMMs
// (kernels/runtime/blas.h, batched over the member dimension E) and the element kernels
// of kernels/mlp.h, dispatched to the CPU or CUDA shell. Shapes in comments
// are per member unless they start with E.
#include "kernels/mlp.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "kernels/runtime/blas.h"
#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

// C_e = alpha op(A_e) op(B_e) + beta C_e over the E members.
void gemm_members(const Device& dev, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                  int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                  int64_t ldc, int64_t stride_c, int n_members) {
  GemmShape s;
  s.trans_a = trans_a;
  s.trans_b = trans_b;
  s.m = m;
  s.n = n;
  s.k = k;
  gemm_strided_batched(dev, s, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, n_members);
}

void run_bias_act_forward(const Device& dev, const BiasActArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::bias_act_forward(a, n_members, dev.stream()));
  } else {
    cpu_kernels::bias_act_forward(a, n_members);
  }
}

void run_bias_act_jvp(const Device& dev, const BiasActJvpArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::bias_act_jvp(a, n_members, dev.stream()));
  } else {
    cpu_kernels::bias_act_jvp(a, n_members);
  }
}

void run_act_backward(const Device& dev, const ActBackwardArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::act_backward(a, n_members, dev.stream()));
  } else {
    cpu_kernels::act_backward(a, n_members);
  }
}

void run_bias_grad(const Device& dev, const BiasGradArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::bias_grad(a, n_members, dev.stream()));
  } else {
    cpu_kernels::bias_grad(a, n_members);
  }
}

void run_layer_norm_forward(const Device& dev, const LayerNormArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::layer_norm_forward(a, n_members, dev.stream()));
  } else {
    cpu_kernels::layer_norm_forward(a, n_members);
  }
}

void run_layer_norm_jvp(const Device& dev, const LayerNormJvpArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::layer_norm_jvp(a, n_members, dev.stream()));
  } else {
    cpu_kernels::layer_norm_jvp(a, n_members);
  }
}

void run_layer_norm_backward(const Device& dev, const LayerNormBackwardArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::layer_norm_backward(a, n_members, dev.stream()));
  } else {
    cpu_kernels::layer_norm_backward(a, n_members);
  }
}

void run_layer_norm_param_grad(const Device& dev, const LayerNormParamGradArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::layer_norm_param_grad(a, n_members, dev.stream()));
  } else {
    cpu_kernels::layer_norm_param_grad(a, n_members);
  }
}

void run_init_uniform(const Device& dev, const InitArgs& a, int n_members) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::init_uniform(a, n_members, dev.stream()));
  } else {
    cpu_kernels::init_uniform(a, n_members);
  }
}

void check_inputs(const Mlp& net, const std::vector<MlpInput>& inputs) {
  int width = 0;
  for (const MlpInput& in : inputs) {
    ACX_CHECK(in.width > 0 && in.data != nullptr, "empty MLP input block");
    width += in.width;
  }
  ACX_CHECK(width == net.spec().in_dim, "MLP input blocks add up to " + std::to_string(width) + " columns, the network takes " +
                                            std::to_string(net.spec().in_dim));
}

// Layer l's product x W_l^T (and, for the JVP, with W_l replaced by the
// direction's slice) into z (E, B, out). Layer 0 reads the input blocks,
// each against its own columns of W_0, accumulating.
void layer_product(const Mlp& net, int l, const float* weights, const std::vector<MlpInput>& inputs, const float* x,
                   float* z, float beta, int n_members, int batch) {
  const int in = net.layer_in(l), out = net.layer_out(l);
  const int64_t P = net.n_params();
  const float* w = weights + net.weight_offset(l);
  if (l > 0) {
    gemm_members(net.device(), false, true, batch, out, in, 1.0f, x, in, static_cast<int64_t>(batch) * in, w, in, P,
                 beta, z, out, static_cast<int64_t>(batch) * out, n_members);
    return;
  }
  int col = 0;
  for (const MlpInput& block : inputs) {
    gemm_members(net.device(), false, true, batch, out, block.width, 1.0f, block.data, block.width,
                 block.member_stride, w + col, in, P, col == 0 ? beta : 1.0f, z, out,
                 static_cast<int64_t>(batch) * out, n_members);
    col += block.width;
  }
}

// Layer l's LayerNorm on the GEMM output x W^T (in tape.ln_xhat[l]).
LayerNormArgs layer_norm_args(const Mlp& net, int l, const float* params, MlpTape& tape) {
  LayerNormArgs a;
  a.rows = tape.batch;
  a.n = net.layer_out(l);
  a.bias = params + net.bias_offset(l);
  a.gain = params + net.gain_offset(l);
  a.shift = params + net.shift_offset(l);
  a.param_stride = net.n_params();
  a.xhat = tape.ln_xhat[l].data();
  a.rstd = tape.ln_rstd[l].data();
  a.y = tape.pre[l].data();
  a.h = tape.post[l].data();
  return a;
}

// Where layer l's GEMM writes x W^T: over z in place, or, before a
// LayerNorm, into the buffer that will hold n.
float* product_target(const Mlp& net, int l, MlpTape& tape) {
  return net.has_layer_norm(l) ? tape.ln_xhat[l].data() : tape.pre[l].data();
}

BiasActArgs bias_act_args(const Mlp& net, int l, const float* params, MlpTape& tape) {
  BiasActArgs a;
  a.rows = tape.batch;
  a.n = net.layer_out(l);
  a.bias = params + net.bias_offset(l);
  a.bias_stride = net.n_params();
  a.act = net.activation(l);
  a.affine = a.act == Activation::kTanhScaled ? net.out_affine() : nullptr;
  a.z = tape.pre[l].data();
  a.h = tape.post[l].data();
  return a;
}

}  // namespace

MlpLayout mlp_layout(const MlpSpec& spec) {
  ACX_CHECK(spec.in_dim > 0 && spec.out_dim > 0, "an MLP needs positive input and output sizes");
  MlpLayout m;
  int prev = spec.in_dim;
  for (int h : spec.hidden) {
    ACX_CHECK(h > 0, "hidden widths must be positive");
    m.in.push_back(prev);
    m.out.push_back(h);
    prev = h;
  }
  m.in.push_back(prev);
  m.out.push_back(spec.out_dim);
  int64_t offset = 0;
  for (size_t l = 0; l < m.out.size(); ++l) {
    m.w_offset.push_back(offset);
    offset += static_cast<int64_t>(m.out[l]) * (m.in[l] + 1);
    if (spec.layer_norm && l + 1 < m.out.size()) offset += 2 * static_cast<int64_t>(m.out[l]);  // g_l, beta_l
    m.max_width = std::max(m.max_width, m.out[l]);
  }
  m.n_params = offset;
  return m;
}

Mlp::Mlp(const Device& dev, MlpSpec spec) : dev_(dev), spec_(std::move(spec)), layout_(mlp_layout(spec_)) {
  ACX_CHECK(spec_.output == Activation::kIdentity || spec_.output == Activation::kTanhScaled,
            "the output activation is the identity or the scaled tanh");
  if (spec_.output == Activation::kTanhScaled) {
    const size_t n = static_cast<size_t>(spec_.out_dim);
    ACX_CHECK(spec_.out_low.size() == n && spec_.out_high.size() == n, "a tanh output needs out_dim bounds");
    std::vector<float> affine(2 * n);
    for (size_t i = 0; i < n; ++i) {
      ACX_CHECK(spec_.out_high[i] > spec_.out_low[i], "action bounds must satisfy low < high");
      affine[i] = 0.5f * (spec_.out_high[i] + spec_.out_low[i]);
      affine[n + i] = 0.5f * (spec_.out_high[i] - spec_.out_low[i]);
    }
    affine_ = Buffer<float>::from_host(dev_, affine);
  }
}

MlpTape::MlpTape(const Mlp& net, int n_members_, int batch_) : n_members(n_members_), batch(batch_) {
  ACX_CHECK(n_members > 0 && batch > 0, "a tape needs at least one member and one row");
  const Device& dev = net.device();
  const size_t rows = static_cast<size_t>(n_members) * batch;
  for (int l = 0; l < net.n_layers(); ++l) {
    pre.emplace_back(dev, rows * net.layer_out(l));
    post.emplace_back(dev, rows * net.layer_out(l));
    ln_xhat.emplace_back();
    ln_rstd.emplace_back();
    if (net.has_layer_norm(l)) {
      ln_xhat.back() = Buffer<float>(dev, rows * net.layer_out(l));
      ln_rstd.back() = Buffer<float>(dev, rows);
    }
  }
  scratch0 = Buffer<float>(dev, rows * net.max_width());
  scratch1 = Buffer<float>(dev, rows * net.max_width());
}

void mlp_init(const Mlp& net, int n_members, uint64_t seed, uint32_t tag, float* params, uint32_t first_member) {
  for (int l = 0; l < net.n_layers(); ++l) {
    const bool last = l + 1 == net.n_layers();
    const float bound = last && net.spec().final_init_bound > 0
                            ? net.spec().final_init_bound
                            : static_cast<float>(1.0 / std::sqrt(static_cast<double>(net.layer_in(l))));
    InitArgs a;
    a.seed = seed;
    a.tag = tag;
    a.first_member = first_member;
    a.n_params = net.n_params();
    a.offset = net.weight_offset(l);
    a.count = static_cast<int64_t>(net.layer_out(l)) * (net.layer_in(l) + 1);  // W_l and b_l
    a.bound = bound;
    a.center = 0.0f;
    a.params = params;
    run_init_uniform(net.device(), a, n_members);
    if (net.has_layer_norm(l)) {  // g_l = 1, beta_l = 0 (nn.LayerNorm's init)
      a.count = net.layer_out(l);
      a.bound = 0.0f;
      a.offset = net.gain_offset(l);
      a.center = 1.0f;
      run_init_uniform(net.device(), a, n_members);
      a.offset = net.shift_offset(l);
      a.center = 0.0f;
      run_init_uniform(net.device(), a, n_members);
    }
  }
}

void mlp_forward(const Mlp& net, const float* params, const std::vector<MlpInput>& inputs, MlpTape& tape) {
  check_inputs(net, inputs);
  tape.inputs = inputs;
  for (int l = 0; l < net.n_layers(); ++l) {
    const float* x = l > 0 ? tape.post[l - 1].data() : nullptr;
    layer_product(net, l, params, inputs, x, product_target(net, l, tape), 0.0f, tape.n_members, tape.batch);
    if (net.has_layer_norm(l)) {
      run_layer_norm_forward(net.device(), layer_norm_args(net, l, params, tape), tape.n_members);
    } else {
      run_bias_act_forward(net.device(), bias_act_args(net, l, params, tape), tape.n_members);
    }
  }
}

void mlp_backward(const Mlp& net, const float* params, MlpTape& tape, const float* dout, int64_t dout_stride,
                  float scale, float* dparams, float* dinput, int col_begin, int col_end) {
  ACX_CHECK(!tape.inputs.empty(), "mlp_backward before a forward");
  if (dinput) ACX_CHECK(0 <= col_begin && col_begin < col_end && col_end <= net.spec().in_dim, "bad input columns");
  const Device& dev = net.device();
  const int E = tape.n_members, B = tape.batch;
  const int64_t P = net.n_params();
  const int L = net.n_layers();
  float* delta = tape.scratch0.data();  // (E, B, out_l): dLoss/dz_l
  float* next = tape.scratch1.data();

  ActBackwardArgs top;
  top.rows = B;
  top.n = net.layer_out(L - 1);
  top.dh = dout;
  top.dh_stride = dout_stride;
  top.z = tape.pre[L - 1].data();
  top.act = net.activation(L - 1);
  top.affine = top.act == Activation::kTanhScaled ? net.out_affine() : nullptr;
  top.scale = scale;
  top.dz = delta;
  run_act_backward(dev, top, E);

  for (int l = L - 1; l >= 0; --l) {
    const int in = net.layer_in(l), out = net.layer_out(l);
    const int64_t delta_stride = static_cast<int64_t>(B) * out;
    const float* w = params + net.weight_offset(l);
    if (net.has_layer_norm(l)) {
      // delta is dL/dy (y = g n + beta, the ReLU's input): the gain and shift
      // gradients, then back through the normalization to dL/dz, in place.
      if (dparams) {
        LayerNormParamGradArgs pg;
        pg.rows = B;
        pg.n = out;
        pg.dy = delta;
        pg.xhat = tape.ln_xhat[l].data();
        pg.dgain = dparams + net.gain_offset(l);
        pg.dshift = dparams + net.shift_offset(l);
        pg.param_stride = P;
        run_layer_norm_param_grad(dev, pg, E);
      }
      LayerNormBackwardArgs lb;
      lb.rows = B;
      lb.n = out;
      lb.gain = params + net.gain_offset(l);
      lb.param_stride = P;
      lb.xhat = tape.ln_xhat[l].data();
      lb.rstd = tape.ln_rstd[l].data();
      lb.dz = delta;
      run_layer_norm_backward(dev, lb, E);
    }
    if (dparams) {
      // dW_l = delta^T x: (out, B) (B, in), the batch summed inside the GEMM.
      float* dw = dparams + net.weight_offset(l);
      if (l > 0) {
        gemm_members(dev, true, false, out, in, B, 1.0f, delta, out, delta_stride, tape.post[l - 1].data(), in,
                     static_cast<int64_t>(B) * in, 0.0f, dw, in, P, E);
      } else {
        int col = 0;
        for (const MlpInput& block : tape.inputs) {
          gemm_members(dev, true, false, out, block.width, B, 1.0f, delta, out, delta_stride, block.data, block.width,
                       block.member_stride, 0.0f, dw + col, in, P, E);
          col += block.width;
        }
      }
      BiasGradArgs bg;
      bg.rows = B;
      bg.n = out;
      bg.dz = delta;
      bg.db = dparams + net.bias_offset(l);
      bg.db_stride = P;
      run_bias_grad(dev, bg, E);
    }
    if (l > 0) {
      // dh_{l-1} = delta W_l: (B, out) (out, in), then through the ReLU of layer l-1.
      gemm_members(dev, false, false, B, in, out, 1.0f, delta, out, delta_stride, w, in, P, 0.0f, next, in,
                   static_cast<int64_t>(B) * in, E);
      ActBackwardArgs ab;
      ab.rows = B;
      ab.n = in;
      ab.dh = next;
      ab.dh_stride = static_cast<int64_t>(B) * in;
      ab.z = tape.pre[l - 1].data();
      ab.act = net.activation(l - 1);
      ab.affine = nullptr;
      ab.scale = 1.0f;
      ab.dz = next;
      run_act_backward(dev, ab, E);
      std::swap(delta, next);
    } else if (dinput) {
      // Only the columns asked for: delta W_0[:, c0:c1].
      const int cols = col_end - col_begin;
      gemm_members(dev, false, false, B, cols, out, 1.0f, delta, out, delta_stride, w + col_begin, in, P, 0.0f, dinput,
                   cols, static_cast<int64_t>(B) * cols, E);
    }
  }
}

void critic_action_grad(const Mlp& critic, const float* params, MlpTape& tape, int obs_dim, float* dq_da,
                        const float* dout, int64_t dout_stride) {
  ACX_CHECK(dout != nullptr || critic.spec().out_dim == 1,
            "dQ/da of a critic with several outputs needs their cotangent dQ/d(outputs)");
  ACX_CHECK(obs_dim > 0 && obs_dim < critic.spec().in_dim, "the action columns follow obs_dim observation columns");
  mlp_backward(critic, params, tape, dout, dout_stride, 1.0f, nullptr, dq_da, obs_dim, critic.spec().in_dim);
}

void actor_vjp(const Mlp& actor, const float* params, MlpTape& tape, const float* g, int64_t g_stride, float scale,
               float* dparams) {
  ACX_CHECK(g != nullptr && dparams != nullptr, "actor_vjp needs a cotangent and an output");
  mlp_backward(actor, params, tape, g, g_stride, scale / static_cast<float>(tape.batch), dparams);
}

void actor_jvp(const Mlp& actor, const float* params, const float* direction, const std::vector<MlpInput>& inputs,
               MlpTape& tape, float* tangent) {
  check_inputs(actor, inputs);
  tape.inputs = inputs;
  const int E = tape.n_members, B = tape.batch, L = actor.n_layers();
  float* dx = tape.scratch0.data();  // tangent of layer l's input (E, B, in_l)
  float* dz = tape.scratch1.data();
  for (int l = 0; l < L; ++l) {
    const int in = actor.layer_in(l), out = actor.layer_out(l);
    const float* x = l > 0 ? tape.post[l - 1].data() : nullptr;
    if (l + 1 == L) dz = tangent;
    // z = x W^T and dz = x dW^T + dx W^T (the input itself has no tangent).
    layer_product(actor, l, params, inputs, x, product_target(actor, l, tape), 0.0f, E, B);
    layer_product(actor, l, direction, inputs, x, dz, 0.0f, E, B);
    if (l > 0) {
      gemm_members(actor.device(), false, true, B, out, in, 1.0f, dx, in, static_cast<int64_t>(B) * in,
                   params + actor.weight_offset(l), in, actor.n_params(), 1.0f, dz, out, static_cast<int64_t>(B) * out,
                   E);
    }
    if (actor.has_layer_norm(l)) {
      LayerNormJvpArgs a;
      a.fwd = layer_norm_args(actor, l, params, tape);
      a.dbias = direction + actor.bias_offset(l);
      a.dgain = direction + actor.gain_offset(l);
      a.dshift = direction + actor.shift_offset(l);
      a.dz = dz;
      run_layer_norm_jvp(actor.device(), a, E);
    } else {
      BiasActJvpArgs a;
      a.fwd = bias_act_args(actor, l, params, tape);
      a.dbias = direction + actor.bias_offset(l);
      a.dz = dz;
      run_bias_act_jvp(actor.device(), a, E);
    }
    std::swap(dx, dz);
  }
}

}  // namespace acx
