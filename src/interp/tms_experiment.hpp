// Toy models of superposition as a lab experiment: the "tms" task's parameters (a schema for
// experiment specs) and the numbers one trained model contributes to the sweep — how many
// features it represents, its dimensions per feature, how much the represented features
// interfere, and the most antipodal pair. The lab runner that trains and logs them is
// registered by src/labs/tms_runner.cpp (lab/runner.hpp); experiments/tms_*.toml use it.
// ref: Elhage et al. 2022, "Toy Models of Superposition": sec. 2 (the n = 5, m = 2 intro
// figure, importance 0.9^i), "Feature Dimensionality" (D* = m / ‖W‖_F², per-feature
// D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)²), and the n = 2, m = 1 phase diagram.
// Not for: training (tms.hpp), SAEs (sae.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "interp/tms.hpp"
#include "tasks/registry.hpp"

namespace lmlab::interp {

struct tms_task {
  std::int64_t n = 5, m = 2;
  double sparsity = 0.0;
  double importance_decay = 1.0;  // I_i = decay^i (n = 2: the second feature's relative importance)
  std::int64_t steps = 3000, batch = 256, instances = 4;
  double lr = 1e-2;
  double represented_norm = 0.5;  // ‖W_i‖ above this counts as represented
};

// The task schema ("tms") for lab::register_lab_task; it has no dataset. check() is its
// cross-key check (m <= n), run by the schema's canonical().
void check(const tms_task& t);
const tasks::param_table<tms_task>& tms_params();
tms_config to_tms_config(const tms_task& t, std::uint64_t seed);

struct tms_summary {
  std::int64_t represented = 0;         // features with ‖W_i‖ > represented_norm
  double dims_per_feature = 0;          // D* = m / ‖W‖_F²
  double interference = 0;              // mean over represented i of Σ_{j≠i} (Ŵ_i·W_j)²
  double min_cosine = 0;                // most negative cos(W_i, W_j) among represented pairs (1 if < 2)
  std::vector<double> norms;            // ‖W_i‖
  std::vector<double> feature_dims;     // D_i (0 for a zero column)
  // Among represented features: the share whose D_i lies within fraction_tolerance of each of
  // tms_fractions() (in that order), their total, and that total's chance level (chance_share).
  std::vector<double> at_fraction;
  double at_fractions = 0;
};
tms_summary summarize(const tms_model& t, double represented_norm);

// The fractions of a dimension that single features' dimensionalities stick at, each with the
// geometry the paper names for it. ref: Elhage et al. 2022, "Toy Models of Superposition",
// sec. "The Geometry of Superposition", "Feature Dimensionality" (the figure of dimensions per
// feature against 1/(1 - S), with each feature's D_i drawn as a point): 1 (a dimension of its
// own), 3/4 (tetrahedron: 4 features in 3 dimensions), 2/3 (triangle: 3 in 2), 1/2 (digon: an
// antipodal pair), 2/5 (pentagon: 5 in 2), 3/8 (square antiprism: 8 in 3).
struct tms_fraction {
  const char* name;
  double value;
};
const std::vector<tms_fraction>& tms_fractions();
inline constexpr double fraction_tolerance = 0.02;  // |D_i - fraction| counted as "at" it
// Chance level of at_fractions: the share of [0.3, 1] (where represented features' D_i fall
// outside the fractions too) within fraction_tolerance of some fraction, i.e. the expected
// share if D_i were uniform there. The bands of 3/8 and 2/5 overlap and count once.
double chance_share();
// Index into tms_fractions() of the fraction within fraction_tolerance of d (the nearest), or -1.
int nearest_fraction(double d);

// The phase of the last feature of a model of n = 2 features in m = 1 dimension, as Elhage et
// al.'s n = 2 phase diagram colours it (sec. "Superposition as a Phase Change"): the feature is
// not represented (‖W_2‖ <= represented_norm), has the dimension to itself (W_2 represented and
// W_1 not: "dedicated"), or shares it with feature 1 antipodally (both represented and
// cos(W_1, W_2) < 0: "superposed"). Both represented pointing the same way is "other" (not a
// phase the paper draws). Throws for a model that is not n = 2.
enum class tms_phase { not_represented, dedicated, superposed, other };
tms_phase classify_phase(const tms_model& t, double represented_norm);
const char* phase_name(tms_phase p);

}  // namespace lmlab::interp
