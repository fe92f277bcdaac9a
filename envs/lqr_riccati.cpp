// lqr_riccati.cpp: Riccati recursions in double for the lqr env. Matrices
// here are small (n, m <= 8), so plain loops and a Cholesky solve suffice.
#include "envs/lqr_riccati.h"

#include "kernels/runtime/error.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace acx {
namespace {

using Mat = std::vector<double>;  // row-major

struct Dims {
  int n, m;
};

Mat to_double(const float* src, int count) { return Mat(src, src + count); }

// c (r, c_cols) = a (r, k) * b (k, c_cols), with optional transposes.
Mat matmul(const Mat& a, bool ta, const Mat& b, bool tb, int r, int k, int cols) {
  Mat c(static_cast<size_t>(r) * cols, 0.0);
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j < cols; ++j) {
      double acc = 0.0;
      for (int l = 0; l < k; ++l) {
        const double av = ta ? a[l * r + i] : a[i * k + l];
        const double bv = tb ? b[j * k + l] : b[l * cols + j];
        acc += av * bv;
      }
      c[i * cols + j] = acc;
    }
  }
  return c;
}

// Solves S X = Rhs for X (s x cols), S symmetric positive definite (s x s).
Mat spd_solve(Mat S, Mat rhs, int s, int cols) {
  // Cholesky S = L L'.
  for (int j = 0; j < s; ++j) {
    double d = S[j * s + j];
    for (int k = 0; k < j; ++k) d -= S[j * s + k] * S[j * s + k];
    if (!(d > 0.0)) throw_error(__FILE__, __LINE__, "lqr: R + B'PB is not positive definite");
    S[j * s + j] = std::sqrt(d);
    for (int i = j + 1; i < s; ++i) {
      double v = S[i * s + j];
      for (int k = 0; k < j; ++k) v -= S[i * s + k] * S[j * s + k];
      S[i * s + j] = v / S[j * s + j];
    }
  }
  for (int c = 0; c < cols; ++c) {
    for (int i = 0; i < s; ++i) {  // L y = b
      double v = rhs[i * cols + c];
      for (int k = 0; k < i; ++k) v -= S[i * s + k] * rhs[k * cols + c];
      rhs[i * cols + c] = v / S[i * s + i];
    }
    for (int i = s - 1; i >= 0; --i) {  // L' x = y
      double v = rhs[i * cols + c];
      for (int k = i + 1; k < s; ++k) v -= S[k * s + i] * rhs[k * cols + c];
      rhs[i * cols + c] = v / S[i * s + i];
    }
  }
  return rhs;
}

struct Model {
  Dims d;
  Mat A, B, Q, R;
};

Model model_of(const Lqr::Params& p) {
  validate_lqr_params(p);
  return Model{{p.n, p.m}, to_double(p.A, p.n * p.n), to_double(p.B, p.n * p.m), to_double(p.Q, p.n * p.n),
               to_double(p.R, p.m * p.m)};
}

// One Riccati step: from P (cost-to-go of the next step) to the gain K and
// the cost-to-go of this step.
void riccati_step(const Model& mo, const Mat& P, Mat* K, Mat* P_prev) {
  const int n = mo.d.n, m = mo.d.m;
  const Mat PA = matmul(P, false, mo.A, false, n, n, n);   // (n, n)
  const Mat PB = matmul(P, false, mo.B, false, n, n, m);   // (n, m)
  Mat S = matmul(mo.B, true, PB, false, m, n, m);          // B'PB (m, m)
  for (int i = 0; i < m * m; ++i) S[i] += mo.R[i];
  const Mat BtPA = matmul(mo.B, true, PA, false, m, n, n); // (m, n)
  *K = spd_solve(S, BtPA, m, n);                           // (m, n)
  const Mat AtPA = matmul(mo.A, true, PA, false, n, n, n);
  const Mat correction = matmul(BtPA, true, *K, false, n, m, n);  // A'PB K
  P_prev->assign(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const double v = mo.Q[i * n + j] + AtPA[i * n + j] - correction[i * n + j];
      (*P_prev)[i * n + j] = v;
    }
  }
  // Keep P exactly symmetric against rounding drift.
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const double v = 0.5 * ((*P_prev)[i * n + j] + (*P_prev)[j * n + i]);
      (*P_prev)[i * n + j] = (*P_prev)[j * n + i] = v;
    }
  }
}

double max_abs_diff(const Mat& a, const Mat& b) {
  double r = 0.0;
  for (size_t i = 0; i < a.size(); ++i) r = std::max(r, std::fabs(a[i] - b[i]));
  return r;
}

}  // namespace

