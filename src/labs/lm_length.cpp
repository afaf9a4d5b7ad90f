// The corpus_lm_length task and runner: see lm_length.hpp.
#include "labs/lm_length.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "data/corpus.hpp"
#include "datalab/corpus_task.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "models/lm.hpp"
#include "store/results_store.hpp"
#include "tasks/params.hpp"
#include "tasks/registry.hpp"
#include "train/checkpoint.hpp"

namespace lmlab::labs {

void check(const lm_length_config& c) {
  if (c.max_factor < 1 || (c.max_factor & (c.max_factor - 1)) != 0)
    throw tasks::param_error("max_factor", fmt::format("corpus_lm_length: max_factor must be a power of 2, got {}", c.max_factor),
                             "e.g. 8 evaluates at T, 2T, 4T and 8T");
}

namespace {

namespace fs = std::filesystem;

const tasks::param_table<lm_length_config>& table() {
  static const auto t = tasks::param_table<lm_length_config>("corpus_lm_length")
        .add("corpus", &lm_length_config::corpus, "corpus (`lmlab data list`; fetched beforehand)")
        .add("seq_len", &lm_length_config::seq_len, "training window T (characters)", 2, 65536)
        .add("max_factor", &lm_length_config::max_factor, "longest evaluation window, as a multiple of T (a power of 2)", 1, 64)
        .add("num_train", &lm_length_config::num_train, "training windows", 1, 1e8)
        .add("num_test", &lm_length_config::num_test, "held-out windows per evaluation length", 1, 1e6);
  return t;
}

lm_length_config read_config(const nlohmann::json& j) {
  const auto c = table().read(j, {"name"});
  check(c);
  return c;
}

tasks::dataset build(const nlohmann::json& j, std::uint64_t seed) {
  const auto c = read_config(j);
  std::vector<std::string> docs;
  for (auto& d : data::load_corpus(c.corpus, /*allow_fetch=*/false)) docs.push_back(std::move(d.text));
  return build_lm_length(c, docs, seed);
}

lab::run_result run(const lab::run_context& ctx) {
  // Train (or resume) exactly as the default runner, keeping the checkpoint to reload.
  fs::path dir = ctx.dir;
  const bool temp_dir = dir.empty();
  if (temp_dir) dir = fs::temp_directory_path() / fmt::format("lmlab_lm_length_{}_{}", ::getpid(), ctx.seed);
  lab::run_result res = lab::train_and_evaluate(ctx.config, ctx.seed, dir, ctx.db ? ctx.db->path() : fs::path(), ctx.store_run,
                                                ctx.progress);
  const tasks::dataset ds = build(ctx.config.at("task"), ctx.seed);
  auto model = models::make_model(lab::run_model_config(ctx.config.at("model"), ds), ctx.seed);
  train::load_weights(dir / "checkpoint", *model);
  if (temp_dir) fs::remove_all(dir);
  std::int64_t all_tokens = 0, all_correct = 0;
  for (const auto& [slice, s] : score_lm_length(*model, ds)) {
    const double nll = s.mean_nll(), acc = s.accuracy();
    all_tokens += s.tokens, all_correct += s.correct;
    if (ctx.db) {
      ctx.db->log_evaluation(ctx.store_run, "test", slice, "nll", nll, s.windows);
      ctx.db->log_evaluation(ctx.store_run, "test", slice, "perplexity", std::exp(nll), s.windows);
      // "accuracy" here is next-character accuracy (the default runner wrote whole-window exact
      // match under this name, which is ~0 for any window and plots nothing).
      ctx.db->log_evaluation(ctx.store_run, "test", slice, "accuracy", acc, s.windows);
    }
    if (ctx.progress)
      std::fprintf(ctx.progress, "lm_length: %s perplexity %.3f next-char accuracy %.3f\n", slice.c_str(), std::exp(nll), acc);
  }
  const double acc_all = all_tokens ? static_cast<double>(all_correct) / static_cast<double>(all_tokens) : 0.0;
  ctx.log_eval("all", "accuracy", acc_all, static_cast<std::int64_t>(ds.test.size()));
  res.test_accuracy = acc_all;
  return res;
}

}  // namespace

tasks::dataset build_lm_length(const lm_length_config& c, const std::vector<std::string>& docs, std::uint64_t seed) {
  datalab::corpus_lm_config base{c.corpus, c.seq_len, c.num_train, c.num_test};
  tasks::dataset ds = datalab::build_corpus_lm(base, docs, seed);
  ds.task = "corpus_lm_length";
  ds.test.clear();
  for (std::int64_t f = 1; f <= c.max_factor; f *= 2) {
    datalab::corpus_lm_config at{c.corpus, c.seq_len * f, 0, c.num_test};
    // Same documents, same held-out split and the same character vocabulary at every length.
    tasks::dataset d = datalab::build_corpus_lm(at, docs, seed);
    LMLAB_CHECK(d.vocab.tokens() == ds.vocab.tokens(), "corpus_lm_length: vocabulary differs between lengths");
    for (auto& e : d.test) {
      e.slice = fmt::format("len={}", c.seq_len * f);
      e.difficulty = static_cast<double>(c.seq_len * f);
      ds.test.push_back(std::move(e));
    }
  }
  return ds;
}

std::map<std::string, lm_length_score> score_lm_length(models::causal_lm& model, const tasks::dataset& ds) {
  no_grad ng;
  std::map<std::string, lm_length_score> out;
  constexpr std::size_t batch = 16;
  for (std::size_t i0 = 0; i0 < ds.test.size();) {
    // One batch: consecutive windows of one slice (build_lm_length writes each length's together).
    std::vector<std::size_t> idx;
    for (std::size_t i = i0; i < ds.test.size() && idx.size() < batch && ds.test[i].slice == ds.test[i0].slice; ++i) idx.push_back(i);
    i0 += idx.size();
    const auto b = tasks::make_batch(ds.test, idx, ds.pad_id);
    tensor logits =
        model.forward(tensor::from<std::int32_t>({b.B, b.T}, std::span<const std::int32_t>(b.input))).contiguous_raw();
    const std::int64_t V = logits.size(2);
    const float* p = logits.data<float>();
    auto& s = out[ds.test[idx.front()].slice];
    s.windows += b.B;
    for (std::int64_t r = 0; r < b.B; ++r)
      for (std::int64_t t = 0; t < b.T; ++t) {
        const std::int32_t y = b.target[static_cast<std::size_t>(r * b.T + t)];
        if (y == tasks::ignore_index) continue;
        const float* row = p + (r * b.T + t) * V;
        const float* best = std::max_element(row, row + V);
        double z = 0;
        for (std::int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v]) - *best);
        s.nll += std::log(z) - (static_cast<double>(row[y]) - *best);
        s.tokens += 1;
        s.correct += best - row == y ? 1 : 0;
      }
  }
  return out;
}

void register_lm_length() {
  tasks::register_once([] {
    tasks::register_task(tasks::task_from_table(
        "corpus_lm_length", "character LM trained on windows of T of a real corpus, perplexity at T, 2T, ... (length extrapolation)",
        table(), build));
    lab::register_runner("corpus_lm_length", run);
  });
}

}  // namespace lmlab::labs
