// Test-time compute on the arithmetic task: see ttc_runner.hpp.
#include "datalab/ttc_runner.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "datalab/small_train.hpp"
#include "datalab/ttc.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "models/lm.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/checkpoint.hpp"

namespace lmlab::datalab {

namespace {

namespace fs = std::filesystem;

// A function, not a namespace-scope vector: registration runs during static initialisation.
const std::vector<std::string>& own_keys() {
  static const std::vector<std::string> k = {"n_samples", "temperature", "draws", "eval_items", "verifier_steps", "verifier_items"};
  return k;
}

struct ttc_params {
  std::int64_t n_samples = 16, draws = 50, eval_items = 200;
  std::int64_t verifier_steps = 0, verifier_items = 300;  // the learned verifier (0 steps: none)
  double temperature = 1.0;
};

// The schema of our keys, in own_keys() order (split() reads them, with its own messages).
const tasks::param_table<ttc_params>& own_table() {
  static const tasks::param_table<ttc_params> t =
      tasks::param_table<ttc_params>("ttc_arithmetic")
          .add("n_samples", &ttc_params::n_samples, "answers sampled per test item (k runs over powers of 2 up to it)", 1)
          .add("temperature", &ttc_params::temperature, "sampling temperature", 1e-3)
          .add("draws", &ttc_params::draws, "random k-subsets averaged per item", 1)
          .add("eval_items", &ttc_params::eval_items, "in-distribution test items scored", 1)
          .add("verifier_steps", &ttc_params::verifier_steps, "training steps of the learned verifier (0: none)", 0)
          .add("verifier_items", &ttc_params::verifier_items, "training problems whose samples train the verifier", 1);
  return t;
}

// Splits a ttc_arithmetic table into the arithmetic task's keys and ours.
std::pair<nlohmann::json, ttc_params> split(const nlohmann::json& j) {
  nlohmann::json arith = nlohmann::json::object();
  ttc_params p;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "name") continue;
    if (std::find(own_keys().begin(), own_keys().end(), it.key()) == own_keys().end()) {
      arith[it.key()] = it.value();
      continue;
    }
    const std::string owner = "ttc_arithmetic";
    if (it.key() == "temperature") p.temperature = tasks::json_to_number(it.value(), owner, it.key());
    else {
      const std::int64_t v = tasks::json_to_integer(it.value(), owner, it.key());
      const std::int64_t lo = it.key() == "verifier_steps" ? 0 : 1;
      if (v < lo) throw tasks::param_error(it.key(), fmt::format("ttc_arithmetic: {} must be >= {}, got {}", it.key(), lo, v));
      (it.key() == "n_samples"        ? p.n_samples
       : it.key() == "draws"          ? p.draws
       : it.key() == "verifier_steps" ? p.verifier_steps
       : it.key() == "verifier_items" ? p.verifier_items
                                      : p.eval_items) = v;
    }
  }
  if (!(p.temperature > 0)) throw tasks::param_error("temperature", "ttc_arithmetic: temperature must be > 0");
  arith["name"] = "arithmetic";
  return {arith, p};
}

struct item_samples {
  std::vector<sampled_answer> s;
  std::vector<std::vector<std::int32_t>> answers;  // each sample's tokens
  std::vector<std::int32_t> prompt;
  double tokens = 0;  // prompt + answer tokens of one sample
};

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
  r.tokens = static_cast<double>(i0 + 1 + gold.size());
  for (std::size_t b = 0; b < out.size(); ++b) {
    std::string a;
    for (auto t : out[b]) a += std::to_string(t) + " ";
    r.s.push_back({a, out[b] == gold, logp[b]});
  }
  return r;
}

// The learned verifier (an outcome reward model): a fresh model of the run's architecture
// trained on the generator's own samples for training-split problems, each sequence prompt +
// sampled answer followed by one supervised position whose target is the digit token "1" (the
// answer is right by the gold check) or "0". Its score of a sample is log p("1") − log p("0")
// at that position. ref: Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems"
// (arXiv:2110.14168): a verifier trained on the generator's samples labelled by final-answer
// correctness, used to rank best-of-n.
struct learned_verifier {
  std::unique_ptr<models::lm> model;
  std::int32_t yes = 0, no = 0;
  double train_accuracy_base = 0;  // share of right samples in its training data
};

