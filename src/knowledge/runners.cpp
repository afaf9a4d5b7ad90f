// The knowledge lab's tasks and runners: see runners.hpp.
#include "knowledge/runners.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "analysis/calibration.hpp"
#include "analysis/hallucination.hpp"
#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "hooks/hooks.hpp"
#include "interp/probe.hpp"
#include "knowledge/context.hpp"
#include "knowledge/fit.hpp"
#include "knowledge/lora.hpp"
#include "knowledge/relations.hpp"
#include "knowledge/retrieval.hpp"
#include "knowledge/rome.hpp"
#include "knowledge/trace.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "models/lm.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"

namespace lmlab::knowledge {

const tasks::param_table<edit_config>& edit_params() {
  static const auto t = tasks::param_table<edit_config>("knowledge_edit")
        .add_keys(add_kb_params<edit_config>)
        .add("num_edits", &edit_config::num_edits, "facts edited, one at a time, each from the trained model", 1, 1e6)
        .add("layer", &edit_config::layer, "the block whose MLP is edited (< 0: from the last)", -64, 64)
        .add("ridge", &edit_config::ridge, "λ added to C as λ·mean(diag C)·I", 0, 1e6)
        .add("value_steps", &edit_config::value_steps, "Adam steps finding v*", 1, 1e5)
        .add("value_lr", &edit_config::value_lr, "Adam learning rate for v*", 0, 100)
        .add("value_l2", &edit_config::value_l2, "L2 penalty on v* - (W k* + b)", 0, 100)
        .add("finetune_edit_steps", &edit_config::finetune_edit_steps, "fine-tuning comparison: steps on the fact", 1, 1e5)
        .add("finetune_edit_lr", &edit_config::finetune_edit_lr, "fine-tuning comparison: Adam learning rate", 0, 10)
        .add("num_neighbours", &edit_config::num_neighbours, "other QA people asked the same attribute", 1, 1e5)
        .add("trace_questions", &edit_config::trace_questions, "> 0: resample-trace each block's MLP at the subject on this many questions", 0, 1e5)
        .add("layer_select", &edit_config::layer_select, "fixed: edit task.layer; traced: the block the trace finds most used",
             -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), {"fixed", "traced"});
  return t;
}

void check(const edit_config& c) {
  check(static_cast<const kb_config&>(c));
  const std::int64_t n_qa = std::llround(static_cast<double>(c.num_people) * c.qa_fraction);
  if (c.num_neighbours > n_qa - 1)
    throw tasks::param_error("num_neighbours",
                             fmt::format("knowledge_edit: {} neighbours but only {} other QA people", c.num_neighbours, n_qa - 1),
                             "lower num_neighbours or raise num_people / qa_fraction");
  if (c.layer_select == "traced" && c.trace_questions == 0)
    throw tasks::param_error("layer_select", "knowledge_edit: layer_select = \"traced\" needs trace_questions > 0");
}

