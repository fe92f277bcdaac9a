// mlp_reference.h: a plain float64 MLP for the tests, written from the
// layout documented in kernels/mlp.h and sharing no code with it: loops over
// one sample at a time, no GEMM, no element math from kernels/. It gives the
// forward pass, the reverse-mode gradient of <g, y> with respect to the
// parameters and the input, and the forward-mode tangent along a parameter
// direction; finite differences check it in turn. With layer_norm, each
// hidden layer is relu(g * (z - mean) / sqrt(var + 1e-5) + beta) over the
// layer's features (biased variance), g and beta right after b.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace acx::test {

class RefMlp {
 public:
  // widths: the hidden widths followed by the output width. tanh_out: the
  // output is mid + half * tanh(z) per dimension (from low/high), else z.
  RefMlp(int in_dim, std::vector<int> hidden, int out_dim, bool tanh_out, std::vector<double> low = {},
         std::vector<double> high = {}, bool layer_norm = false)
      : in_dim_(in_dim), tanh_out_(tanh_out) {
    widths_ = hidden;
    widths_.push_back(out_dim);
    int prev = in_dim;
    int64_t offset = 0;
    for (size_t l = 0; l < widths_.size(); ++l) {
      const int w = widths_[l];
      ins_.push_back(prev);
      w_off_.push_back(offset);
      offset += static_cast<int64_t>(w) * prev;  // W [w, prev]
      b_off_.push_back(offset);
      offset += w;                               // b [w]
      const bool ln = layer_norm && l + 1 < widths_.size();
      ln_.push_back(ln);
      g_off_.push_back(offset);
      if (ln) offset += 2 * w;                   // g [w], beta [w]
      prev = w;
    }
    n_params_ = offset;
    for (size_t i = 0; i < low.size(); ++i) {
      mid_.push_back((high[i] + low[i]) / 2);
      half_.push_back((high[i] - low[i]) / 2);
    }
  }

  int64_t n_params() const { return n_params_; }
  int in_dim() const { return in_dim_; }
  int out_dim() const { return widths_.back(); }
  // Offsets of layer l's LayerNorm gain (beta follows it), for the tests.
  int64_t gain_offset(int l) const { return g_off_[l]; }
  bool has_layer_norm(int l) const { return ln_[l]; }

  // y = f(x; p) for one sample.
  std::vector<double> forward(const double* p, const double* x) const {
    Trace t = run(p, x);
    return t.h.back();
  }

  // Accumulates d<g, f(x; p)>/dp into dp (n_params) and writes d<g, f>/dx into dx (in_dim) when not null.
  void backward(const double* p, const double* x, const double* g, double* dp, double* dx) const {
    Trace t = run(p, x);
    const int L = static_cast<int>(widths_.size());
    std::vector<double> delta(widths_[L - 1]);
    for (int o = 0; o < widths_[L - 1]; ++o) delta[o] = g[o] * out_derivative(o, t.y[L - 1][o]);
    for (int l = L - 1; l >= 0; --l) {
      const std::vector<double>& input = l == 0 ? t.x : t.h[l - 1];
      const int n_in = ins_[l], n_out = widths_[l];
      for (int o = 0; o < n_out; ++o) {
        for (int i = 0; i < n_in; ++i) dp[w_off_[l] + o * n_in + i] += delta[o] * input[i];
        dp[b_off_[l] + o] += delta[o];
      }
      std::vector<double> dh(n_in, 0.0);
      for (int i = 0; i < n_in; ++i)
        for (int o = 0; o < n_out; ++o) dh[i] += delta[o] * p[w_off_[l] + o * n_in + i];
      if (l == 0) {
        if (dx)
          for (int i = 0; i < n_in; ++i) dx[i] = dh[i];
      } else {
        const int k = l - 1;  // the hidden layer whose output is this layer's input
        delta.assign(n_in, 0.0);
        for (int i = 0; i < n_in; ++i) delta[i] = t.y[k][i] > 0 ? dh[i] : 0.0;  // dL/dy
        if (ln_[k]) {
          // y = g n + beta: dg += dy n, dbeta += dy; dn = g dy; then
          // dz_i = sum_j dn_j dn_j/dz_i with dn_j/dz_i = r (delta_ij - 1/N - n_i n_j / N).
          const double N = n_in;
          std::vector<double> dn(n_in);
          double s = 0, sx = 0;
          for (int i = 0; i < n_in; ++i) {
            dp[g_off_[k] + i] += delta[i] * t.n[k][i];
            dp[g_off_[k] + n_in + i] += delta[i];
            dn[i] = p[g_off_[k] + i] * delta[i];
            s += dn[i];
            sx += dn[i] * t.n[k][i];
          }
          for (int i = 0; i < n_in; ++i) delta[i] = t.r[k] * (dn[i] - s / N - t.n[k][i] * sx / N);
        }
      }
    }
  }

