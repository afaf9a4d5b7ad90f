// Toy models of superposition as a lab experiment: see tms_experiment.hpp.
#include "interp/tms_experiment.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "tasks/params.hpp"

namespace lmlab::interp {

const tasks::param_table<tms_task>& tms_params() {
  static const auto t = tasks::param_table<tms_task>("tms")
        .add("n", &tms_task::n, "features", 1, 4096)
        .add("m", &tms_task::m, "hidden dimensions", 1, 4096)
        .add("sparsity", &tms_task::sparsity, "S: probability a feature is 0", 0, 0.9999)
        .add("importance_decay", &tms_task::importance_decay, "I_i = decay^i (n = 2: feature 2's relative importance)",
             1e-6, 1e6)
        .add("steps", &tms_task::steps, "Adam steps", 1, 1e7)
        .add("batch", &tms_task::batch, "examples per step", 1, 1 << 20)
        .add("instances", &tms_task::instances, "models trained per run; the lowest loss is kept", 1, 1024)
        .add("lr", &tms_task::lr, "Adam learning rate", 1e-8, 10)
        .add("represented_norm", &tms_task::represented_norm, "a feature with ||W_i|| above this is represented", 0,
             10);
  return t;
}

void check(const tms_task& c) {
  if (c.m > c.n) throw tasks::param_error("m", "tms: m (hidden) must not exceed n (features)", "superposition needs m < n");
}

tms_config to_tms_config(const tms_task& t, std::uint64_t seed) {
  tms_config c;
  c.n = t.n;
  c.m = t.m;
  c.sparsity = t.sparsity;
  c.importance.resize(static_cast<std::size_t>(t.n));
  for (std::int64_t i = 0; i < t.n; ++i) c.importance[static_cast<std::size_t>(i)] = std::pow(t.importance_decay, static_cast<double>(i));
  c.steps = t.steps;
  c.batch = t.batch;
  c.instances = t.instances;
  c.lr = t.lr;
  c.seed = seed;
  return c;
}

tms_summary summarize(const tms_model& t, double represented_norm) {
  tms_summary s;
  s.dims_per_feature = t.dimensions_per_feature();
  s.min_cosine = 1.0;
  std::vector<std::int64_t> rep;
  for (std::int64_t i = 0; i < t.n; ++i) {
    s.norms.push_back(t.norm(i));
    if (s.norms.back() > represented_norm) rep.push_back(i);
  }
  s.represented = static_cast<std::int64_t>(rep.size());
  // D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)², the j = i term included (it is ‖W_i‖²).
  for (std::int64_t i = 0; i < t.n; ++i) {
    const double ni = s.norms[static_cast<std::size_t>(i)];
    double denom = 0;
    for (std::int64_t j = 0; j < t.n; ++j) {
      const double proj = t.cosine(i, j) * s.norms[static_cast<std::size_t>(j)];  // Ŵ_i·W_j
      denom += proj * proj;
    }
    s.feature_dims.push_back(ni > 0 && denom > 0 ? ni * ni / denom : 0.0);
  }
  double inter = 0;
  for (std::int64_t i : rep) {
    for (std::int64_t j = 0; j < t.n; ++j) {
      if (j == i) continue;
      const double proj = t.cosine(i, j) * s.norms[static_cast<std::size_t>(j)];
      inter += proj * proj;
    }
    for (std::int64_t j : rep)
      if (j > i) s.min_cosine = std::min(s.min_cosine, t.cosine(i, j));
  }
  s.interference = rep.empty() ? 0.0 : inter / static_cast<double>(rep.size());
  s.at_fraction.assign(tms_fractions().size(), 0.0);
  for (std::int64_t i : rep) {
    const int k = nearest_fraction(s.feature_dims[static_cast<std::size_t>(i)]);
    if (k >= 0) s.at_fraction[static_cast<std::size_t>(k)] += 1.0 / static_cast<double>(rep.size());
  }
  for (double a : s.at_fraction) s.at_fractions += a;
  return s;
}

const std::vector<tms_fraction>& tms_fractions() {
  static const std::vector<tms_fraction> f{{"1", 1.0},         {"3/4", 3.0 / 4}, {"2/3", 2.0 / 3},
                                           {"1/2", 1.0 / 2}, {"2/5", 2.0 / 5}, {"3/8", 3.0 / 8}};
  return f;
}

int nearest_fraction(double d) {
  int best = -1;
  double gap = fraction_tolerance;
  for (std::size_t k = 0; k < tms_fractions().size(); ++k)
    if (const double g = std::abs(d - tms_fractions()[k].value); g <= gap) best = static_cast<int>(k), gap = g;
  return best;
}

tms_phase classify_phase(const tms_model& t, double represented_norm) {
  if (t.n != 2) throw lmlab::error(fmt::format("tms phase: the phase diagram is for n = 2 features, got n = {}", t.n));
  const bool first = t.norm(0) > represented_norm, second = t.norm(1) > represented_norm;
  if (!second) return tms_phase::not_represented;
  if (!first) return tms_phase::dedicated;
  return t.cosine(0, 1) < 0 ? tms_phase::superposed : tms_phase::other;
}

const char* phase_name(tms_phase p) {
  switch (p) {
    case tms_phase::not_represented: return "not_represented";
    case tms_phase::dedicated: return "dedicated";
    case tms_phase::superposed: return "superposed";
    case tms_phase::other: return "other";
  }
  return "other";
}

double chance_share() {
  // Union of the bands [f - tol, f + tol] clipped to [lo, hi], over hi - lo.
  const double lo = 0.3, hi = 1.0;
  std::vector<std::pair<double, double>> bands;
  for (const auto& f : tms_fractions())
    bands.push_back({std::max(lo, f.value - fraction_tolerance), std::min(hi, f.value + fraction_tolerance)});
  std::sort(bands.begin(), bands.end());
  double covered = 0, end = lo;
  for (const auto& [a, b] : bands) {
    const double from = std::max(a, end);
    if (b > from) covered += b - from;
    end = std::max(end, b);
  }
  return covered / (hi - lo);
}

}  // namespace lmlab::interp
