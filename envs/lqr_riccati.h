// lqr_riccati.h: the optimum of the lqr env, host side, in double.
//
// Infinite horizon: the discrete algebraic Riccati equation (DARE)
//   P = Q + A'PA - A'PB (R + B'PB)^{-1} B'PA,   K = (R + B'PB)^{-1} B'PA,
// solved by iterating the recursion from P = Q to a fixed point; u = -K x.
//
// Finite horizon T (the env's episode, truncated at T = kMaxSteps): the same
// recursion run backwards from P_T = 0 gives time-varying gains K_t and the
// exact optimal cost-to-go x0' P_0 x0 (no terminal cost). Over the reset
// distribution x0 ~ U(-1, 1)^n, E[x0' P_0 x0] = trace(P_0 Cov(x0)) =
// trace(P_0) / 3. The optimal return is minus that. If the action bounds
// bound the optimal controller this is only a lower bound on the cost; the
// default Params are chosen so that they do not (tests check it).
#pragma once

#include "envs/lqr.h"

#include <vector>

namespace acx {

// Throws acx::UsageError if n or m are out of 1..Lqr::kMaxDim, a matrix is
// not finite, Q or R is not symmetric, R is not positive definite, or a
// bound is not positive.
void validate_lqr_params(const Lqr::Params& params);

struct DareSolution {
  std::vector<double> P;  // (n, n)
  std::vector<double> K;  // (m, n): u = -K x
  int iterations = 0;
  double residual = 0.0;  // max |P - (Q + A'PA - A'PB (R + B'PB)^{-1} B'PA)|
};

// Throws acx::Error if the iteration does not converge (system not stabilizable).
DareSolution solve_dare(const Lqr::Params& params, double tol = 1e-13, int max_iterations = 1000000);

// The right-hand side of the DARE minus P, its largest absolute entry.
double dare_residual(const Lqr::Params& params, const std::vector<double>& P);

struct FiniteHorizonLqr {
  int horizon = 0;
  std::vector<std::vector<double>> P;  // horizon + 1 matrices (n, n); P[horizon] = 0
  std::vector<std::vector<double>> K;  // horizon matrices (m, n): u_t = -K[t] x_t
  double expected_cost = 0.0;          // E[x0' P[0] x0] for x0 ~ U(-1, 1)^n
};

FiniteHorizonLqr solve_finite_horizon(const Lqr::Params& params, int horizon = Lqr::kMaxSteps);

// The optimal cost x0' P x0 of a given start (P from either solution).
double quadratic_cost(const std::vector<double>& P, const std::vector<double>& x0);

}  // namespace acx