void validate_lqr_params(const Lqr::Params& p) {
  const std::string where = "lqr params: ";
  ACX_USAGE_CHECK(p.n >= 1 && p.n <= Lqr::kMaxDim,
                  where + "n = " + std::to_string(p.n) + " must be in 1.." + std::to_string(Lqr::kMaxDim));
  ACX_USAGE_CHECK(p.m >= 1 && p.m <= Lqr::kMaxDim,
                  where + "m = " + std::to_string(p.m) + " must be in 1.." + std::to_string(Lqr::kMaxDim));
  const int n = p.n, m = p.m;
  auto finite = [](const float* v, int count) {
    return std::all_of(v, v + count, [](float x) { return std::isfinite(x); });
  };
  ACX_USAGE_CHECK(finite(p.A, n * n) && finite(p.B, n * m) && finite(p.Q, n * n) && finite(p.R, m * m),
                  where + "A, B, Q and R must be finite");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) ACX_USAGE_CHECK(p.Q[i * n + j] == p.Q[j * n + i], where + "Q must be symmetric");
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) ACX_USAGE_CHECK(p.R[i * m + j] == p.R[j * m + i], where + "R must be symmetric");
  for (int i = 0; i < m; ++i)
    ACX_USAGE_CHECK(p.u_max[i] > 0.0f && std::isfinite(p.u_max[i]), where + "u_max must be positive and finite");
  // R positive definite: a Cholesky factorization exists.
  Mat R = to_double(p.R, m * m);
  for (int j = 0; j < m; ++j) {
    double d = R[j * m + j];
    for (int k = 0; k < j; ++k) d -= R[j * m + k] * R[j * m + k];
    ACX_USAGE_CHECK(d > 0.0, where + "R must be positive definite");
    R[j * m + j] = std::sqrt(d);
    for (int i = j + 1; i < m; ++i) {
      double v = R[i * m + j];
      for (int k = 0; k < j; ++k) v -= R[i * m + k] * R[j * m + k];
      R[i * m + j] = v / R[j * m + j];
    }
  }
}

double dare_residual(const Lqr::Params& params, const std::vector<double>& P) {
  const Model mo = model_of(params);
  Mat K, rhs;
  riccati_step(mo, P, &K, &rhs);
  return max_abs_diff(rhs, P);
}

DareSolution solve_dare(const Lqr::Params& params, double tol, int max_iterations) {
  const Model mo = model_of(params);
  DareSolution sol;
  Mat P = mo.Q, K, next;
  for (int it = 1; it <= max_iterations; ++it) {
    riccati_step(mo, P, &K, &next);
    const double change = max_abs_diff(next, P);
    const double scale = std::max(1.0, *std::max_element(next.begin(), next.end(),
                                                         [](double a, double b) { return std::fabs(a) < std::fabs(b); }));
    P.swap(next);
    if (!std::isfinite(change)) break;
    if (change <= tol * std::fabs(scale)) {
      sol.P = P;
      riccati_step(mo, P, &sol.K, &next);
      sol.iterations = it;
      sol.residual = max_abs_diff(next, P);
      return sol;
    }
  }
  throw_error(__FILE__, __LINE__, "lqr: the Riccati iteration did not converge (is (A, B) stabilizable?)");
}

FiniteHorizonLqr solve_finite_horizon(const Lqr::Params& params, int horizon) {
  ACX_USAGE_CHECK(horizon >= 1, "lqr: the horizon must be at least 1 step");
  const Model mo = model_of(params);
  const int n = mo.d.n;
  FiniteHorizonLqr sol;
  sol.horizon = horizon;
  sol.P.assign(horizon + 1, Mat(static_cast<size_t>(n) * n, 0.0));
  sol.K.resize(horizon);
  for (int t = horizon - 1; t >= 0; --t) riccati_step(mo, sol.P[t + 1], &sol.K[t], &sol.P[t]);
  double trace = 0.0;
  for (int i = 0; i < n; ++i) trace += sol.P[0][i * n + i];
  const double var = Lqr::kResetHigh * Lqr::kResetHigh / 3.0;  // variance of U(-h, h)
  sol.expected_cost = trace * var;
  return sol;
}

double quadratic_cost(const std::vector<double>& P, const std::vector<double>& x0) {
  const size_t n = x0.size();
  double c = 0.0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) c += x0[i] * P[i * n + j] * x0[j];
  return c;
}

}  // namespace acx
