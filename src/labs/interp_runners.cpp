// The interpretability lab's runners that train a model (lab/runner.hpp): the
// "induction_formation" task (interp/formation.hpp) trains a zoo model of the spec's [model] on
// repeated random tokens through the lab's one training loop (train::train_steps, AdamW, warmup
// + cosine, clipping from the spec's [train] keys) and, every eval_every steps, logs the loss on
// each half, the in-context-learning score and the best induction and previous-token head
// scores, so the report can draw them over steps; at the end, when the induction head formed
// and when in-context learning appeared. The "carry_probe" task (interp/carry.hpp) trains on
// base-b addition exactly as the default runner does (lab::train_and_evaluate: same batches,
// checkpoint, per-slice accuracy), reloads the checkpoint, then probes the carry bit at every
// depth with a control task, steers along the probe direction against a random one, and patches
// clean into corrupted runs over (depth, position). Here, not in interp, because interp sits
// below lab.
// Not for: the toy models of superposition (tms_runner.cpp), the `lmlab interp` verbs.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "labs/labs.hpp"
#include "labs/trained_lm.hpp"

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "interp/carry.hpp"
#include "interp/formation.hpp"
#include "interp/interp.hpp"
#include "interp/sae.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "models/lm.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace {

namespace in = lmlab::interp;
namespace lab = lmlab::lab;
namespace train = lmlab::train;
namespace models = lmlab::models;

std::int64_t step_budget(const nlohmann::json& tj, const char* runner) {
  LMLAB_CHECK_HINT(tj.contains("steps") && tj["steps"].is_number_integer() && tj["steps"].get<std::int64_t>() > 0,
                   "set train.steps (a step budget; tokens and flops budgets are for the default runner)",
                   "{}: train.steps is required", runner);
  return tj["steps"].get<std::int64_t>();
}

// The spec's [model] with the task's vocabulary and context where the spec leaves them out.
models::lm_config model_config(const nlohmann::json& model, std::int64_t vocab, std::int64_t n_ctx) {
  nlohmann::json mj = lab::lm_model_json(model);
  if (!mj.contains("vocab_size")) mj["vocab_size"] = vocab;
  if (!mj.contains("n_ctx")) mj["n_ctx"] = n_ctx;
  LMLAB_CHECK(mj["vocab_size"].get<std::int64_t>() >= vocab, "model.vocab_size {} is smaller than the task's {}",
              mj["vocab_size"].get<std::int64_t>(), vocab);
  LMLAB_CHECK_HINT(mj["n_ctx"].get<std::int64_t>() >= n_ctx, "raise model.n_ctx or lower task.half_len",
                   "model.n_ctx {} is shorter than the task's sequences ({})", mj["n_ctx"].get<std::int64_t>(), n_ctx);
  models::lm_config mc = models::lm_config_from_json(mj, "model");
  mc.validate("model.");
  return mc;
}