namespace {

using words = std::vector<std::string>;
using clock_type = std::chrono::steady_clock;

template <class C>
tasks::task_info task_of(std::string name, std::string summary, const tasks::param_table<C>& table, bool with_dataset) {
  tasks::task_info t = tasks::task_from_table(std::move(name), std::move(summary), table);
  const tasks::param_table<C>* tp = &table;
  if (with_dataset)
    t.build = [tp](const nlohmann::json& j, std::uint64_t seed) { return build(tp->read(j, {"name"}), seed); };
  return t;
}

// The steps of a runner's (first) training phase: a step budget only.
std::int64_t train_steps_of(const nlohmann::json& tj) {
  LMLAB_CHECK_HINT(tj.contains("steps") && tj["steps"].get<std::int64_t>() > 0,
                   "the knowledge runners take a step budget: set train.steps (not tokens or flops)",
                   "knowledge: train.steps is required");
  return tj["steps"].get<std::int64_t>();
}

struct trained {
  tasks::dataset ds;
  std::unique_ptr<models::lm> model;
  float loss = NAN;
  std::int64_t steps = 0;
};

// P-probing (Allen-Zhu & Li 2023 §5): can a linear probe read each attribute from the hidden
// state at the person's last name token? Inputs "<bos> first last"; the causal model's state
// there is the same whatever text follows the name.
// Slices <prefix>name/<attr>, and <prefix>name/all: the mean over the attributes (probe_accuracy,
// probe_chance), whose spread over seeds is smaller than any one attribute's.
void probe_attributes(const lab::run_context& ctx, models::lm& model, const tasks::dataset& ds, const kb_config& c,
                      const std::string& prefix = "") {
  const auto people = make_people(c.num_people, c.qa_fraction, ctx.seed);
  const std::string hook =
      c.probe_hook.empty() ? fmt::format("blocks.{}.hook_resid_post", model.blocks.size() - 1) : c.probe_hook;
  std::vector<std::int32_t> ids;
  std::vector<std::int64_t> types;
  for (const auto& p : people) {
    for (const auto& w : {std::string("<bos>"), p.first, p.last}) ids.push_back(ds.vocab.id(w));
    types.push_back(ds.vocab.id(p.last));
  }
  const auto N = static_cast<std::int64_t>(people.size());
  auto [logits, cache] = hooks::run_with_cache(model, tensor::from<std::int32_t>({N, 3}, std::span<const std::int32_t>(ids)),
                                               [&](const std::string& s) { return s == hook; });
  LMLAB_CHECK_HINT(cache.count(hook), "`lmlab interp hooks CKPT` lists the hook names", "biographies: probe_hook '{}' is not a hook of this model", hook);
  const tensor& h = cache.at(hook);
  const auto D = static_cast<std::size_t>(h.size(-1));
  const auto all = h.to_vector();
  LMLAB_CHECK(all.size() == static_cast<std::size_t>(N) * 3 * D, "biographies: probe_hook '{}' is not a (B, T, C) activation", hook);
  std::vector<double> X;
  for (std::int64_t i = 0; i < N; ++i)
    X.insert(X.end(), all.begin() + static_cast<std::ptrdiff_t>((i * 3 + 2) * static_cast<std::int64_t>(D)),
             all.begin() + static_cast<std::ptrdiff_t>((i * 3 + 3) * static_cast<std::int64_t>(D)));
  double sum_acc = 0, sum_chance = 0;
  std::int64_t n_test = 0;
  for (std::size_t a = 0; a < attributes().size(); ++a) {
    std::vector<int> y;
    for (const auto& p : people) y.push_back(p.value[a]);
    interp::probe_options opt;
    opt.seed = ctx.seed;
    opt.resamples = 200;
    const auto r = interp::probe_with_control(X, D, y, types, opt);
    const double chance = 1.0 / static_cast<double>(attributes()[a].values.size());
    n_test = static_cast<std::int64_t>(r.n_test);
    log_eval(ctx, prefix + "name/" + attributes()[a].name, "probe_accuracy", r.task_acc.estimate, n_test);
    log_eval(ctx, prefix + "name/" + attributes()[a].name, "probe_chance", chance, n_test);
    sum_acc += r.task_acc.estimate;
    sum_chance += chance;
  }
  const auto n_attr = static_cast<double>(attributes().size());
  log_eval(ctx, prefix + "name/all", "probe_accuracy", sum_acc / n_attr, n_test);
  log_eval(ctx, prefix + "name/all", "probe_chance", sum_chance / n_attr, n_test);
}

// The QA fine-tuning's parameter filter and, with finetune_eval_every > 0, its scoring along the
// way: run metrics finetune_extract, finetune_storage and finetune_qa_seen at step
// pretrain_steps + done (the accuracy over the slices extract/*, storage/*, qa_seen/*).
fit_extras finetune_extras(const lab::run_context& ctx, models::lm& model, const tasks::dataset& ds, const kb_config& c,
                           std::int64_t pretrain_steps) {
  fit_extras x;
  if (c.finetune_params == "attention")
    x.trainable = [](const std::string& name) { return name.find(".attn.") != std::string::npos; };
  if (c.finetune_params == "lora") {
    x.lora_rank = c.lora_rank;
    x.lora_alpha = c.lora_alpha;
    x.lora_targets = split_targets(c.lora_targets);
  }
  if (c.finetune_eval_every <= 0) return x;
  x.every = c.finetune_eval_every;
  x.on_every = [&ctx, &model, &ds, pretrain_steps](std::int64_t done) {
    model.eval();
    for (const char* slice : {"extract", "storage", "qa_seen"}) {
      const auto ex = with_slice(ds.test, std::string(slice) + "/");
      double ok = 0;
      for (const auto& s : score_answers(model, ex, ds.pad_id)) ok += s.correct;
      log_run_metric(ctx, pretrain_steps + done, std::string("finetune_") + slice,
                     ok / static_cast<double>(std::max<std::size_t>(1, ex.size())));
    }
  };
  return x;
}

// A model for `ds` ([model]) trained in one phase on ds.train for train.steps; eval mode.
void train_one_phase(const lab::run_context& ctx, const tasks::dataset& ds, trained& t) {
  t.model = models::make_model(lab::run_model_config(ctx.config.at("model"), ds), ctx.seed);
  const auto oc = lab::shared_train_keys(ctx.config.at("train"));
  t.steps = train_steps_of(ctx.config.at("train"));
  t.loss = fit(*t.model, ds.train, ds.pad_id, oc, t.steps, oc.lr, ctx.seed, 0);
  t.model->eval();
}

trained make_and_train(const lab::run_context& ctx, const kb_config& c) {
  trained t;
  t.ds = build(c, ctx.seed);
  tasks::validate(t.ds);
  t.model = models::make_model(lab::run_model_config(ctx.config.at("model"), t.ds), ctx.seed);
  const auto oc = lab::shared_train_keys(ctx.config.at("train"));
  const std::int64_t steps = train_steps_of(ctx.config.at("train"));
  if (c.mode == "mixed") {
    t.loss = fit(*t.model, t.ds.train, t.ds.pad_id, oc, steps, oc.lr, ctx.seed, 0);
    t.steps = steps;
  } else {
    const float bio_loss = fit(*t.model, with_slice(t.ds.train, "bio"), t.ds.pad_id, oc, steps, oc.lr, ctx.seed, 0);
    // Storage before fine-tuning, to tell "never stored" from "forgotten while fine-tuning".
    t.model->eval();
    const auto storage = with_slice(t.ds.test, "storage/");
    const auto s = score_answers(*t.model, storage, t.ds.pad_id);
    double ok = 0;
    for (const auto& x : s) ok += x.correct;
    log_run_metric(ctx, steps, "pretrain_loss", bio_loss);
    log_run_metric(ctx, steps, "pretrain_storage", ok / static_cast<double>(std::max<std::size_t>(1, s.size())));
    probe_attributes(ctx, *t.model, t.ds, c, "pretrained/");  // P-probing is on the pretrained model (§5)
    const double lr = c.finetune_lr > 0 ? c.finetune_lr : oc.lr;
    t.loss = fit(*t.model, with_slice(t.ds.train, "qa/"), t.ds.pad_id, oc, c.finetune_steps, lr, ctx.seed, 1,
                 finetune_extras(ctx, *t.model, t.ds, c, steps));
    t.steps = steps + c.finetune_steps;
  }
  t.model->eval();
  return t;
}

void log_common(const lab::run_context& ctx, const models::lm& model, std::int64_t steps, float loss) {
  log_run_metric(ctx, 0, "n_params", static_cast<double>(model.num_parameters()));
  log_run_metric(ctx, 0, "steps", static_cast<double>(steps));
  log_run_metric(ctx, steps, "final_train_loss", loss);
}

lab::run_result finish(const lab::run_context& ctx, const trained& t, double acc, clock_type::time_point start) {
  lab::run_result r;
  r.final_train_loss = t.loss;
  r.test_accuracy = acc;
  r.steps = t.steps;
  r.n_params = t.model->num_parameters();
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  log_common(ctx, *t.model, t.steps, t.loss);
  log_run_metric(ctx, t.steps, "seconds", r.seconds);
  return r;
}

// Abstention per slice (the share of answers that are "unknown") and the calibration of the QA
// answers' confidence (the probability of the argmax answer): ECE with 10 bins and the Brier
// score of "the answer is right", with the probe harness's estimators (analysis/calibration.hpp).
void log_abstention_and_calibration(const lab::run_context& ctx, const tasks::dataset& ds,
                                    const std::vector<answer_score>& scores) {
  const std::int32_t unknown = ds.vocab.id("unknown");
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> abstain;  // slice -> (n, abstained)
  std::vector<double> conf;
  std::vector<bool> right;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    auto& a = abstain[ds.test[i].slice];
    ++a.first;
    a.second += scores[i].argmax.size() == 1 && scores[i].argmax[0] == unknown;
    if (ds.test[i].slice.rfind("storage/", 0) == 0) continue;  // completions, not answers to questions
    conf.push_back(scores[i].confidence);
    right.push_back(scores[i].correct);
  }
  // The taxonomy of every question's answer (the classifier the probe harness uses, evidence as
  // kb_context decides it with no passage): on never-seen people a value is extrinsic (a real
  // value nothing supports), a non-value fabricated; "unknown" is correct there, abstention elsewhere.
  std::map<std::string, std::map<analysis::answer_label, std::int64_t>> labels;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const std::string& slice = ds.test[i].slice;
    const auto slash = slice.find('/');
    if (slice.rfind("storage/", 0) == 0 || slash == std::string::npos || scores[i].argmax.empty()) continue;
    const auto& attrs = attributes();
    const auto a = std::find_if(attrs.begin(), attrs.end(), [&](const attribute& x) { return x.name == slice.substr(slash + 1); });
    const auto gold = std::find_if(ds.test[i].target.begin(), ds.test[i].target.end(), [](std::int32_t v) { return v != tasks::ignore_index; });
    if (a == attrs.end() || gold == ds.test[i].target.end()) continue;
    const retrieval_item it{static_cast<std::size_t>(a - attrs.begin()), *gold, -1, -1};
    ++labels[slice][analysis::classify_answer(evidence_of(it, scores[i].argmax[0], ds.vocab))];
  }
  for (const auto& [slice, per] : labels) {
    std::int64_t n = 0;
    for (const auto& [l, k] : per) n += k;
    for (const auto l : analysis::all_answer_labels)
      log_eval(ctx, slice, std::string(analysis::to_string(l)), static_cast<double>(per.count(l) ? per.at(l) : 0) / static_cast<double>(n), n);
  }
  std::int64_t pooled[2][2] = {};  // [unseen, extract][n, abstained]
  for (const auto& [slice, a] : abstain) {
    log_eval(ctx, slice, "abstain", static_cast<double>(a.second) / static_cast<double>(a.first), a.first);
    for (int k = 0; k < 2; ++k)
      if (slice.rfind(k == 0 ? "unseen/" : "extract/", 0) == 0) pooled[k][0] += a.first, pooled[k][1] += a.second;
  }
  // The paired gap of one model: abstention on never-seen people minus on people it read about
  // (every attribute pooled; the slices have equal counts, so it is the difference of the
  // unseen/* and extract/* means). Seeds that abstain more overall do so on both, so the gap's
  // spread over seeds is smaller than either side's.
  if (pooled[0][0] > 0 && pooled[1][0] > 0)
    log_eval(ctx, "paired/unseen-extract", "abstain",
             static_cast<double>(pooled[0][1]) / static_cast<double>(pooled[0][0]) -
                 static_cast<double>(pooled[1][1]) / static_cast<double>(pooled[1][0]),
             pooled[0][0] + pooled[1][0]);
  if (conf.empty()) return;
  const auto e = analysis::expected_calibration_error(conf, right, 10);
  const auto n = static_cast<std::int64_t>(conf.size());
  log_eval(ctx, "qa", "ece", e.ece, n);
  log_eval(ctx, "qa", "brier", analysis::brier_score(conf, right), n);
  double mean_conf = 0, acc = 0;
  for (std::size_t i = 0; i < conf.size(); ++i) mean_conf += conf[i], acc += right[i];
  log_eval(ctx, "qa", "mean_confidence", mean_conf / static_cast<double>(n), n);
  log_eval(ctx, "qa", "accuracy", acc / static_cast<double>(n), n);
}

