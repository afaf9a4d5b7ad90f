// The data lab's tasks and runners: see runners.hpp.
#include "datalab/runners.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "datalab/collapse.hpp"
#include "datalab/corpus_task.hpp"
#include "datalab/lm_collapse.hpp"
#include "datalab/ngram_collapse.hpp"
#include "datalab/synth_runner.hpp"
#include "datalab/ttc_runner.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "models/lm_config.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"

namespace lmlab::datalab {

namespace {

using metric_list = std::vector<std::pair<std::string, double>>;

// The schedule keys every collapse task shares.
struct schedule_params {
  std::int64_t generations = 10;
  double temperature = 1.0;
  std::string workflow = "replace";
  double real_fraction = 0;
};

template <class C>
void add_schedule_keys(tasks::param_table<C>& p) {
  p.add("generations", &C::generations, "generations of refitting (1 = the fit to real data)", 1, 10000)
      .add("temperature", &C::temperature, "sampling temperature of the synthetic data", 1e-3, 100)
      .add("workflow", &C::workflow, "replace | accumulate | accumulate_subset", -INFINITY, INFINITY,
           {"replace", "accumulate", "accumulate_subset"})
      .add("real_fraction", &C::real_fraction, "replace: share of each generation's data drawn from the real sample", 0, 1);
}

template <class C>
collapse_schedule schedule_of(const C& c, std::int64_t samples, std::int64_t chains) {
  collapse_schedule s;
  s.samples = static_cast<int>(samples);
  s.chains = static_cast<int>(chains);
  s.generations = static_cast<int>(c.generations);
  s.temperature = c.temperature;
  s.flow = parse_workflow(c.workflow);
  s.real_fraction = c.real_fraction;
  return s;
}

struct gaussian_params : schedule_params {
  std::int64_t dim = 1, samples = 100, chains = 1000;
};
struct mixture_params : schedule_params {
  std::int64_t samples = 200, chains = 200, em_iters = 30;
};
struct ngram_params : schedule_params {
  std::string corpus = "brown";
  std::int64_t order = 2, min_count = 2, real_tokens = 20000, heldout_tokens = 10000, chunk = 32;
  double lambda = 0.9, tail_q = 0.1;
};

struct lm_params : schedule_params {
  std::string corpus = "brown";
  std::int64_t min_count = 3, real_tokens = 8192, heldout_tokens = 4096, chunk = 32;
  double tail_q = 0.1;
};

// The real-corpus keys collapse_ngram and collapse_lm share (their defaults differ, so each
// config declares the members): the words kept, the real and held-out samples.
template <class C>
void add_corpus_sample_keys(tasks::param_table<C>& p) {
  p.add("min_count", &C::min_count, "real words rarer than this become <unk>", 1, 1000)
      .add("real_tokens", &C::real_tokens, "real training tokens (whole chunks)", 64, 1e8)
      .add("heldout_tokens", &C::heldout_tokens, "held-out real tokens", 64, 1e8);
}

// The corpus, its sample and the schedule of an ngram_params or lm_params.
template <class C>
ngram_collapse_config corpus_collapse_config(const C& p) {
  ngram_collapse_config c;
  c.corpus = p.corpus;
  c.min_count = static_cast<int>(p.min_count);
  c.real_tokens = p.real_tokens;
  c.heldout_tokens = p.heldout_tokens;
  c.chunk = static_cast<int>(p.chunk);
  c.tail_q = p.tail_q;
  c.s = schedule_of(p, 0, 1);
  return c;
}

const tasks::param_table<gaussian_params>& gaussian_table() {
  static const auto t = tasks::param_table<gaussian_params>("collapse_gaussian")
        .add("dim", &gaussian_params::dim, "dimension d of the Gaussian", 1, 64)
        .add("samples", &gaussian_params::samples, "M: points per generation", 2, 1e7)
        .add("chains", &gaussian_params::chains, "independent chains (the expectation over resampling)", 1, 1e7)
        .add_keys(add_schedule_keys<gaussian_params>);
  return t;
}

const tasks::param_table<mixture_params>& mixture_table() {
  static const auto t = tasks::param_table<mixture_params>("collapse_mixture")
        .add("samples", &mixture_params::samples, "M: points per generation", 3, 1e7)
        .add("chains", &mixture_params::chains, "independent chains", 1, 1e7)
        .add("em_iters", &mixture_params::em_iters, "EM iterations per fit", 1, 10000)
        .add_keys(add_schedule_keys<mixture_params>);
  return t;
}

const tasks::param_table<ngram_params>& ngram_table() {
  static const auto t = tasks::param_table<ngram_params>("collapse_ngram")
        .add("corpus", &ngram_params::corpus, "corpus (`lmlab data list`; fetched beforehand)")
        .add("order", &ngram_params::order, "n-gram order", 1, 3)
        .add("lambda", &ngram_params::lambda, "Jelinek-Mercer weight of each order's counts", 0.01, 0.999)
        .add_keys(add_corpus_sample_keys<ngram_params>)
        .add("chunk", &ngram_params::chunk, "tokens per chunk (sample length)", 2, 4096)
        .add("tail_q", &ngram_params::tail_q, "tail: rarest real words holding at most this share of tokens", 0, 1)
        .add_keys(add_schedule_keys<ngram_params>);
  return t;
}

const tasks::param_table<lm_params>& lm_table() {
  static const auto t = tasks::param_table<lm_params>("collapse_lm")
        .add("corpus", &lm_params::corpus, "corpus (`lmlab data list`; fetched beforehand)")
        .add_keys(add_corpus_sample_keys<lm_params>)
        .add("chunk", &lm_params::chunk, "words per chunk (sample length; the model's n_ctx)", 2, 4096)
        .add("tail_q", &lm_params::tail_q, "tail: rarest real words holding at most this share of tokens", 0, 1)
        .add_keys(add_schedule_keys<lm_params>);
  return t;
}

// Writes one generation: run metrics at step = generation (every generation), and test
// evaluations at slice "gen=N" for generation 1, every tenth of the run and the last, which
// is also slice "all"; slice "half" is generation ⌈G/2⌉, so a rule can compare the second half
// of a run with the first whatever its size. NaN values (a law that does not apply) are left out.
void log_generation(const lab::run_context& ctx, int gen, int generations, const metric_list& values, std::int64_t n) {
  metric_list finite;
  for (const auto& v : values)
    if (!std::isnan(v.second)) finite.push_back(v);
  const bool last = gen == generations;
  const int every = std::max(1, generations / 10);
  if (ctx.db) {
    ctx.db->log_metrics(ctx.store_run, gen, finite);
    for (const auto& [name, v] : finite) {
      if (gen == 1 || gen % every == 0 || last)
        ctx.db->log_evaluation(ctx.store_run, "test", "gen=" + std::to_string(gen), name, v, n);
      if (last) ctx.db->log_evaluation(ctx.store_run, "test", "all", name, v, n);
      if (gen == (generations + 1) / 2) ctx.db->log_evaluation(ctx.store_run, "test", "half", name, v, n);
    }
  }
  if (ctx.progress && (last || gen == 1)) {
    std::string line = fmt::format("collapse: generation {}", gen);
    for (const auto& [name, v] : finite) line += fmt::format(" {}={:.4g}", name, v);
    std::fprintf(ctx.progress, "%s\n", line.c_str());
  }
}

// One generation's values; a mixture has no closed-form laws, a single Gaussian no weights.
metric_list generation_metrics(const generation_stats& s, bool mixture) {
  metric_list m = {{"var_ratio", s.var_ratio_mean}, {"var_ratio_se", s.var_ratio_se}, {"var_ratio_median", s.var_ratio_median}};
  if (!mixture) m.insert(m.end(), {{"var_law", s.var_law}, {"log_var", s.log_var_mean}, {"log_var_law", s.log_var_law}});
  m.insert(m.end(), {{"mean_shift", s.mean_shift}, {"tail_mass", s.tail_mass}});
  if (mixture) m.emplace_back("min_weight", s.min_weight);
  return m;
}

lab::run_result finish(int generations, double seconds) {
  lab::run_result r;
  r.steps = generations;
  r.test_accuracy = NAN;  // a collapse loop has no accuracy; its metrics are in the store
  r.final_train_loss = NAN;
  r.seconds = seconds;
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

lab::run_result run_gaussian(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = gaussian_table().read(ctx.config.at("task"), {"name"});
  gaussian_config c;
  c.dim = static_cast<int>(p.dim);
  c.s = schedule_of(p, p.samples, p.chains);
  const auto gens = run_gaussian_collapse(c, ctx.seed);
  for (const auto& s : gens) {
    log_generation(ctx, s.generation, c.s.generations, generation_metrics(s, false), p.chains);
  }
  return finish(c.s.generations, seconds_since(t0));
}

lab::run_result run_mixture(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = mixture_table().read(ctx.config.at("task"), {"name"});
  mixture_config c;
  c.em_iters = static_cast<int>(p.em_iters);
  c.s = schedule_of(p, p.samples, p.chains);
  for (const auto& s : run_mixture_collapse(c, ctx.seed)) {
    log_generation(ctx, s.generation, c.s.generations, generation_metrics(s, true), p.chains);
  }
  return finish(c.s.generations, seconds_since(t0));
}

// The per-generation values of an LM on a corpus (n-gram or neural), relative to generation 1.
metric_list lm_generation_metrics(const ngram_generation& g, const ngram_generation& g1, double real_tail_mass) {
  return {{"heldout_ppl", g.heldout_ppl},
          {"ppl_ratio", g.heldout_ppl / g1.heldout_ppl},
          {"nll_tail", g.heldout_nll_tail},
          {"nll_head", g.heldout_nll_head},
          {"nll_tail_rise", g.heldout_nll_tail - g1.heldout_nll_tail},
          {"nll_head_rise", g.heldout_nll_head - g1.heldout_nll_head},
          {"train_tokens", g.train_tokens},
          {"coverage_1", g.coverage_1},
          {"coverage_2", g.coverage_2},
          {"entropy_1", g.entropy_1},
          {"tail_mass", g.tail_mass},
          {"tail_ratio", g.tail_mass / real_tail_mass},
          {"tail_coverage", g.tail_coverage},
          {"distinct_1", g.distinct_1},
          {"distinct_2", g.distinct_2},
          {"self_bleu", g.self_bleu}};
}

lab::run_result run_ngram(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = ngram_table().read(ctx.config.at("task"), {"name"});
  ngram_collapse_config c = corpus_collapse_config(p);
  c.order = static_cast<int>(p.order);
  c.lambda = p.lambda;
  const auto res = run_ngram_collapse(c, ctx.seed);
  const auto& g1 = res.gens.front();
  for (const auto& g : res.gens) {
    const metric_list m = lm_generation_metrics(g, g1, res.real_tail_mass);
    log_generation(ctx, g.generation, c.s.generations, m, static_cast<std::int64_t>(c.heldout_tokens));
  }
  if (ctx.db) {
    ctx.db->log_metric(ctx.store_run, 0, "vocab", res.vocab);
    ctx.db->log_metric(ctx.store_run, 0, "real_tail_mass", res.real_tail_mass);
  }
  return finish(c.s.generations, seconds_since(t0));
}

// Neural LMs: the spec's [model] (vocab_size and n_ctx come from the corpus and chunk) and its
// [train] keys shared with `lmlab train`, steps per generation.
lab::run_result run_lm(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = lm_table().read(ctx.config.at("task"), {"name"});
  lm_collapse_config c;
  c.data = corpus_collapse_config(p);
  nlohmann::json mj = lab::lm_model_json(ctx.config.value("model", nlohmann::json::object()));
  mj["vocab_size"] = 2;  // placeholders: run_lm_collapse sets both from the corpus
  mj["n_ctx"] = p.chunk;
  c.model = models::lm_config_from_json(mj, "model");
  const nlohmann::json tj = ctx.config.value("train", nlohmann::json::object());
  c.optim = lab::shared_train_keys(tj);
  c.optim.steps = tj.value("steps", std::int64_t{300});
  const auto res = run_lm_collapse(load_ngram_corpus(c.data), c, ctx.seed);
  const auto& g1 = res.gens.front();
  for (const auto& g : res.gens) {
    auto m = lm_generation_metrics(g, g1, res.real_tail_mass);
    m.emplace_back("train_loss", g.train_loss);
    log_generation(ctx, g.generation, c.data.s.generations, m, c.data.heldout_tokens);
  }
  if (ctx.db) {
    ctx.db->log_metric(ctx.store_run, 0, "vocab", res.vocab);
    ctx.db->log_metric(ctx.store_run, 0, "real_tail_mass", res.real_tail_mass);
  }
  auto r = finish(c.data.s.generations, seconds_since(t0));
  r.n_params = res.n_params;
  r.final_train_loss = res.gens.back().train_loss;
  return r;
}

}  // namespace

void register_datalab() {
  tasks::register_once([] {
    lab::register_lab_task("collapse_gaussian", "model collapse: a Gaussian refitted by maximum likelihood each generation",
                           gaussian_table(), run_gaussian);
    lab::register_lab_task("collapse_mixture", "model collapse: a 1-D Gaussian mixture refitted by EM each generation",
                           mixture_table(), run_mixture);
    lab::register_lab_task("collapse_ngram", "model collapse: a word n-gram LM on a real corpus refitted each generation",
                           ngram_table(), run_ngram);
    lab::register_lab_task("collapse_lm",
                           "model collapse: a small transformer LM on a real corpus retrained from scratch each generation",
                           lm_table(), run_lm);
    register_corpus_lm_task();  // trained by the lab's default runner
    register_ttc();
    register_synth();
  });
}

}  // namespace lmlab::datalab
