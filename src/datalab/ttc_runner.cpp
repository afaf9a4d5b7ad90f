// Test-time compute on the arithmetic task: see ttc_runner.hpp.
#include "datalab/ttc_runner.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <unistd.h>

#include <fmt/ranges.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "datalab/small_train.hpp"
#include "datalab/ttc.hpp"
#include "datalab/ttc_verifier.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "models/lm.hpp"
#include "store/results_store.hpp"
#include "tasks/arithmetic.hpp"
#include "tasks/registry.hpp"
#include "train/checkpoint.hpp"

namespace lmlab::datalab {

namespace {

namespace fs = std::filesystem;

// The arithmetic task's keys and ours, one table (task_from_table's canonical form).
struct ttc_params : tasks::arithmetic_config {
  std::int64_t n_samples = 16, draws = 50, eval_items = 200;
  std::int64_t verifier_steps = 0, verifier_items = 300;  // the learned verifier (0 steps: none)
  double temperature = 1.0;
  double verifier_lr = 0;  // the verifiers' peak learning rate (0: train.lr)
  std::vector<std::string> verifiers = {"outcome"};  // kinds (ttc_verifier.hpp); the first gives `learned`
};

void check(const ttc_params& c) {
  tasks::check(static_cast<const tasks::arithmetic_config&>(c));
  std::vector<std::string> seen;
  for (const auto& k : c.verifiers) {
    if (std::find(seen.begin(), seen.end(), k) != seen.end()) break;
    seen.push_back(k);
  }
  if (c.verifiers.empty() || seen.size() != c.verifiers.size())
    throw tasks::param_error("verifiers",
                             fmt::format("ttc_arithmetic: verifiers must be a non-empty list of distinct kinds, got [{}]", fmt::join(c.verifiers, ", ")),
                             fmt::format("kinds: {}", fmt::join(verifier_kinds(), ", ")));
}

// The verifier keys are written only when a verifier trains (and then only when not default),
// so every spec's canonical form and run ids stay what they were before these keys existed.
bool no_verifier(const ttc_params& c) { return c.verifier_steps == 0; }

const tasks::param_table<ttc_params>& ttc_table() {
  static const auto t =
      tasks::param_table<ttc_params>("ttc_arithmetic")
          .add_table(tasks::arithmetic_params())
          .add("n_samples", &ttc_params::n_samples, "answers sampled per test item (k runs over powers of 2 up to it)", 1)
          .add("temperature", &ttc_params::temperature, "sampling temperature", 1e-3)
          .add("draws", &ttc_params::draws, "random k-subsets averaged per item", 1)
          .add("eval_items", &ttc_params::eval_items, "in-distribution test items scored", 1)
          .add("verifier_steps", &ttc_params::verifier_steps, "training steps of the learned verifier (0: none)", 0)
          .omit_when(no_verifier)
          .add("verifier_items", &ttc_params::verifier_items, "training problems whose samples train the verifier", 1)
          .omit_when(no_verifier)
          .add("verifiers", &ttc_params::verifiers,
               "learned verifier kinds trained on the same samples (outcome, outcome_balanced, outcome_gen, outcome_gen_balanced, "
               "process_gen); the first gives `learned`, each `learned_<kind>`",
               -INFINITY, INFINITY, verifier_kinds())
          .omit_when([](const ttc_params& c) { return no_verifier(c) || c.verifiers == ttc_params{}.verifiers; })
          .add("verifier_lr", &ttc_params::verifier_lr, "peak learning rate of the verifiers (0: train.lr)", 0)
          .omit_when([](const ttc_params& c) { return no_verifier(c) || c.verifier_lr == 0; });
  return t;
}

// The arithmetic task's own table of a ttc_arithmetic config (what the default runner trains on).
nlohmann::json arithmetic_task(const ttc_params& p) {
  nlohmann::json j = tasks::arithmetic_params().write(p);
  j["name"] = "arithmetic";
  return j;
}

// n answers to one test example: the prompt is the input up to the first supervised position.
item_samples sample_item(models::causal_lm& model, const tasks::example& ex, std::int32_t eos, const ttc_params& p, rng& g) {
  std::size_t i0 = 0;
  while (i0 < ex.target.size() && ex.target[i0] == tasks::ignore_index) ++i0;
  LMLAB_CHECK(i0 < ex.target.size(), "ttc: a test example has no supervised position");
  std::vector<std::int32_t> gold;
  for (std::size_t t = i0; t < ex.target.size() && ex.target[t] != tasks::ignore_index; ++t) gold.push_back(ex.target[t]);
  const auto B = static_cast<std::int64_t>(p.n_samples);
  std::vector<std::int32_t> seqs;  // (B, T) row-major, all rows the same length
  for (std::int64_t b = 0; b < B; ++b) seqs.insert(seqs.end(), ex.input.begin(), ex.input.begin() + static_cast<std::ptrdiff_t>(i0 + 1));
  std::int64_t T = static_cast<std::int64_t>(i0 + 1);
  std::vector<std::vector<std::int32_t>> out(static_cast<std::size_t>(B));
  std::vector<double> logp(static_cast<std::size_t>(B), 0.0);
  std::vector<bool> done(static_cast<std::size_t>(B), false);
  no_grad ng;
  for (std::size_t step = 0; step < gold.size() && T < model.n_ctx(); ++step) {
    tensor logits = model.forward(tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(seqs))).contiguous_raw();
    const std::int64_t V = logits.size(2);
    const float* lp = logits.data<float>();
    std::vector<std::int32_t> next;
    for (std::int64_t b = 0; b < B; ++b) {
      const float* row = lp + (b * T + T - 1) * V;
      const float mx = *std::max_element(row, row + V);
      double z = 0, zt = 0;
      for (std::int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx), zt += std::exp((row[v] - mx) / p.temperature);
      double r = g.uniform() * zt;
      std::int32_t pick = static_cast<std::int32_t>(V - 1);
      for (std::int64_t v = 0; v < V; ++v)
        if ((r -= std::exp((row[v] - mx) / p.temperature)) < 0) {
          pick = static_cast<std::int32_t>(v);
          break;
        }
      const auto bi = static_cast<std::size_t>(b);
      if (!done[bi]) {
        out[bi].push_back(pick);
        logp[bi] += row[pick] - mx - std::log(z);  // log p at temperature 1: the model's own rating
        done[bi] = pick == eos;
      }
      next.push_back(pick);
    }
    std::vector<std::int32_t> grown;
    for (std::int64_t b = 0; b < B; ++b) {
      grown.insert(grown.end(), seqs.begin() + b * T, seqs.begin() + (b + 1) * T);
      grown.push_back(next[static_cast<std::size_t>(b)]);
    }
    seqs.swap(grown);
    ++T;
  }
  item_samples r;
  r.prompt.assign(ex.input.begin(), ex.input.begin() + static_cast<std::ptrdiff_t>(i0 + 1));
  r.answers = out;
  r.gold = gold;
  r.tokens = static_cast<double>(i0 + 1 + gold.size());
  for (std::size_t b = 0; b < out.size(); ++b) {
    std::string a;
    for (auto t : out[b]) a += std::to_string(t) + " ";
    r.s.push_back({a, out[b] == gold, logp[b]});
  }
  return r;
}

// The generator's samples for `verifier_items` training problems (what the verifiers learn from).
std::vector<item_samples> sample_train_items(models::causal_lm& model, const tasks::dataset& ds, std::int32_t eos, const ttc_params& p,
                                             rng& g) {
  std::vector<item_samples> out;
  for (const auto& ex : ds.train) {
    if (static_cast<std::int64_t>(out.size()) >= p.verifier_items) break;
    out.push_back(sample_item(model, ex, eos, p, g));
  }
  LMLAB_CHECK(!out.empty(), "ttc_arithmetic: no training items for the verifier");
  return out;
}

// Logs how well `score` ranks the test samples (slice "verifier", metrics PREFIX_auc_pooled,
// PREFIX_auc_within, PREFIX_auc_same_len, PREFIX_ties); returns the pooled AUC.
double log_ranking(const lab::run_context& ctx, const std::string& prefix, const std::vector<item_samples>& items,
                   const std::function<double(const item_samples&, std::size_t)>& score) {
  std::vector<std::vector<double>> sc(items.size());
  std::vector<std::vector<bool>> ok(items.size());
  std::vector<std::vector<std::int64_t>> len(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    for (std::size_t j = 0; j < items[i].s.size(); ++j) {
      sc[i].push_back(score(items[i], j));
      ok[i].push_back(items[i].s[j].correct);
      len[i].push_back(static_cast<std::int64_t>(items[i].answers[j].size()));
    }
  const ranking_quality q = ranking_of(sc, ok, len);
  for (const auto& [name, v] : std::vector<std::pair<std::string, double>>{
           {"auc_pooled", q.pooled}, {"auc_within", q.within}, {"auc_same_len", q.within_same_length}, {"ties", q.ties}})
    if (!std::isnan(v)) ctx.log_eval("verifier", prefix + "_" + name, v, q.mixed_items);
  if (ctx.progress)
    std::fprintf(ctx.progress, "ttc: %s ranking AUC pooled %.3f within items %.3f (same length %.3f, ties %.3f, %lld mixed items)\n",
                 prefix.c_str(), q.pooled, q.within, q.within_same_length, q.ties, static_cast<long long>(q.mixed_items));
  return q.pooled;
}

// Trains each verifier kind on the training items' samples and scores the test samples:
// scores[v][item][sample]. The first kind's scores also go to sampled_answer::verifier.
std::vector<std::vector<std::vector<double>>> run_verifiers(const lab::run_context& ctx, const ttc_params& p, models::causal_lm& model,
                                                            const tasks::dataset& ds, std::vector<item_samples>& items, rng& g) {
  const std::int32_t eos = ds.vocab.id("<eos>");
  const std::vector<item_samples> train_items = sample_train_items(model, ds, eos, p, g);
  const models::lm_config mc = lab::run_model_config(ctx.config.at("model"), ds);
  train::optim_config oc = lab::shared_train_keys(ctx.config.value("train", nlohmann::json::object()));
  if (p.verifier_lr > 0) oc.lr = p.verifier_lr, oc.min_lr = -1;  // min_lr < 0: a tenth of lr
  std::vector<std::vector<std::vector<double>>> scores;
  for (const std::string& kind : p.verifiers) {
    verifier_setup vs{kind, ds.vocab.id("1"), ds.vocab.id("0"), ds.pad_id, p.verifier_steps, rng(ctx.seed, 0x56455249ull).next_u64()};
    const learned_verifier v = train_verifier(train_items, vs, mc, oc, model);
    auto& sc = scores.emplace_back();
    for (const auto& it : items) sc.push_back(verifier_scores(v, it));
    const double pooled = log_ranking(ctx, kind, items, [&](const item_samples& it, std::size_t j) {
      return sc[static_cast<std::size_t>(&it - items.data())][j];
    });
    ctx.log_eval("verifier", kind + "_right_share", v.right_share, v.sequences);
    if (scores.size() == 1) {  // the first kind: the names the runs before several kinds logged
      ctx.log_eval("verifier", "right_share", v.right_share, p.verifier_items);
      if (!std::isnan(pooled)) ctx.log_eval("verifier", "auc_test", pooled, p.verifier_items);
      for (std::size_t i = 0; i < items.size(); ++i)
        for (std::size_t j = 0; j < items[i].s.size(); ++j) items[i].s[j].verifier = sc[i][j];
    }
  }
  // References: the generator's own log-probability, and answer length (right answers longer?).
  log_ranking(ctx, "logp", items, [](const item_samples& it, std::size_t j) { return it.s[j].score; });
  log_ranking(ctx, "length", items, [](const item_samples& it, std::size_t j) { return static_cast<double>(it.answers[j].size()); });
  return scores;
}

// Best-of-k and the verifier-weighted vote by verifier v's scores for every kind after the
// first, on their own random subsets: (learned, learned_vote) per kind.
std::vector<std::pair<double, double>> extra_learned(const std::vector<item_samples>& items, const std::vector<std::vector<std::vector<double>>>& scores,
                                  std::int64_t k, const ttc_params& p, std::uint64_t seed) {
  std::vector<std::pair<double, double>> out;
  for (std::size_t v = 1; v < scores.size(); ++v) {
    rng g(seed, 0x4c524e00ull + static_cast<std::uint64_t>(v * 64 + static_cast<std::size_t>(k)));
    const ttc_accuracy a = mean_item_accuracy(
        items.size(),
        [&](std::size_t i) {
          std::vector<sampled_answer> s = items[i].s;
          for (std::size_t j = 0; j < s.size(); ++j) s[j].verifier = scores[v][i][j];
          return s;
        },
        k, static_cast<int>(p.draws), g);
    out.emplace_back(a.learned, a.learned_vote);
  }
  return out;
}

lab::run_result run_ttc(const lab::run_context& ctx) {
  const ttc_params p = ttc_table().read(ctx.config.at("task"), {"name"});
  const nlohmann::json arith = arithmetic_task(p);
  nlohmann::json train_cfg = ctx.config;
  train_cfg["task"] = arith;
  // Train (or resume) exactly as the default runner; keep the checkpoint to reload.
  fs::path dir = ctx.dir;
  const bool temp_dir = dir.empty();
  if (temp_dir) dir = fs::temp_directory_path() / fmt::format("lmlab_ttc_{}_{}", ::getpid(), ctx.seed);
  lab::run_result res = lab::train_and_evaluate(train_cfg, ctx.seed, dir, ctx.db ? ctx.db->path() : fs::path(), ctx.store_run,
                                                ctx.progress);
  const tasks::dataset ds = tasks::build_task(arith, ctx.seed);
  auto model = models::make_model(lab::run_model_config(ctx.config.at("model"), ds), ctx.seed);
  train::load_weights(dir / "checkpoint", *model);
  if (temp_dir) fs::remove_all(dir);
  const std::int32_t eos = ds.vocab.id("<eos>");
  const double fwd_per_token = model->train_flops_per_token(model->n_ctx()) / 3.0;  // forward = 1/3 of training

  rng g(ctx.seed, 0x747463ull);  // "ttc"
  std::vector<item_samples> items;
  for (const auto& ex : ds.test) {
    if (static_cast<std::int64_t>(items.size()) >= p.eval_items) break;
    if (ex.slice.rfind("id/", 0) == 0) items.push_back(sample_item(*model, ex, eos, p, g));
  }
  LMLAB_CHECK(!items.empty(), "ttc_arithmetic: no in-distribution test items");
  std::vector<std::vector<std::vector<double>>> scores;
  if (p.verifier_steps > 0) scores = run_verifiers(ctx, p, *model, ds, items, g);
  double tokens = 0;
  for (const auto& it : items) tokens += it.tokens;
  tokens /= static_cast<double>(items.size());
  for (std::int64_t k = 1; k <= p.n_samples; k *= 2) {
    const ttc_accuracy a =
        mean_item_accuracy(items.size(), [&](std::size_t i) -> const auto& { return items[i].s; }, k, static_cast<int>(p.draws), g);
    std::vector<std::pair<std::string, double>> m = {{"pass", a.pass},
                                                     {"majority", a.majority},
                                                     {"weighted", a.weighted},
                                                     {"best_of", a.best_of},
                                                     {"learned", a.learned},
                                                     {"learned_vote", a.learned_vote},
                                                     {"uninformed", a.uninformed},
                                                     {"flops_per_item", static_cast<double>(k) * tokens * fwd_per_token}};
    if (!scores.empty()) {
      m.emplace_back("learned_" + p.verifiers[0], a.learned);
      m.emplace_back("learned_vote_" + p.verifiers[0], a.learned_vote);
    }
    const auto more = extra_learned(items, scores, k, p, ctx.seed);
    for (std::size_t v = 0; v < more.size(); ++v) {
      m.emplace_back("learned_" + p.verifiers[v + 1], more[v].first);
      m.emplace_back("learned_vote_" + p.verifiers[v + 1], more[v].second);
    }
    for (const auto& [name, v] : m)
      if (!std::isnan(v)) ctx.log_eval(fmt::format("k={}", k), name, v, static_cast<std::int64_t>(items.size()));
    if (ctx.progress) {
      std::string line = fmt::format("ttc: k={}", k);
      for (const auto& [name, v] : m)
        if (name != "flops_per_item") line += fmt::format(" {} {:.3f}", name, v);
      std::fprintf(ctx.progress, "%s\n", line.c_str());
    }
  }
  return res;
}

}  // namespace

void register_ttc() {
  tasks::register_once([] {
    tasks::register_task(tasks::task_from_table(
        "ttc_arithmetic", "test-time compute (pass@k, majority / weighted vote, best-of-n) on base-b arithmetic", ttc_table(),
        [](const nlohmann::json& j, std::uint64_t seed) { return tasks::build_task(arithmetic_task(ttc_table().read(j, {"name"})), seed); }));
    lab::register_runner("ttc_arithmetic", run_ttc);
  });
}

}  // namespace lmlab::datalab