lab::run_result run_formation(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const in::formation_task task = in::formation_params().read(ctx.config.at("task"), {"name"});
  const std::int64_t n = task.half_len;
  const auto& tj = ctx.config.at("train");
  const std::int64_t steps = step_budget(tj, "induction_formation");
  const auto oc = lab::shared_train_keys(tj);
  auto model = models::make_model(model_config(ctx.config.at("model"), task.vocab_size, 2 * n), ctx.seed);
  train::adamw optim(model->named_parameters(), {oc.beta1, oc.beta2, oc.eps, oc.weight_decay});
  const train::lr_schedule sched{oc.lr, oc.final_lr(), oc.warmup(steps), steps, train::lr_schedule::shape::cosine, 0.2};
  // Evaluation sequences from their own stream, fixed across points (tokens never depend on
  // the training batches).
  const lmlab::tensor eval_ids = in::repeated_random_tokens(task.eval_batch, n, task.vocab_size, ctx.seed ^ 0x65766c31ull);

  std::vector<in::formation_point> pts;
  double loss_sum = 0;
  std::int64_t loss_n = 0;
  float last = NAN;
  auto log = [&](std::int64_t step, const char* name, double v) { ctx.log_metric(step, name, v); };
  auto evaluate_at = [&](std::int64_t step) {
    model->eval();
    in::formation_point p = in::evaluate_formation(*model, eval_ids, n);
    model->train(true);
    p.step = step;
    pts.push_back(p);
    if (loss_n > 0) log(step, "train_loss", loss_sum / static_cast<double>(loss_n));
    loss_sum = 0, loss_n = 0;
    log(step, "loss_first_half", p.loss_first);
    log(step, "loss_second_half", p.loss_second);
    log(step, "icl_score", p.icl_score);
    log(step, "max_induction", p.max_induction);
    log(step, "max_prev_token", p.max_prev_token);
  };
  model->train(true);
  evaluate_at(0);
  train::loop_callbacks cb;
  const lmlab::rng dropout(ctx.seed, 0x64726f70ull);
  cb.batch = [&](std::int64_t step) {
    auto b = in::formation_batch_at(task, oc.batch_size, ctx.seed, step);
    return train::step_batch{b.inputs, b.targets, dropout.fork(static_cast<std::uint64_t>(step)).next_u64()};
  };
  cb.after_step = [&](std::int64_t done, float loss) {
    LMLAB_CHECK(std::isfinite(loss), "induction_formation: training loss is {} at step {} (diverged)", loss, done);
    last = loss;
    loss_sum += loss, ++loss_n;
    if (done % task.eval_every == 0 || done == steps) evaluate_at(done);
  };
  train::train_steps(*model, optim, sched, oc.grad_clip, 0, steps, cb);

  const in::formation_summary s = in::summarize(pts, task, steps);
  lab::run_result r;
  r.final_train_loss = last;
  r.steps = steps;
  r.n_params = model->num_parameters();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log(0, "n_params", static_cast<double>(r.n_params));
  log(0, "steps", static_cast<double>(steps));
  log(steps, "final_train_loss", last);
  log(steps, "peak_induction", s.peak_induction);
  log(steps, "final_icl_score", s.final_icl);
  // Undefined when the threshold was never crossed: not logged (the report shows no value).
  if (s.induction_step >= 0) log(steps, "induction_step", static_cast<double>(s.induction_step));
  if (s.icl_step >= 0) log(steps, "icl_step", static_cast<double>(s.icl_step));
  if (s.lag_fraction >= 0) log(steps, "lag_fraction", s.lag_fraction);
  log(steps, "seconds", r.seconds);
  if (ctx.progress)
    std::fprintf(ctx.progress,
                 "induction_formation: %lld steps: best induction head %.3f (first >= %.2f at step %lld), in-context "
                 "score %.3f (second-half loss low at step %lld)\n",
                 static_cast<long long>(steps), s.final_induction, task.induction_threshold,
                 static_cast<long long>(s.induction_step), s.final_icl, static_cast<long long>(s.icl_step));
  return r;
}


std::string num(double v) { return fmt::format("{:g}", v); }

// 3. of run_carry: activation patching over (depth, position), logged as a heatmap's slices
// plus the positions and the two effects the spec's rules read.
void log_carry_patching(models::causal_lm& model, const lmlab::tasks::dataset& ds, const in::carry_task& task,
                        const lab::run_context& ctx, std::int64_t step) {
  auto eval = [&](const std::string& slice, const char* metric, double v, std::int64_t n) { ctx.log_eval(slice, metric, v, n); };
  auto metric = [&](const char* name, double v) { ctx.log_metric(step, name, v); };
  const in::carry_patch pc = in::patch_carry(model, ds, task, ctx.seed);
  for (const auto& c : pc.cells)
    eval("depth=" + num(c.depth) + "/pos=" + std::to_string(c.pos), "patch_effect", c.effect, task.patch_pairs);
  metric("patch_clean_logit_diff", pc.clean);
  metric("patch_corrupted_logit_diff", pc.corrupted);
  metric("pos_a0", static_cast<double>(pc.pos_a0));
  metric("pos_b0", static_cast<double>(pc.pos_b0));
  metric("pos_s0", static_cast<double>(pc.pos_s0));
  // The effect of each carry input position at the first depth, and of the s0 position at the
  // middle of the stack: where the carry is read from and when it has moved.
  double first = 0, last_pos_mid = 0;
  for (const auto& c : pc.cells) {
    if (c.depth == 0 && c.pos == pc.pos_a0) first = c.effect;
    if (c.depth == 1 && c.pos == pc.pos_s0) last_pos_mid = c.effect;
  }
  metric("patch_effect_a0_depth0", first);
  metric("patch_effect_s0_depth1", last_pos_mid);
}