// The reliability diagram as slices: each question (not the storage completions) goes to the
// bin of its confidence, slice "confidence=<middle>", difficulty = the middle; the bins'
// accuracies are what Guo et al. 2017 (Fig. 1) plot against confidence. The bins are
// analysis::expected_calibration_error's (equal width, the last one closed), so the slices
// and the ECE logged beside them agree: each bin also logs mean_confidence, so
// sum_b n_b |accuracy_b - mean_confidence_b| / N is ece@qa when bins = 10 (tested). Also
// exact_match@qa_seen: the in-distribution accuracy.
double log_reliability(const lab::run_context& ctx, const tasks::dataset& ds, const std::vector<answer_score>& scores,
                       std::int64_t bins) {
  std::vector<tasks::example> qs;
  std::vector<answer_score> ss;
  std::map<std::string, std::pair<double, std::int64_t>> conf_of;  // bin slice -> (sum of confidences, n)
  double seen = 0, n_seen = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const std::string& slice = ds.test[i].slice;
    if (slice.rfind("storage/", 0) == 0) continue;
    if (slice.rfind("qa_seen/", 0) == 0) seen += scores[i].correct, ++n_seen;
    const double conf = scores[i].confidence;
    const std::vector<bool> one = {scores[i].correct};
    const auto e = analysis::expected_calibration_error(std::span<const double>(&conf, 1), one, static_cast<std::size_t>(bins));
    const auto b = std::find_if(e.bins.begin(), e.bins.end(), [](const analysis::calibration_bin& x) { return x.count > 0; });
    const double mid = 0.5 * (b->lo + b->hi);
    tasks::example ex = ds.test[i];
    ex.slice = fmt::format("confidence={:.3f}", mid);
    ex.difficulty = mid;
    auto& c = conf_of[ex.slice];
    c.first += conf, ++c.second;
    qs.push_back(std::move(ex));
    ss.push_back(scores[i]);
  }
  if (n_seen > 0) log_eval(ctx, "qa_seen", "exact_match", seen / n_seen, static_cast<std::int64_t>(n_seen));
  for (const auto& [slice, c] : conf_of)
    log_eval(ctx, slice, "mean_confidence", c.first / static_cast<double>(c.second), c.second);
  return log_accuracy(ctx, qs, ss);
}

