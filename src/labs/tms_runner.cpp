// Toy models of superposition as lab runs (lab/runner.hpp): the "tms" task
// (interp/tms_experiment.hpp) and its runner, which trains one model per run and logs what the
// report plots and checks: features represented, dimensions per feature, interference, the
// most antipodal pair, per-feature norms and dimensionalities, and (n = 2) feature 2's phase. Here, not in interp,
// because interp sits below lab.
// Not for: the `lmlab interp tms` verb (src/cli/interp.cpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "labs/labs.hpp"

#include "interp/tms_experiment.hpp"
#include "lab/runner.hpp"
#include "store/results_store.hpp"

namespace {

namespace in = lmlab::interp;
namespace lab = lmlab::lab;

lab::run_result run_tms(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const in::tms_task task = in::tms_params().read(ctx.config.at("task"), {"name"});
  const in::tms_model model = in::train_tms(in::to_tms_config(task, ctx.seed));
  const in::tms_summary s = in::summarize(model, task.represented_norm);
  lab::run_result r;
  r.final_train_loss = model.loss;
  r.steps = task.steps;
  r.n_params = task.m * task.n + task.n;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ctx.db) {
    auto& db = *ctx.db;
    auto metric = [&](const char* name, double v) { db.log_metric(ctx.store_run, task.steps, name, v); };
    metric("final_train_loss", model.loss);
    metric("n_params", static_cast<double>(r.n_params));
    metric("steps", static_cast<double>(task.steps));
    metric("represented", static_cast<double>(s.represented));
    metric("represented_fraction", static_cast<double>(s.represented) / static_cast<double>(task.n));
    metric("dims_per_feature", s.dims_per_feature);
    metric("interference", s.interference);
    metric("min_cosine", s.min_cosine);
    metric("inv_density", 1.0 / (1.0 - task.sparsity));  // 1/(1-S): the paper's x axis
    // The dimensionality plateaus (tms_dimensionality.toml): the share of represented features
    // at the fractions, at 1/2 (antipodal pairs) alone, the chance level, and a histogram of
    // every feature's D_i in bins of 1/40 (a row of the report's heatmap per sparsity).
    metric("at_fractions", s.at_fractions);
    metric("at_half", s.at_fraction[3]);
    metric("chance_at_fractions", in::chance_share());
    std::vector<double> hist(41, 0.0);
    for (double d : s.feature_dims) hist[static_cast<std::size_t>(std::lround(std::clamp(d, 0.0, 1.0) * 40))] += 1.0 / static_cast<double>(task.n);
    for (std::size_t k = 0; k < hist.size(); ++k)
      db.log_evaluation(ctx.store_run, "test", fmt::format("inv_density={:g}/D={:.3f}", 1.0 / (1.0 - task.sparsity), k / 40.0),
                        "feature_share", hist[k], task.n);
    // n = 2: feature 2's phase (tms_phase.toml), as run metrics (1 in the phase, else 0) for the
    // rules and as a cell "importance=I/density=1-S" of each phase's share-of-seeds heatmap.
    if (task.n == 2) {
      const in::tms_phase ph = in::classify_phase(model, task.represented_norm);
      for (const in::tms_phase p : {in::tms_phase::not_represented, in::tms_phase::dedicated, in::tms_phase::superposed}) {
        const double v = ph == p ? 1.0 : 0.0;
        metric(in::phase_name(p), v);
        db.log_evaluation(ctx.store_run, "test",
                          fmt::format("importance={:g}/density={:g}", task.importance_decay, 1.0 - task.sparsity),
                          in::phase_name(p), v, 1);
      }
    }
    for (std::size_t i = 0; i < s.norms.size(); ++i) {
      const std::string slice = "feature=" + std::to_string(i);
      db.log_evaluation(ctx.store_run, "test", slice, "norm", s.norms[i], 1);
      db.log_evaluation(ctx.store_run, "test", slice, "feature_dims", s.feature_dims[i], 1);
    }
    metric("seconds", r.seconds);
  }
  if (ctx.progress)
    std::fprintf(ctx.progress, "tms: n %lld m %lld S %.4g: %lld features represented, D* %.3f, loss %.4g\n",
                 static_cast<long long>(task.n), static_cast<long long>(task.m), task.sparsity,
                 static_cast<long long>(s.represented), s.dims_per_feature, model.loss);
  return r;
}

}  // namespace

void lmlab::labs::register_tms() {
  lab::register_lab_task("tms", "toy model of superposition (Elhage et al. 2022); a lab runner, no dataset", in::tms_params(),
                         run_tms);
}