lab::run_result run_carry(const lab::run_context& ctx) {
  const in::carry_task task = in::carry_params().read(ctx.config.at("task"), {"name"});
  // Train (or resume) exactly as the default runner, then reload the checkpoint.
  lmlab::labs::trained_lm trained = lmlab::labs::train_and_reload(ctx, in::arithmetic_task_json(task), "carry");
  const lab::run_result res = trained.result;
  const lmlab::tasks::dataset& ds = trained.ds;
  auto& model = trained.model;

  auto eval = [&](const std::string& slice, const char* metric, double v, std::int64_t n) { ctx.log_eval(slice, metric, v, n); };
  auto metric = [&](const char* name, double v) { ctx.log_metric(res.steps, name, v); };
  // 1. Probes at the "=" position (one type) and at the s0 position (types: the s0 token).
  const auto items = in::carry_items(ds, task, ctx.seed, task.probe_examples, 1);
  in::probe_options po;
  po.seed = ctx.seed;
  po.resamples = 1000;
  std::vector<double> scales = {0};
  for (double s = task.max_scale; s >= 0.125 - 1e-12; s /= 2) scales.insert(scales.begin() + 1, s);
  double best_selectivity = -1, flip_gap = 0, flip_gap_mean = 0;
  for (const auto& [position, where] : {std::pair<std::int64_t, std::string>{-2, "eq"}, {-1, "s0"}}) {
    const auto probes = in::probe_carry(*model, items, position, po);
    const in::depth_probe* best = nullptr;
    for (const auto& p : probes) {
      const std::string d = "depth=" + num(p.depth);
      const auto n = static_cast<std::int64_t>(p.result.n_test);
      eval(where + "-task/" + d, "probe_accuracy", p.result.task_acc.estimate, n);
      eval(where + "-control/" + d, "probe_accuracy", p.result.control_acc.estimate, n);
      eval(where + "/" + d, "selectivity", p.result.selectivity.estimate, n);
      eval(where + "/" + d, "selectivity_lo", p.result.selectivity.lo, n);
      eval(where + "/" + d, "selectivity_hi", p.result.selectivity.hi, n);
      // Steering needs a downstream layer to read the direction: the last residual (depth L)
      // feeds only the unembedding, so the most selective depth is chosen below it.
      if (p.depth < probes.back().depth && (!best || p.result.selectivity.estimate > best->result.selectivity.estimate + 1e-9))
        best = &p;
    }
    metric(("best_depth_" + where).c_str(), best->depth);
    double top_selectivity = -1;
    for (const auto& p : probes) top_selectivity = std::max(top_selectivity, p.result.selectivity.estimate);
    best_selectivity = std::max(best_selectivity, top_selectivity);
    metric(("max_selectivity_" + where).c_str(), top_selectivity);
    metric(("steer_selectivity_" + where).c_str(), best->result.selectivity.estimate);
    metric(("probe_accuracy_" + where).c_str(), best->result.task_acc.estimate);
    // 2. Steering at the most selective depth of this position.
    const auto rows = in::steer_carry(*model, items, *best, scales, ctx.seed);
    for (const auto& r : rows) {
      flip_gap = std::max(flip_gap, r.flip_probe - r.flip_random);
      flip_gap_mean = std::max(flip_gap_mean, r.flip_mean - r.flip_random);
      const std::string sc = "scale=" + num(r.scale);
      const auto n = static_cast<std::int64_t>(items.size());
      eval(where + "-probe/" + sc, "flip_rate", r.flip_probe, n);
      eval(where + "-random/" + sc, "flip_rate", r.flip_random, n);
      eval(where + "-meandiff/" + sc, "flip_rate", r.flip_mean, n);
      eval(where + "-meandiff/" + sc, "answer_accuracy", r.acc_mean, n);
      eval(where + "-probe/" + sc, "answer_accuracy", r.acc_probe, n);
      eval(where + "-random/" + sc, "answer_accuracy", r.acc_random, n);
    }
    const auto& top = rows.back();
    metric(("flip_probe_" + where).c_str(), top.flip_probe);
    metric(("flip_random_" + where).c_str(), top.flip_random);
    metric(("flip_meandiff_" + where).c_str(), top.flip_mean);
    metric(("unsteered_accuracy_" + where).c_str(), rows.front().acc_probe);
    if (ctx.progress)
      std::fprintf(ctx.progress,
                   "carry_probe: %s: best depth %g selectivity %.3f (task %.3f, control %.3f); steering x%g: flips %.3f "
                   "along the probe, %.3f along the mean difference, %.3f random\n",
                   where.c_str(), best->depth, best->result.selectivity.estimate, best->result.task_acc.estimate,
                   best->result.control_acc.estimate, top.scale, top.flip_probe, top.flip_mean, top.flip_random);
  }
  metric("max_selectivity", best_selectivity);
  metric("flip_gap", flip_gap);            // max over positions and scales: probe minus random
  metric("flip_gap_meandiff", flip_gap_mean);  // the same for the class-mean difference
  // Paired within the run (same model, items and random control): how far the class-mean
  // direction's gap leads the logistic one's; the spec's rule reads this, not two seed CIs.
  metric("meandiff_lead", flip_gap_mean - flip_gap);
  log_carry_patching(*model, ds, task, ctx, res.steps);
  return res;
}