lab::run_result run_biographies(const lab::run_context& ctx) {
  const auto start = clock_type::now();
  const kb_config c = kb_params().read(ctx.config.at("task"), {"name"});
  trained t = make_and_train(ctx, c);
  const auto scores = score_answers(*t.model, t.ds.test, t.ds.pad_id);
  const double acc = c.reliability_bins > 0 ? log_reliability(ctx, t.ds, scores, c.reliability_bins)
                                            : log_accuracy(ctx, t.ds.test, scores);
  log_abstention_and_calibration(ctx, t.ds, scores);
  probe_attributes(ctx, *t.model, t.ds, c);
  return finish(ctx, t, acc, start);
}

// ---- reversal ----------------------------------------------------------------------------

// Mean log-probability gap (correct − mean of random names) and the share of random names
// the correct one beats (ties count half), over the forward-only pairs in one direction.
void log_name_ranking(const lab::run_context& ctx, models::lm& model, const tasks::dataset& ds,
                      const reversal_config& c, bool reverse) {
  const auto pairs = make_pairs(c, ctx.seed);
  rng r(ctx.seed, reverse ? 0x7265ull : 0x6677ull);
  double gap = 0, rank = 0, correct_lp = 0;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (pairs[i].both) continue;
    const words prompt = reverse ? reverse_prompt(pairs[i], 0) : forward_prompt(pairs[i], 0);
    auto answer_of = [&](const relation_pair& p) { return reverse ? p.a : p.b; };
    std::vector<tasks::example> ex = {answer_example(ds.vocab, prompt, answer_of(pairs[i]), "", 0)};
    std::vector<std::size_t> others;  // num_random distinct other pairs
    while (static_cast<std::int64_t>(others.size()) < c.num_random) {
      const auto j = static_cast<std::size_t>(r.below(pairs.size()));
      if (j != i && std::find(others.begin(), others.end(), j) == others.end()) others.push_back(j);
    }
    for (auto j : others) ex.push_back(answer_example(ds.vocab, prompt, answer_of(pairs[j]), "", 0));
    const auto s = score_answers(model, ex, ds.pad_id);
    double mean_random = 0, beats = 0;
    for (std::size_t k = 1; k < s.size(); ++k) {
      mean_random += s[k].logprob;
      beats += s[0].logprob > s[k].logprob ? 1.0 : s[0].logprob == s[k].logprob ? 0.5 : 0.0;
    }
    mean_random /= static_cast<double>(s.size() - 1);
    gap += s[0].logprob - mean_random;
    rank += beats / static_cast<double>(s.size() - 1);
    correct_lp += s[0].logprob;
    ++n;
  }
  const std::string slice = reverse ? "reverse" : "forward";
  const double dn = static_cast<double>(std::max<std::int64_t>(n, 1));
  log_eval(ctx, slice, "logprob_gap", gap / dn, n);
  log_eval(ctx, slice, "logprob_correct", correct_lp / dn, n);
  log_eval(ctx, slice, "rank", rank / dn, n);
}