  // d/dt f(x; p + t v) at t = 0, by forward mode.
  std::vector<double> jvp(const double* p, const double* v, const double* x) const {
    std::vector<double> h(x, x + in_dim_), dh(in_dim_, 0.0);
    const int L = static_cast<int>(widths_.size());
    for (int l = 0; l < L; ++l) {
      const int n_in = ins_[l], n_out = widths_[l];
      std::vector<double> nh(n_out), ndh(n_out);
      for (int o = 0; o < n_out; ++o) {
        double z = p[b_off_[l] + o], dz = v[b_off_[l] + o];
        for (int i = 0; i < n_in; ++i) {
          z += p[w_off_[l] + o * n_in + i] * h[i];
          dz += v[w_off_[l] + o * n_in + i] * h[i] + p[w_off_[l] + o * n_in + i] * dh[i];
        }
        if (l + 1 < L) {
          nh[o] = z;  // y, and its tangent, before the ReLU
          ndh[o] = dz;
        } else {
          nh[o] = out_value(o, z);
          ndh[o] = out_derivative(o, z) * dz;
        }
      }
      if (l + 1 < L && ln_[l]) {
        // n = (z - m) r: dn = r (dz - mean dz) + (z - m) dr, and with
        // r = (var + eps)^(-1/2), dr = -r^3 mean((z - m) dz).
        const double N = n_out;
        double m = 0, dm = 0;
        for (int o = 0; o < n_out; ++o) {
          m += nh[o] / N;
          dm += ndh[o] / N;
        }
        double var = 0, cov = 0;
        for (int o = 0; o < n_out; ++o) {
          var += (nh[o] - m) * (nh[o] - m) / N;
          cov += (nh[o] - m) * ndh[o] / N;
        }
        const double r = 1.0 / std::sqrt(var + kEps), dr = -r * r * r * cov;
        for (int o = 0; o < n_out; ++o) {
          const double n = (nh[o] - m) * r, dn = (ndh[o] - dm) * r + (nh[o] - m) * dr;
          const double g = p[g_off_[l] + o], beta = p[g_off_[l] + n_out + o];
          nh[o] = g * n + beta;
          ndh[o] = v[g_off_[l] + o] * n + g * dn + v[g_off_[l] + n_out + o];
        }
      }
      if (l + 1 < L) {
        for (int o = 0; o < n_out; ++o) {
          ndh[o] = nh[o] > 0 ? ndh[o] : 0;
          nh[o] = nh[o] > 0 ? nh[o] : 0;
        }
      }
      h = nh;
      dh = ndh;
    }
    return dh;
  }

 private:
  static constexpr double kEps = 1e-5;

  // Per layer: z = W x + b, y the ReLU's input (z, or g n + beta), h the
  // output; with LayerNorm n and r = 1 / sqrt(var + eps).
  struct Trace {
    std::vector<double> x;
    std::vector<std::vector<double>> z, y, h, n;
    std::vector<double> r;
  };

  double out_value(int o, double z) const { return tanh_out_ ? mid_[o] + half_[o] * std::tanh(z) : z; }
  double out_derivative(int o, double z) const {
    if (!tanh_out_) return 1.0;
    const double t = std::tanh(z);
    return half_[o] * (1 - t * t);
  }

  Trace run(const double* p, const double* x) const {
    Trace t;
    t.x.assign(x, x + in_dim_);
    const int L = static_cast<int>(widths_.size());
    const std::vector<double>* input = &t.x;
    for (int l = 0; l < L; ++l) {
      const int n_in = ins_[l], n_out = widths_[l];
      std::vector<double> z(n_out), y(n_out), h(n_out), n;
      for (int o = 0; o < n_out; ++o) {
        double s = p[b_off_[l] + o];
        for (int i = 0; i < n_in; ++i) s += p[w_off_[l] + o * n_in + i] * (*input)[i];
        z[o] = s;
      }
      y = z;
      double r = 0;
      if (ln_[l]) {
        double m = 0, var = 0;
        for (int o = 0; o < n_out; ++o) m += z[o];
        m /= n_out;
        for (int o = 0; o < n_out; ++o) var += (z[o] - m) * (z[o] - m);
        var /= n_out;  // biased, as nn.LayerNorm
        r = 1.0 / std::sqrt(var + kEps);
        n.resize(n_out);
        for (int o = 0; o < n_out; ++o) {
          n[o] = (z[o] - m) * r;
          y[o] = p[g_off_[l] + o] * n[o] + p[g_off_[l] + n_out + o];
        }
      }
      for (int o = 0; o < n_out; ++o) h[o] = l + 1 < L ? (y[o] > 0 ? y[o] : 0) : out_value(o, y[o]);
      t.z.push_back(z);
      t.y.push_back(y);
      t.h.push_back(h);
      t.n.push_back(n);
      t.r.push_back(r);
      input = &t.h.back();
    }
    return t;
  }

  int in_dim_;
  bool tanh_out_;
  std::vector<int> widths_, ins_;
  std::vector<int64_t> w_off_, b_off_, g_off_;
  std::vector<bool> ln_;
  int64_t n_params_ = 0;
  std::vector<double> mid_, half_;
};

}  // namespace acx::test