lab::run_result run_sae(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const in::sae_task task = in::sae_params().read(ctx.config.at("task"), {"name"});
  const in::sae_benchmark b = in::run_sae_benchmark(task, ctx.seed);
  lab::run_result r;
  r.steps = task.steps;
  r.final_train_loss = b.metrics.mse;
  r.n_params = 2 * task.d * task.d_sae + task.d_sae + task.d;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ctx.db) {
    auto m = [&](const char* name, double v) { ctx.db->log_metric(ctx.store_run, task.steps, name, v); };
    m("n_params", static_cast<double>(r.n_params));
    m("steps", static_cast<double>(task.steps));
    m("l0", b.metrics.l0);
    m("explained_variance", b.metrics.explained_variance);
    m("mse", b.metrics.mse);
    m("dead_fraction", b.metrics.dead_fraction);
    m("mcc", b.rec.mcc);
    m("mmcs", b.rec.mmcs);
    m("recovered", b.rec.recovered);
    m("precision", b.rec.precision);
    m("recall", b.rec.recall);
    // Matched cosine per feature, by frequency rank (feature 0 is the most frequent).
    for (std::size_t i = 0; i < b.rec.matched_cosine.size(); ++i)
      ctx.db->log_evaluation(ctx.store_run, "test", "feature=" + std::to_string(i), "matched_cosine", b.rec.matched_cosine[i], 1);
    m("seconds", r.seconds);
  }
  if (ctx.progress)
    std::fprintf(ctx.progress, "sae_synthetic: %s: MCC %.3f (MMCS %.3f, %.0f%% recovered), L0 %.2f, explained variance %.3f, dead %.3f\n",
                 task.kind.c_str(), b.rec.mcc, b.rec.mmcs, 100 * b.rec.recovered, b.metrics.l0, b.metrics.explained_variance,
                 b.metrics.dead_fraction);
  return r;
}

}  // namespace

void lmlab::labs::register_interp() {
  lab::register_lab_task("induction_formation",
                         "induction-head formation over training on repeated random tokens (Olsson et al. 2022); "
                         "a lab runner, no dataset",
                         in::formation_params(), run_formation);
  lab::register_lab_task("carry_probe",
                         "probe, steer and patch the carry bit of base-b addition (a model trained on "
                         "arithmetic); a lab runner, no dataset of its own",
                         in::carry_params(), run_carry);
  lab::register_lab_task("sae_synthetic",
                         "sparse autoencoders on planted sparse features in superposition (ground truth known); "
                         "a lab runner, no dataset",
                         in::sae_params(), run_sae);
}
