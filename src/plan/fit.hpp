// Fitting L(N, D) = E + A/N^alpha + B/D^beta to (N, D, loss) observations the way Hoffmann et
// al. 2022 (Section 3.3, Appendix D.2) do: minimise the Huber loss (delta = 1e-3) between
// log-predicted and log-observed loss, with the predicted log-loss written as
// LSE(a - alpha·log N, b - beta·log D, e) (A = e^a, B = e^b, E = e^e), by L-BFGS (Debian's
// liblbfgs) from a grid of initialisations; percentile bootstrap confidence intervals.
// Not for: fits over the lab's results store (analysis/ reads the store and calls this).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan/chinchilla.hpp"

namespace lmlab::plan {

struct observation {
  double n = 0, d = 0, loss = 0;
};
// CSV with a header naming columns N (or params), D (or tokens) and loss; errors name file:line.
std::vector<observation> read_observations(const std::string& path);

struct fit_options {
  double delta = 1e-3;
  bool coarse_grid = false;  // 2·2·3·3·3 inits instead of the paper's 5·5·5·6·6 = 4500
  int bootstrap = 200;       // resamples (0: none)
  double ci = 0.95;
  std::uint64_t seed = 1;
};

struct fit_result {
  loss_fit fit;
  double objective = 0;  // Huber sum at the optimum
  int inits = 0;
  // Bootstrap percentile intervals for E, A, B, alpha, beta, a = beta/(alpha+beta), b.
  struct interval { double lo = 0, hi = 0; };
  interval E, A, B, alpha, beta, a, b;
  int bootstrap_ok = 0;
};

// The Huber objective and its gradient in the LSE parameters x = (a, b, e, alpha, beta).
// ref: Hoffmann et al. 2022, eq. (3) / Appendix D.2
double huber_objective(const std::vector<observation>& obs, const double* x, double delta, double* grad);
fit_result fit_scaling_law(const std::vector<observation>& obs, const fit_options& o);

}  // namespace lmlab::plan