lab::run_result run_reversal(const lab::run_context& ctx) {
  const auto start = clock_type::now();
  const reversal_config c = reversal_params().read(ctx.config.at("task"), {"name"});
  trained t;
  t.ds = build(c, ctx.seed);
  tasks::validate(t.ds);
  train_one_phase(ctx, t.ds, t);
  const auto scores = score_answers(*t.model, t.ds.test, t.ds.pad_id);
  const double acc = log_accuracy(ctx, t.ds.test, scores);
  log_name_ranking(ctx, *t.model, t.ds, c, false);
  log_name_ranking(ctx, *t.model, t.ds, c, true);
  return finish(ctx, t, acc, start);
}

// ---- knowledge editing -------------------------------------------------------------------

struct edit_probe {
  tasks::example target;                    // the question, new value supervised
  std::vector<tasks::example> paraphrases;  // "<name> <template words>" -> new value
  std::vector<tasks::example> neighbours;   // other people, same attribute, their current answer
  std::int64_t subject_pos = 0;             // the last name in target.input
};

struct edit_tally {
  double efficacy = 0, paraphrase = 0, specificity = 0;
  std::int64_t n = 0;
  void add(models::lm& model, const edit_probe& e, std::int32_t pad) {
    efficacy += score_answers(model, {e.target}, pad)[0].correct;
    double ok = 0;
    for (const auto& s : score_answers(model, e.paraphrases, pad)) ok += s.correct;
    paraphrase += ok / static_cast<double>(e.paraphrases.size());
    ok = 0;
    for (const auto& s : score_answers(model, e.neighbours, pad)) ok += s.correct;
    specificity += ok / static_cast<double>(e.neighbours.size());
    ++n;
  }
  void log(const lab::run_context& ctx, const std::string& slice) const {
    const double dn = static_cast<double>(std::max<std::int64_t>(n, 1));
    log_eval(ctx, slice, "efficacy", efficacy / dn, n);
    log_eval(ctx, slice, "paraphrase", paraphrase / dn, n);
    log_eval(ctx, slice, "specificity", specificity / dn, n);
  }
};

// Edit e: a QA person, attribute e mod 5, a new value != the true one; neighbours answer with
// whatever the unedited model answers (specificity = that answer survives the edit).
edit_probe make_edit(models::lm& model, const tasks::dataset& ds, const std::vector<person>& qa_people, std::size_t e,
                     const edit_config& c, rng& r) {
  const person& p = qa_people[static_cast<std::size_t>(r.below(qa_people.size()))];
  const std::size_t a = e % attributes().size();
  const auto& values = attributes()[a].values;
  const std::size_t nv = (static_cast<std::size_t>(p.value[a]) + 1 + static_cast<std::size_t>(r.below(values.size() - 1))) % values.size();
  edit_probe out;
  out.target = answer_example(ds.vocab, question_tokens(p, a), {values[nv]}, "edit", 0);
  out.subject_pos = std::find(out.target.input.begin(), out.target.input.end(), ds.vocab.id(p.last)) - out.target.input.begin();
  for (std::size_t t = 0; t < attributes()[a].templates.size(); ++t)
    out.paraphrases.push_back(answer_example(ds.vocab, sentence_prefix(p, a, t), {values[nv]}, "paraphrase", 0));
  std::vector<const person*> others;
  while (static_cast<std::int64_t>(others.size()) < c.num_neighbours) {
    const person* q = &qa_people[static_cast<std::size_t>(r.below(qa_people.size()))];
    if (q != &p && std::find(others.begin(), others.end(), q) == others.end()) others.push_back(q);
  }
  for (const person* q : others) {
    auto ex = answer_example(ds.vocab, question_tokens(*q, a), {values[0]}, "neighbour", 0);
    const auto s = score_answers(model, {ex}, ds.pad_id)[0];
    ex.target[ex.target.size() - 2] = s.argmax[0];  // the unedited model's answer
    out.neighbours.push_back(std::move(ex));
  }
  return out;
}

