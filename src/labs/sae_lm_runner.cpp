// The "sae_lm" lab runner (lab/runner.hpp; the task: interp/sae_lm.hpp): trains a character LM
// on a corpus exactly as the default runner does (trained_lm.hpp: lab::train_and_evaluate on the
// corpus_lm task: same batches, checkpoint, metrics), reloads it, caches the activation at the task's
// hook on training windows, trains one SAE per listed kind on it, and scores each on held-out
// windows: L0, explained variance, dead latents, and the CE-loss score with the SAE spliced
// into the forward pass. Logged per kind as run metrics `<metric>_<kind>` (e.g.
// ce_loss_score_batchtopk_auxk) and as evaluations at slice "<kind>/k=<k>" for the report;
// plus the paired per-seed differences the spec's rules read.
// Here, not in interp, because interp sits below lab.
// Not for: the synthetic SAE benchmark (interp_runners.cpp, "sae_synthetic").
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "labs/labs.hpp"
#include "labs/trained_lm.hpp"

#include "core/error.hpp"
#include "interp/sae_lm.hpp"
#include "lab/runner.hpp"

namespace {

namespace in = lmlab::interp;
namespace lab = lmlab::lab;

// ids i32 (n, T) of the first n examples' inputs (or targets) of a split.
lmlab::tensor rows_tensor(const std::vector<lmlab::tasks::example>& split, std::int64_t n, bool targets) {
  LMLAB_CHECK(n >= 1 && static_cast<std::size_t>(n) <= split.size(), "sae_lm: {} windows asked of {}", n, split.size());
  const auto T = static_cast<std::int64_t>(split.front().input.size());
  std::vector<std::int32_t> v;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& r = targets ? split[static_cast<std::size_t>(i)].target : split[static_cast<std::size_t>(i)].input;
    LMLAB_CHECK(static_cast<std::int64_t>(r.size()) == T, "sae_lm: windows of different lengths");
    v.insert(v.end(), r.begin(), r.end());
  }
  return lmlab::tensor::from<std::int32_t>({n, T}, std::span<const std::int32_t>(v));
}

// The cross-entropy on the test targets of a unigram model fitted (add-one) on the training
// targets: what a model that ignores its context reaches, the floor the LM must beat.
double unigram_ce(const lmlab::tasks::dataset& ds) {
  std::vector<double> count(static_cast<std::size_t>(ds.vocab.size()), 1.0);
  double total = static_cast<double>(count.size());
  for (const auto& e : ds.train)
    for (auto t : e.target)
      if (t >= 0) count[static_cast<std::size_t>(t)] += 1, total += 1;
  double ce = 0, n = 0;
  for (const auto& e : ds.test)
    for (auto t : e.target)
      if (t >= 0) ce -= std::log(count[static_cast<std::size_t>(t)] / total), n += 1;
  return ce / n;
}

lab::run_result run_sae_lm(const lab::run_context& ctx) {
  const in::sae_lm_task task = in::sae_lm_params().read(ctx.config.at("task"), {"name"});
  in::check(task);
  const auto variants = in::parse_sae_variants(task.kinds);
  lmlab::labs::trained_lm trained = lmlab::labs::train_and_reload(ctx, in::corpus_task_json(task), "sae_lm");
  const lab::run_result res = trained.result;
  const lmlab::tasks::dataset& ds = trained.ds;
  auto& model = trained.model;

  std::int64_t C = 0;
  const std::vector<double> X = in::hook_rows(*model, rows_tensor(ds.train, task.sae_windows, false), task.hook, &C);
  const lmlab::tensor test_in = rows_tensor(ds.test, task.num_test, false), test_tg = rows_tensor(ds.test, task.num_test, true);
  const std::vector<double> Xt = in::hook_rows(*model, test_in, task.hook, &C);
  const auto N = static_cast<std::int64_t>(X.size()) / C, Nt = static_cast<std::int64_t>(Xt.size()) / C;
  auto metric = [&](const std::string& name, double v) { ctx.log_metric(res.steps, name, v); };
  std::map<std::string, in::sae_metrics> ms;
  std::map<std::string, in::sae_ce> ces;
  for (const auto& v : variants) {
    const in::sae s = in::train_sae(X, N, in::sae_config_of(task, v, C, ctx.seed));
    const in::sae_metrics m = in::evaluate_sae(s, Xt, Nt);
    const in::sae_ce ce = in::sae_ce_scores(*model, test_in, test_tg, task.hook, s);
    ms[v.name] = m, ces[v.name] = ce;
    const std::string slice = v.name + "/k=" + std::to_string(task.k);
    for (const auto& [name, value] : {std::pair<std::string, double>{"l0", m.l0},
                                      {"explained_variance", m.explained_variance},
                                      {"dead_fraction", m.dead_fraction},
                                      {"ce_sae", ce.sae},
                                      {"ce_loss_score", ce.score}}) {
      metric(name + "_" + v.name, value);
      ctx.log_eval(slice, name, value, Nt);
    }
    if (ctx.progress)
      std::fprintf(ctx.progress, "sae_lm: %s on %s: L0 %.2f, explained variance %.3f, dead %.3f, CE %.4f (clean %.4f, "
                   "zero-ablated %.4f): CE-loss score %.3f\n", v.name.c_str(), task.hook.c_str(), m.l0,
                   m.explained_variance, m.dead_fraction, ce.sae, ce.clean, ce.ablation, ce.score);
  }
  const auto& any = ces.begin()->second;
  metric("ce_clean", any.clean);
  metric("ce_ablation", any.ablation);
  metric("ce_unigram", unigram_ce(ds));
  metric("sae_rows", static_cast<double>(N));
  // Paired per-seed differences for the rules: Bussmann et al.'s claim (BatchTopK reconstructs
  // better than TopK at the same mean L0) and Gao et al.'s (AuxK leaves fewer dead latents).
  if (ces.count("batchtopk") && ces.count("topk")) {
    metric("batchtopk_minus_topk_ce_score", ces["batchtopk"].score - ces["topk"].score);
    metric("batchtopk_minus_topk_ev", ms["batchtopk"].explained_variance - ms["topk"].explained_variance);
  }
  for (const char* k : {"topk", "batchtopk"})
    if (ms.count(k) && ms.count(std::string(k) + "_auxk"))
      metric(std::string("dead_drop_auxk_") + k, ms[k].dead_fraction - ms[std::string(k) + "_auxk"].dead_fraction);
  return res;
}

}  // namespace

void lmlab::labs::register_sae_lm() {
  lab::register_lab_task("sae_lm",
                         "sparse autoencoders on a character LM's activations, scored by L0, explained variance, "
                         "dead latents and the CE-loss score; a lab runner, trains its LM on corpus_lm",
                         in::sae_lm_params(), run_sae_lm);
}
