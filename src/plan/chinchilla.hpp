// Compute-optimal model size and data (Hoffmann et al. 2022, "Training Compute-Optimal Large
// Language Models", arXiv:2203.15556) for a FLOP budget C ~= 6·N·D, from a parametric loss
// L(N, D) = E + A/N^alpha + B/D^beta (Approach 3; Epoch's 2024 refit) or from a power-law
// allocation N_opt = k·C^a (Approaches 1 and 2). Also checks a quoted rule of thumb against them.
// Not for: fitting the constants to data (plan/fit.hpp) or inference-aware sizing (plan/inference.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::plan {

// L(N, D) = E + A/N^alpha + B/D^beta.  ref: Hoffmann et al. 2022, eq. (2)
struct loss_fit {
  std::string name;
  double E = 0, A = 0, B = 0, alpha = 0, beta = 0;
  std::string source;

  double loss(double n, double d) const;
  // Exponents of the compute-optimal allocation: N_opt ∝ C^a, D_opt ∝ C^b.  ref: eq. (4)
  double a() const { return beta / (alpha + beta); }
  double b() const { return alpha / (alpha + beta); }
  // G = (alpha·A / (beta·B))^(1/(alpha+beta)).  ref: eq. (4)
  double G() const;
};

// A power-law allocation N_opt = k·C^a with D_opt = C / (6·N_opt) (Approaches 1 and 2).
struct power_rule {
  std::string name;
  double k = 0, a = 0;
  std::string source;
};

// One named allocation method: either a parametric loss or a power rule.
struct allocation {
  std::string name;
  std::optional<loss_fit> fit;
  std::optional<power_rule> rule;
};

const std::vector<loss_fit>& known_loss_fits();      // hoffmann, epoch
const std::vector<power_rule>& known_power_rules();  // approach1, approach2
std::vector<std::string> known_allocation_names();
// Looks a method up by name; the error lists the known ones.
allocation find_allocation(std::string_view name);

struct optimum {
  double compute = 0;  // FLOPs, C = 6·N·D
  double n = 0;        // parameters
  double d = 0;        // training tokens
  double loss = 0;     // NaN for power rules (no loss model)
};

// Closed form of the constrained minimum of L(N, D) s.t. 6·N·D = C.  ref: eq. (4)
optimum closed_form_optimum(const loss_fit& f, double compute);
// The same minimum found numerically (golden-section search on log N); the tests check eq. (4).
optimum numeric_optimum(const loss_fit& f, double compute);
// The compute-optimal allocation for a method at budget C.
optimum optimum_for_compute(const allocation& m, double compute);
// The budget for which N is compute-optimal, and its D (the inverse of N_opt(C)).
optimum optimum_for_params(const allocation& m, double n);

// A rule of thumb: N = kn·C^pn (and/or) D = kd·C^pd, or D = r·N. Parsed from text such as
// "N_opt = C^0.49 / 1.7, D_opt = C^0.51 × 7.7" or "D = 20 N".
struct rule_of_thumb {
  std::string text;
  std::optional<double> kn, pn;  // N = kn·C^pn
  std::optional<double> kd, pd;  // D = kd·C^pd
  std::optional<double> d_per_n;  // D = d_per_n·N
  // N and D the rule gives at budget C (missing ones from C = 6·N·D).
  std::pair<double, double> at(double compute) const;
};
rule_of_thumb parse_rule(std::string_view text);

}  // namespace lmlab::plan