// The comparison: fine-tune only W (blocks.L.mlp.w_out) on the one fact with Adam.
void finetune_fact(models::lm& model, std::int64_t layer, const tasks::example& fact, const edit_config& c) {
  const std::string name = fmt::format("blocks.{}.mlp.w_out", layer);
  train::adamw opt({{name, model.parameter(name)}}, {0.9, 0.999, 1e-8, 0.0});
  const auto T = static_cast<std::int64_t>(fact.input.size());
  const tensor in = tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(fact.input));
  const tensor tg = tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(fact.target));
  for (std::int64_t s = 0; s < c.finetune_edit_steps; ++s) {
    backward(model.loss(in, tg));
    opt.step(c.finetune_edit_lr);
    model.zero_grad();
  }
}

// Does the answer read the fact from this MLP at the subject? p(the unedited answer) without and
// with block `layer`'s MLP output at the subject replaced by another QA person's (resample ablation).
std::pair<double, double> resample_subject_mlp(models::lm& model, const tasks::dataset& ds, const std::vector<person>& qa_people,
                                               const edit_probe& ep, std::int64_t e, std::int64_t layer) {
  tasks::example truth = ep.target;
  const auto sq = score_answers(model, {truth}, ds.pad_id)[0];
  truth.target[truth.target.size() - 2] = sq.argmax[0];  // the unedited model's answer
  std::size_t o = static_cast<std::size_t>(e + 1) % qa_people.size();  // another QA person
  while (ds.vocab.id(qa_people[o].last) == ep.target.input[static_cast<std::size_t>(ep.subject_pos)] &&
         ds.vocab.id(qa_people[o].first) == ep.target.input[static_cast<std::size_t>(ep.subject_pos) - 1])
    o = (o + 1) % qa_people.size();
  const person& other = qa_people[o];
  const auto other_q = answer_example(ds.vocab, question_tokens(other, static_cast<std::size_t>(e) % attributes().size()),
                                      {"unknown"}, "", 0);
  const auto other_pos = std::find(other_q.input.begin(), other_q.input.end(), ds.vocab.id(other.last)) - other_q.input.begin();
  const mlp_io own = mlp_at(model, layer, ep.target.input, ep.subject_pos), swapped = mlp_at(model, layer, other_q.input, other_pos);
  std::vector<double> d(own.out.size());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = swapped.out[i] - own.out[i];
  return {answer_prob_with_delta(model, layer, truth, ep.subject_pos, std::vector<double>(d.size(), 0.0)),
          answer_prob_with_delta(model, layer, truth, ep.subject_pos, d)};
}

// With trace_questions > 0: the subject-MLP trace over blocks (trace.hpp) on the QA people,
// logged as answer_prob on slices trace/block=L (difficulty L) and trace/clean; with
// layer_select = "traced" the edited block is the one the trace finds most used.
std::int64_t trace_and_pick_layer(const lab::run_context& ctx, models::lm& model, const tasks::dataset& ds,
                                  const std::vector<person>& qa_people, const edit_config& c, std::int64_t layer) {
  if (c.trace_questions <= 0) return layer;
  const subject_trace tr = trace_subject_mlps(model, ds.vocab, qa_people, c.trace_questions);
  log_eval(ctx, "trace/clean", "answer_prob", tr.clean, tr.questions);
  for (std::size_t L = 0; L < tr.ablated.size(); ++L) {
    log_eval(ctx, fmt::format("trace/block={}", L), "answer_prob", tr.ablated[L], tr.questions);
    log_eval(ctx, fmt::format("trace/block={}", L), "difficulty", static_cast<double>(L), tr.questions);
  }
  const std::int64_t chosen = c.layer_select == "traced" ? tr.most_used() : layer;
  log_eval(ctx, "rome", "layer", static_cast<double>(chosen), tr.questions);
  return chosen;
}