std::vector<std::int32_t> verifier_input(const item_samples& it, std::size_t j) {
  std::vector<std::int32_t> t = it.prompt;
  t.insert(t.end(), it.answers[j].begin(), it.answers[j].end());
  return t;
}

learned_verifier train_verifier(models::causal_lm& gen, const tasks::dataset& ds, models::lm_config mc, const nlohmann::json& train_json,
                                std::int32_t eos, const ttc_params& p, std::uint64_t seed, rng& g) {
  learned_verifier v;
  v.yes = ds.vocab.id("1");
  v.no = ds.vocab.id("0");
  std::vector<token_example> data;
  double right = 0;
  std::size_t longest = 0;
  for (const auto& ex : ds.train) {
    if (static_cast<std::int64_t>(data.size()) >= p.verifier_items * p.n_samples) break;
    const item_samples it = sample_item(gen, ex, eos, p, g);
    for (std::size_t j = 0; j < it.s.size(); ++j) {
      token_example e;
      e.input = verifier_input(it, j);
      e.target.assign(e.input.size(), tasks::ignore_index);
      e.target.back() = it.s[j].correct ? v.yes : v.no;
      right += it.s[j].correct;
      longest = std::max(longest, e.input.size());
      data.push_back(std::move(e));
    }
  }
  LMLAB_CHECK(!data.empty(), "ttc_arithmetic: no training items for the verifier");
  v.train_accuracy_base = right / static_cast<double>(data.size());
  mc.n_ctx = std::max<std::int64_t>(mc.n_ctx, static_cast<std::int64_t>(longest));
  const train::optim_config oc = lab::shared_train_keys(train_json);
  v.model = train_on_examples(mc, data, oc, p.verifier_steps, ds.pad_id, rng(seed, 0x56455249ull).next_u64());
  return v;
}

// Scores every sample of every item: log p("1") − log p("0") after the answer.
void score_with_verifier(learned_verifier& v, std::vector<item_samples>& items) {
  no_grad ng;
  v.model->eval();
  for (auto& it : items) {
    std::size_t T = 0;
    for (std::size_t j = 0; j < it.s.size(); ++j) T = std::max(T, verifier_input(it, j).size());
    std::vector<std::int32_t> in;
    std::vector<std::size_t> last;
    for (std::size_t j = 0; j < it.s.size(); ++j) {
      auto t = verifier_input(it, j);
      last.push_back(t.size() - 1);
      t.resize(T, 0);
      in.insert(in.end(), t.begin(), t.end());
    }
    const auto B = static_cast<std::int64_t>(it.s.size());
    const tensor logits =
        v.model->forward(tensor::from<std::int32_t>({B, static_cast<std::int64_t>(T)}, std::span<const std::int32_t>(in))).contiguous_raw();
    const std::int64_t V = logits.size(2);
    for (std::size_t j = 0; j < it.s.size(); ++j) {
      const float* row = logits.data<float>() + (static_cast<std::int64_t>(j) * static_cast<std::int64_t>(T) + static_cast<std::int64_t>(last[j])) * V;
      it.s[j].verifier = static_cast<double>(row[v.yes]) - static_cast<double>(row[v.no]);
    }
  }
}