lab::run_result run_edit(const lab::run_context& ctx) {
  const auto start = clock_type::now();
  const edit_config c = edit_params().read(ctx.config.at("task"), {"name"});
  trained t = make_and_train(ctx, c);
  models::lm& model = *t.model;
  const double acc = log_accuracy(ctx, t.ds.test, score_answers(model, t.ds.test, t.ds.pad_id));
  const auto n_layers = static_cast<std::int64_t>(model.blocks.size());
  const std::int64_t configured = c.layer < 0 ? n_layers + c.layer : c.layer;
  // The answer is read at the last prompt token; an edit of the subject's position in the last
  // block reaches no later position, so it could not change the answer.
  LMLAB_CHECK_HINT(configured >= 0 && configured < n_layers - 1, "choose task.layer in [0, model.n_layers - 2]",
                   "knowledge_edit: task.layer {} is not a block before the last of {}", c.layer, n_layers);
  std::vector<person> qa_people;
  for (const auto& p : make_people(c.num_people, c.qa_fraction, ctx.seed))
    if (p.qa_in_train) qa_people.push_back(p);
  const std::int64_t layer = trace_and_pick_layer(ctx, model, t.ds, qa_people, c, configured);
  const auto C = key_second_moment(model, layer, t.ds.train, t.ds.pad_id);
  rng r(ctx.seed, 0x65646974ull);  // "edit"
  edit_tally none, rome, ft;
  double value_prob = 0;  // p(new value) with v* in place: what the rank-one edit is asked to reach
  double key_gain = 0;    // the share of v* - (W k + b) the question's own key receives (1: all of it)
  double answer_prob_clean = 0, answer_prob_ablated = 0;  // p(current answer) without / with the subject's MLP output resampled
  const std::string w_name = fmt::format("blocks.{}.mlp.w_out", layer);
  for (std::int64_t e = 0; e < c.num_edits; ++e) {
    const edit_probe ep = make_edit(model, t.ds, qa_people, static_cast<std::size_t>(e), c, r);
    none.add(model, ep, t.ds.pad_id);
    const auto [clean, ablated] = resample_subject_mlp(model, t.ds, qa_people, ep, e, layer);
    answer_prob_clean += clean;
    answer_prob_ablated += ablated;
    // k*: the subject's key averaged over its contexts, as ROME averages over prefixes (eq. 3):
    // the question, and the bare name that opens every biography sentence naming the person.
    mlp_io io = mlp_at(model, layer, ep.target.input, ep.subject_pos);
    const std::vector<std::int32_t> bare(ep.target.input.begin() + ep.subject_pos - 1,
                                         ep.target.input.begin() + ep.subject_pos + 1);
    std::vector<std::int32_t> name = {t.ds.vocab.id("<bos>")};
    name.insert(name.end(), bare.begin(), bare.end());
    const mlp_io io_name = mlp_at(model, layer, name, 2);
    const std::vector<double> question_key = io.key;
    for (std::size_t i = 0; i < io.key.size(); ++i) io.key[i] = 0.5 * (io.key[i] + io_name.key[i]);
    key_gain += edit_gain(C, c.ridge, io.key, question_key);
    const value_fit vf = optimize_value(model, layer, ep.target, ep.subject_pos,
                                        {static_cast<int>(c.value_steps), c.value_lr, c.value_l2, 0.95});
    value_prob += vf.prob_after;
    // v* = (W k_q + b) + δ from the question; the edit maps the averaged k* to it, and
    // W k* + b is the mean of the two contexts' outputs (the map is affine).
    std::vector<double> residual(vf.delta.size());
    for (std::size_t i = 0; i < residual.size(); ++i) residual[i] = vf.delta[i] + 0.5 * (io.out[i] - io_name.out[i]);
    const auto saved = apply_rank_one(model, layer, C, c.ridge, io.key, residual);
    rome.add(model, ep, t.ds.pad_id);
    restore_weight(model, layer, saved);
    finetune_fact(model, layer, ep.target, c);
    ft.add(model, ep, t.ds.pad_id);
    restore_weight(model, layer, saved);
  }
  none.log(ctx, "none");
  rome.log(ctx, "rome");
  ft.log(ctx, "finetune");
  // Paired by edit (the same model, facts and probes): rank-one minus fine-tuning, so the seeds'
  // shared spread (how far v* reaches in that model) cancels.
  const double dn = static_cast<double>(std::max<std::int64_t>(c.num_edits, 1));
  log_eval(ctx, "paired/rome-finetune", "paraphrase", (rome.paraphrase - ft.paraphrase) / dn, c.num_edits);
  log_eval(ctx, "paired/rome-finetune", "specificity", (rome.specificity - ft.specificity) / dn, c.num_edits);
  log_eval(ctx, "paired/rome-finetune", "efficacy", (rome.efficacy - ft.efficacy) / dn, c.num_edits);
  log_eval(ctx, "rome", "value_prob", value_prob / static_cast<double>(c.num_edits), c.num_edits);
  log_eval(ctx, "rome", "key_gain", key_gain / static_cast<double>(c.num_edits), c.num_edits);
  log_eval(ctx, "none", "answer_prob", answer_prob_clean / static_cast<double>(c.num_edits), c.num_edits);
  log_eval(ctx, "none", "answer_prob_subject_mlp_resampled", answer_prob_ablated / static_cast<double>(c.num_edits), c.num_edits);
  return finish(ctx, t, acc, start);
}

// ---- retrieval vs parametric vs conflicting context ---------------------------------------

// Per slice: accuracy, the taxonomy's label rates (analysis/hallucination.hpp, the classifier
// the probe harness uses; metric = the label's name) and, where a passage states a value,
// follow_context / follow_memory (the answer is the passage's value / the trained value).
void log_taxonomy(const lab::run_context& ctx, const retrieval_data& rd, const std::vector<answer_score>& scores) {
  struct tally {
    std::int64_t n = 0, context = 0, memory = 0, with_both = 0;
    std::map<analysis::answer_label, std::int64_t> labels;
  };
  std::map<std::string, tally> per;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const auto& it = rd.items[i];
    const std::int32_t answer = scores[i].argmax.at(0);
    for (const std::string& slice : {rd.ds.test[i].slice, std::string("all")}) {
      tally& t = per[slice];
      ++t.n;
      ++t.labels[analysis::classify_answer(evidence_of(it, answer, rd.ds.vocab))];
      if (it.context_value >= 0 && it.memory_value >= 0) {
        ++t.with_both;
        t.context += answer == it.context_value;
        t.memory += answer == it.memory_value;
      }
    }
  }
  for (const auto& [slice, t] : per) {
    const double n = static_cast<double>(t.n);
    for (const auto l : analysis::all_answer_labels)
      log_eval(ctx, slice, std::string(analysis::to_string(l)), static_cast<double>(t.labels.count(l) ? t.labels.at(l) : 0) / n, t.n);
    if (t.with_both > 0 && slice != "all") {
      log_eval(ctx, slice, "follow_context", static_cast<double>(t.context) / static_cast<double>(t.with_both), t.with_both);
      log_eval(ctx, slice, "follow_memory", static_cast<double>(t.memory) / static_cast<double>(t.with_both), t.with_both);
    }
  }
}

// How strongly the trained value pulls against a passage that states another one: per slice,
// the mean log-probability (memory_logprob) and probability (memory_prob) of the trained value
// at the answer position of each question whose passage contradicts it. The answers follow the
// passage on most conflicts (follow_memory near 0), so this continuous measure of the same pull
// is what can still rise with the fact's training frequency.
void log_memory_pull(const lab::run_context& ctx, const retrieval_data& rd, models::causal_lm& model) {
  std::vector<tasks::example> asked;
  for (std::size_t i = 0; i < rd.items.size(); ++i) {
    const auto& it = rd.items[i];
    if (it.context_value < 0 || it.memory_value < 0 || it.context_value == it.memory_value) continue;
    tasks::example e = rd.ds.test[i];
    const auto first = std::find_if(e.target.begin(), e.target.end(), [](std::int32_t v) { return v != tasks::ignore_index; });
    if (first == e.target.end()) continue;
    *first = it.memory_value;  // causal: log p at this position depends on the inputs up to it only
    std::fill(first + 1, e.target.end(), tasks::ignore_index);
    asked.push_back(std::move(e));
  }
  if (asked.empty()) return;
  const auto scores = score_answers(model, asked, rd.ds.pad_id);
  std::map<std::string, std::pair<double, double>> sums;  // slice -> (sum log p, sum p)
  std::map<std::string, std::int64_t> counts;
  for (std::size_t i = 0; i < asked.size(); ++i) {
    auto& s = sums[asked[i].slice];
    s.first += scores[i].logprob;
    s.second += std::exp(scores[i].logprob);
    ++counts[asked[i].slice];
  }
  for (const auto& [slice, s] : sums) {
    const auto n = counts.at(slice);
    log_eval(ctx, slice, "memory_logprob", s.first / static_cast<double>(n), n);
    log_eval(ctx, slice, "memory_prob", s.second / static_cast<double>(n), n);
  }
}

lab::run_result run_retrieval(const lab::run_context& ctx) {
  const auto start = clock_type::now();
  const retrieval_config c = retrieval_params().read(ctx.config.at("task"), {"name"});
  retrieval_data rd = build_retrieval(c, ctx.seed);
  tasks::validate(rd.ds);
  trained t;
  train_one_phase(ctx, rd.ds, t);
  const auto scores = score_answers(*t.model, rd.ds.test, rd.ds.pad_id);
  const double acc = log_accuracy(ctx, rd.ds.test, scores);
  log_taxonomy(ctx, rd, scores);
  log_memory_pull(ctx, rd, *t.model);
  return finish(ctx, t, acc, start);
}

}  // namespace

void register_knowledge() {
  tasks::register_once([] {
    tasks::register_task(task_of("biographies", "synthetic biographies and QA: storage vs extraction (Allen-Zhu & Li 2023)",
                                 kb_params(), true));
    tasks::register_task(task_of("reversal", "A-B relations trained one way, tested both ways (Berglund et al. 2023)",
                                 reversal_params(), true));
    tasks::register_task(task_of("kv_position", "key-value retrieval, the relevant pair at every position (Liu et al. 2023)",
                                 kv_position_params(), true));
    tasks::register_task(task_of("knowledge_edit", "rank-one MLP edits of trained facts vs fine-tuning (Meng et al. 2022)",
                                 edit_params(), false));
    lab::register_runner("biographies", run_biographies);
    lab::register_runner("reversal", run_reversal);
    lab::register_runner("knowledge_edit", run_edit);
    tasks::register_task(task_of("kb_context", "facts from weights, from a passage, and against a conflicting passage (Longpre et al. 2021)",
                                 retrieval_params(), true));
    lab::register_runner("kb_context", run_retrieval);
  });
}

}  // namespace lmlab::knowledge