lab::run_result run_ttc(const lab::run_context& ctx) {
  const auto [arith, p] = split(ctx.config.at("task"));
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
  if (p.verifier_steps > 0) {
    auto v = train_verifier(*model, ds, lab::run_model_config(ctx.config.at("model"), ds), ctx.config.value("train", nlohmann::json::object()),
                            eos, p, ctx.seed, g);
    score_with_verifier(v, items);
    // Its ranking quality on the test samples: AUC = P(a right sample outscores a wrong one).
    std::vector<double> right, wrong;
    for (const auto& it : items)
      for (const auto& x : it.s) (x.correct ? right : wrong).push_back(x.verifier);
    double auc = NAN;
    if (!right.empty() && !wrong.empty()) {
      std::sort(wrong.begin(), wrong.end());
      double wins = 0;
      for (double r : right) {
        const auto lo = std::lower_bound(wrong.begin(), wrong.end(), r), hi = std::upper_bound(wrong.begin(), wrong.end(), r);
        wins += static_cast<double>(lo - wrong.begin()) + 0.5 * static_cast<double>(hi - lo);
      }
      auc = wins / (static_cast<double>(right.size()) * static_cast<double>(wrong.size()));
    }
    if (ctx.db) {
      ctx.db->log_evaluation(ctx.store_run, "test", "verifier", "right_share", v.train_accuracy_base, p.verifier_items);
      if (!std::isnan(auc))
        ctx.db->log_evaluation(ctx.store_run, "test", "verifier", "auc_test", auc, static_cast<std::int64_t>(right.size() + wrong.size()));
    }
    if (ctx.progress) std::fprintf(ctx.progress, "ttc: learned verifier test AUC %.3f\n", auc);
  }
  double tokens = 0;
  for (const auto& it : items) tokens += it.tokens;
  tokens /= static_cast<double>(items.size());
  for (std::int64_t k = 1; k <= p.n_samples; k *= 2) {
    ttc_accuracy sum;
    for (const auto& it : items) {
      const auto a = item_accuracy(it.s, k, static_cast<int>(p.draws), g);
      sum.pass += a.pass, sum.majority += a.majority, sum.weighted += a.weighted, sum.best_of += a.best_of;
      sum.learned = std::isnan(a.learned) ? NAN : (std::isnan(sum.learned) ? 0 : sum.learned) + a.learned;
    }
    const double n = static_cast<double>(items.size());
    const std::vector<std::pair<std::string, double>> m = {{"pass", sum.pass / n},
                                                           {"majority", sum.majority / n},
                                                           {"weighted", sum.weighted / n},
                                                           {"best_of", sum.best_of / n},
                                                           {"learned", sum.learned / n},
                                                           {"flops_per_item", static_cast<double>(k) * tokens * fwd_per_token}};
    if (ctx.db)
      for (const auto& [name, v] : m)
        if (!std::isnan(v)) ctx.db->log_evaluation(ctx.store_run, "test", fmt::format("k={}", k), name, v, static_cast<std::int64_t>(items.size()));
    if (ctx.progress)
      std::fprintf(ctx.progress, "ttc: k=%lld pass %.3f majority %.3f weighted %.3f best_of %.3f learned %.3f\n",
                   static_cast<long long>(k), m[0].second, m[1].second, m[2].second, m[3].second, m[4].second);
  }
  return res;
}

}  // namespace

void register_ttc() {
  static const bool done = [] {
    const tasks::task_info& arith = tasks::find_task("arithmetic");
    tasks::task_info t;
    t.name = "ttc_arithmetic";
    t.summary = "test-time compute (pass@k, majority / weighted vote, best-of-n) on base-b arithmetic";
    t.params = arith.params;
    for (const auto& s : own_table().specs()) t.params.push_back(s);
    t.canonical = [](const nlohmann::json& j) {
      auto [a, p] = split(j);
      nlohmann::json out = tasks::find_task("arithmetic").canonical(a);
      out["n_samples"] = p.n_samples;
      out["temperature"] = p.temperature;
      out["draws"] = p.draws;
      out["eval_items"] = p.eval_items;
      if (p.verifier_steps > 0) {  // only then, so specs without a verifier keep their canonical form
        out["verifier_steps"] = p.verifier_steps;
        out["verifier_items"] = p.verifier_items;
      }
      return out;
    };
    t.build = [](const nlohmann::json& j, std::uint64_t seed) { return tasks::build_task(split(j).first, seed); };
    tasks::register_task(std::move(t));
    lab::register_runner("ttc_arithmetic", run_ttc);
    return true;
  }();
  (void)done;
}

}  // namespace lmlab::datalab
