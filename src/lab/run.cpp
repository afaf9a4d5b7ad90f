// One lab run: see run.hpp.
#include "lab/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <sys/resource.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "lab/batches.hpp"
#include "core/threads.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "models/lm.hpp"
#include "ops/ops.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace lmlab::lab {
namespace fs = std::filesystem;

namespace {

template <class T>
T get_or(const nlohmann::json& j, const char* key, T dflt) {
  return j.contains(key) && !j[key].is_null() ? j[key].get<T>() : dflt;
}

// Keys the spec accepts but this runner cannot honour yet: an error, never a silent default.
void reject_unsupported(const nlohmann::json& train) {
  auto bad = [](const std::string& key, const std::string& why) {
    throw error(fmt::format("lab: {}: {}", key, why), "remove the key or choose a supported value (docs/lab.md)");
  };
  if (train.contains("optimizer") && train["optimizer"] != "adamw") bad("train.optimizer", "only adamw is implemented");
  if (get_or<bool>(train, "mup", false)) bad("train.mup", "muP is not implemented yet");
}

std::int64_t longest(const tasks::dataset& d) {
  std::size_t m = 0;
  for (const auto* split : {&d.train, &d.test})
    for (const auto& e : *split) m = std::max(m, e.input.size());
  return static_cast<std::int64_t>(m);
}

std::int64_t longest_train(const tasks::dataset& d) {
  std::size_t m = 0;
  for (const auto& e : d.train) m = std::max(m, e.input.size());
  return static_cast<std::int64_t>(m);
}

// The run's steps from its budget (train.steps, else train.tokens, else train.flops), and the
// training FLOPs of one step: the model's own count per token (PaLM's 3x forward, with each
// mixer's sequence work and MoD's routed share) at the mean training length.
struct budget {
  std::int64_t steps = 0;
  double flops_per_step = 0;
  double tokens_per_step = 0;  // batch × mean training length
};
budget step_budget(const nlohmann::json& tj, const models::causal_lm& model, const tasks::dataset& ds, std::int64_t B) {
  double mean_len = 0;
  for (const auto& e : ds.train) mean_len += static_cast<double>(e.input.size());
  mean_len /= static_cast<double>(ds.train.size());
  const double flops_per_step =
      model.train_flops_per_token(std::max<std::int64_t>(1, std::llround(mean_len))) * static_cast<double>(B) * mean_len;
  std::int64_t steps = get_or<std::int64_t>(tj, "steps", 0);
  if (steps == 0 && tj.contains("tokens"))
    steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(tj["tokens"].get<double>() / (B * mean_len)));
  // An iso-FLOP budget: cheaper models (narrower, MoD) get more steps for the same compute.
  if (steps == 0 && tj.contains("flops"))
    steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(tj["flops"].get<double>() / flops_per_step));
  LMLAB_CHECK(steps > 0, "lab: train.steps, train.tokens or train.flops must be given");
  return {steps, flops_per_step, static_cast<double>(B) * mean_len};
}

// Continues from <run>/checkpoint when there is one: weights by name, AdamW state; returns
// the step to continue at (0 without a checkpoint). A run stopped after its final checkpoint
// resumes with no step left to train: the loss it reports comes from the checkpoint.
std::int64_t resume_run(const fs::path& ckpt, const models::causal_lm& model, train::adamw& optim, float& last_loss,
                        std::FILE* progress) {
  if (ckpt.empty() || !fs::exists(ckpt / "trainer_state.json")) return 0;
  auto ck = train::load_checkpoint(ckpt);
  const auto step = ck.trainer_state.at("step").get<std::int64_t>();
  if (auto it = ck.trainer_state.find("last_loss"); it != ck.trainer_state.end() && it->is_number())
    last_loss = it->get<float>();
  train::load_weights(ckpt, model);  // by name, with shape checks
  train::load_optimizer_state(ckpt, optim, step);
  if (progress) std::fprintf(progress, "lab: resuming at step %lld from %s\n", static_cast<long long>(step), ckpt.c_str());
  return step;
}

tensor ids_tensor(const std::vector<std::int32_t>& v, std::int64_t B, std::int64_t T) {
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

// Argmax predictions for `examples` (teacher forcing), batch by batch.
std::vector<std::vector<std::int32_t>> predict(models::causal_lm& model, const tasks::dataset& ds,
                                               const std::vector<tasks::example>& examples, std::size_t limit,
                                               std::int64_t batch) {
  no_grad ng;
  const std::size_t n = std::min(limit, examples.size());
  std::vector<std::vector<std::int32_t>> preds(n);
  for (std::size_t i0 = 0; i0 < n; i0 += static_cast<std::size_t>(batch)) {
    std::vector<std::size_t> idx;
    for (std::size_t i = i0; i < std::min(n, i0 + static_cast<std::size_t>(batch)); ++i) idx.push_back(i);
    auto b = tasks::make_batch(examples, idx, ds.pad_id);
    tensor logits = model.forward(ids_tensor(b.input, b.B, b.T)).contiguous_raw();  // (B, T, V)
    const std::int64_t V = logits.size(2);
    const float* p = logits.data<float>();
    for (std::int64_t r = 0; r < b.B; ++r) {
      auto& out = preds[idx[static_cast<std::size_t>(r)]];
      const std::int64_t len = static_cast<std::int64_t>(examples[idx[static_cast<std::size_t>(r)]].input.size());
      out.resize(static_cast<std::size_t>(len));
      for (std::int64_t t = 0; t < len; ++t) {
        const float* row = p + (r * b.T + t) * V;
        out[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(std::max_element(row, row + V) - row);
      }
    }
  }
  return preds;
}

// Per-slice accuracy over supervised positions (zoology's MQAR metric: each query is scored
// on its own), beside the exact-match accuracy of whole examples.
std::vector<tasks::slice_accuracy> token_accuracy_by_slice(const std::vector<tasks::example>& examples,
                                                           const std::vector<std::vector<std::int32_t>>& preds) {
  return tasks::tally_by_slice(examples, [&](std::size_t i) {
    std::pair<std::int64_t, std::int64_t> nc{0, 0};
    for (std::size_t t = 0; t < examples[i].target.size(); ++t) {
      if (examples[i].target[t] == tasks::ignore_index) continue;
      ++nc.first;
      if (preds[i][t] == examples[i].target[t]) ++nc.second;
    }
    return nc;
  });
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double overall_accuracy(const std::vector<tasks::slice_accuracy>& s) {
  std::int64_t n = 0, c = 0;
  for (const auto& x : s) {
    n += x.n;
    c += x.correct;
  }
  return n ? static_cast<double>(c) / static_cast<double>(n) : 0.0;
}

// Tasks whose examples hold many independent queries (MQAR, induction, selective copy) are
// scored per query, as zoology does; the rest by exact match of the whole answer.
bool scored_per_query(const std::string& task_name) {
  return task_name == "mqar" || task_name == "induction" || task_name == "selective_copy";
}

tasks::dataset build_checked_task(const nlohmann::json& task, std::uint64_t seed) {
  tasks::dataset ds = tasks::build_task(task, seed);
  tasks::validate(ds);
  LMLAB_CHECK(!ds.train.empty() && !ds.test.empty(), "lab: task {} produced an empty split", ds.task);
  return ds;
}

train::lr_schedule run_schedule(const nlohmann::json& tj, const train::optim_config& oc, std::int64_t steps) {
  const auto shape = train::schedule_shape(get_or<std::string>(tj, "schedule", "cosine"), "lab: train.schedule");
  return {oc.lr, shape == train::lr_schedule::shape::constant ? oc.lr : oc.final_lr(), oc.warmup(steps), steps, shape,
          get_or<double>(tj, "decay_fraction", 0.2)};
}

// What the steps of one run share: its data, model, optimizer, store and checkpoint.
struct run_state {
  explicit run_state(const nlohmann::json& train) : tj(train) {}
  const nlohmann::json& tj;  // the run's [train]
  std::uint64_t seed = 0;
  std::FILE* progress = nullptr;
  std::chrono::steady_clock::time_point t_start;
  tasks::dataset ds;
  models::lm_config mc;
  std::unique_ptr<models::causal_lm> model;
  train::optim_config oc;
  budget bud;
  train::lr_schedule sched;
  bool per_query = false;
  std::unique_ptr<train::adamw> optim;
  std::unique_ptr<store::results_store> db;  // null when the run touches no store (tests)
  std::int64_t store_run = -1;
  fs::path ckpt;  // empty: no checkpoints
  float last_loss = NAN;
};

void save_run(const run_state& s, std::int64_t at) {
  if (s.ckpt.empty()) return;
  nlohmann::json state{{"step", at}, {"seed", s.seed}};
  if (std::isfinite(s.last_loss)) state["last_loss"] = s.last_loss;
  train::save_checkpoint(s.ckpt, {s.model.get(), s.optim.get(), std::move(state), std::nullopt});
}

// Size, budget and (for zoo models) the inference state per sequence at the longest test
// input (KV caches grow with it, a recurrent state does not), so that a report can plot
// recall against memory (Zoology).
void log_run_info(const run_state& s) {
  if (!s.db) return;
  s.db->log_metric(s.store_run, 0, "n_params", static_cast<double>(s.model->num_parameters()));
  s.db->log_metric(s.store_run, 0, "train_flops", s.bud.flops_per_step * static_cast<double>(s.bud.steps));
  s.db->log_metric(s.store_run, 0, "train_tokens", s.bud.tokens_per_step * static_cast<double>(s.bud.steps));  // D of a scaling fit
  s.db->log_metric(s.store_run, 0, "steps", static_cast<double>(s.bud.steps));
  if (const auto* zoo = dynamic_cast<const models::lm*>(s.model.get())) {
    std::size_t longest = 0;
    for (const auto& e : s.ds.test) longest = std::max(longest, e.input.size());
    s.db->log_metric(s.store_run, 0, "state_bytes", static_cast<double>(zoo->state_size(static_cast<std::int64_t>(longest))));
  }
}

std::vector<tasks::slice_accuracy> evaluate_test(const run_state& s, std::size_t limit) {
  auto preds = predict(*s.model, s.ds, s.ds.test, limit, 64);
  std::vector<tasks::example> sub(s.ds.test.begin(), s.ds.test.begin() + static_cast<std::ptrdiff_t>(preds.size()));
  return s.per_query ? token_accuracy_by_slice(sub, preds) : tasks::accuracy_by_slice(sub, preds);
}

// Training from `step` to the budget's end: batches are a pure function of (seed, step), so a
// resumed run sees the same ones. The loss goes to the store every 10 steps (flushed at each
// checkpoint), test accuracy every eval_every steps, progress every 25.
class training_pass {
 public:
  explicit training_pass(run_state& s)
      : s_(s),
        batch_stream_(s.seed ^ 0xBA7C4ull),
        sampler_(s.ds.train, s.oc.batch_size, get_or<bool>(s.tj, "batch_by_length", false)),
        eval_every_(get_or<std::int64_t>(s.tj, "eval_every", 0)),
        eval_examples_(get_or<std::int64_t>(s.tj, "eval_examples", 512)),
        time_limit_(get_or<double>(s.tj, "time_limit_s", 0.0)),
        ckpt_every_(std::max<std::int64_t>(50, s.bud.steps / 5)) {}

  void run(std::int64_t step) {
    t_train_ = std::chrono::steady_clock::now();
    step0_ = step;
    train::loop_callbacks cb;
    cb.batch = [this](std::int64_t at) { return batch(at); };
    cb.after_step = [this](std::int64_t done, float loss) { after_step(done, loss); };
    train::train_steps(*s_.model, *s_.optim, s_.sched, s_.oc.grad_clip, step, s_.bud.steps, cb);
    flush();
  }

 private:
  train::step_batch batch(std::int64_t at) const {
    rng r = batch_stream_.fork(static_cast<std::uint64_t>(at));
    auto b = tasks::make_batch(s_.ds.train, sampler_.draw(r), s_.ds.pad_id);
    return train::step_batch{ids_tensor(b.input, b.B, b.T), ids_tensor(b.target, b.B, b.T), r.next_u64()};
  }

  void after_step(std::int64_t done, float loss) {
    const std::int64_t steps = s_.bud.steps;
    s_.last_loss = loss;
    ema_ = std::isnan(ema_) ? s_.last_loss : 0.95 * ema_ + 0.05 * s_.last_loss;
    if (done % 10 == 0 || done == steps) log_loss(done);
    if (eval_every_ > 0 && done % eval_every_ == 0 && done < steps) {
      const double acc = overall_accuracy(evaluate_test(s_, static_cast<std::size_t>(std::min<std::int64_t>(eval_examples_, 256))));
      if (s_.db) s_.db->log_metric(s_.store_run, done, "test_accuracy", acc);
    }
    if (s_.progress && (done % 25 == 0 || done == steps)) print_progress(done);
    if (done % ckpt_every_ == 0 && done < steps) {
      flush();
      save_run(s_, done);
    }
    if (time_limit_ > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - s_.t_start).count() > time_limit_)
      throw error(fmt::format("lab: train.time_limit_s {} reached at step {}", time_limit_, done),
                  "raise train.time_limit_s or lower train.steps");
  }

  // The loss, queued; model-specific numbers (MoE aux loss, dropped tokens, MoD kept share)
  // logged beside it.
  void log_loss(std::int64_t done) {
    pending_.emplace_back(done, s_.last_loss);
    if (!s_.db) return;
    const nlohmann::json extra = s_.model->last_metrics();  // keep alive while iterating
    for (auto& [k, v] : extra.items())
      if (v.is_number()) s_.db->log_metric(s_.store_run, done, k, v.get<double>());
  }

  void print_progress(std::int64_t done) const {
    const std::int64_t steps = s_.bud.steps;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train_).count();
    const double rate = static_cast<double>(done - step0_) / std::max(el, 1e-9);
    std::fprintf(s_.progress, "step %lld/%lld  loss %.4f  %.1f steps/s  ETA %.0fs\n", static_cast<long long>(done),
                 static_cast<long long>(steps), ema_, rate, static_cast<double>(steps - done) / std::max(rate, 1e-9));
    std::fflush(s_.progress);
  }

  void flush() {
    if (!s_.db) return;
    for (auto& [st, l] : pending_) s_.db->log_metric(s_.store_run, st, "train_loss", l);
    pending_.clear();
  }

  run_state& s_;
  const rng batch_stream_;
  const batch_sampler sampler_;
  const std::int64_t eval_every_, eval_examples_;
  const double time_limit_;
  const std::int64_t ckpt_every_;
  double ema_ = NAN;
  std::vector<std::pair<std::int64_t, double>> pending_;  // (step, loss) not yet in the store
  std::chrono::steady_clock::time_point t_train_;
  std::int64_t step0_ = 0;
};

// Inference-time RoPE rescaling (no retraining): "linear:4;ntk:4;yarn:4" -> splits "test@yarn:4",
// with the training length as the original context (a spec's commas sweep, one value per run;
// ';' keeps several in one run).
void evaluate_rope_scalings(const run_state& s) {
  auto* zoo = dynamic_cast<models::lm*>(s.model.get());
  LMLAB_CHECK(zoo != nullptr && s.mc.uses_rope(), "lab: train.eval_rope_scalings needs a RoPE model (model.pos_encoding = rope)");
  const std::string list = s.tj["eval_rope_scalings"].get<std::string>();
  for (std::size_t pos = 0; pos <= list.size();) {
    std::size_t comma = list.find_first_of(",;", pos);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const auto colon = item.find(':');
    models::rope_scaling_config sc;
    sc.type = item.substr(0, colon);
    sc.factor = colon == std::string::npos ? 1.0 : std::stod(item.substr(colon + 1));
    sc.original_max_position_embeddings = longest_train(s.ds);
    zoo->set_rope_scaling(sc);
    auto slices = evaluate_test(s, s.ds.test.size());
    if (!s.db) continue;
    for (const auto& sl : slices) s.db->log_evaluation(s.store_run, "test@" + item, sl.slice, "accuracy", sl.accuracy(), sl.n);
    s.db->log_evaluation(s.store_run, "test@" + item, "all", "accuracy", overall_accuracy(slices),
                         static_cast<std::int64_t>(s.ds.test.size()));
  }
  zoo->set_rope_scaling(s.mc.rope_scaling);
}

// Final evaluation: every test example, per slice (exact match and per-query accuracy), RoPE
// rescalings if asked, and a train subset for the generalisation gap. Returns the test accuracy.
double final_evaluation(const run_state& s) {
  auto test_preds = predict(*s.model, s.ds, s.ds.test, s.ds.test.size(), 64);
  auto exact_slices = tasks::accuracy_by_slice(s.ds.test, test_preds);
  auto token_slices = token_accuracy_by_slice(s.ds.test, test_preds);
  auto test_slices = s.per_query ? token_slices : exact_slices;
  const double test_accuracy = overall_accuracy(test_slices);
  if (s.db) {
    for (const auto& sl : exact_slices) s.db->log_evaluation(s.store_run, "test", sl.slice, "exact_match", sl.accuracy(), sl.n);
    for (const auto& sl : token_slices) s.db->log_evaluation(s.store_run, "test", sl.slice, "token_accuracy", sl.accuracy(), sl.n);
  }
  if (s.tj.contains("eval_rope_scalings")) evaluate_rope_scalings(s);
  const std::int64_t eval_examples = get_or<std::int64_t>(s.tj, "eval_examples", 512);
  auto train_preds = predict(*s.model, s.ds, s.ds.train, static_cast<std::size_t>(eval_examples), 64);
  std::vector<tasks::example> train_sub(s.ds.train.begin(), s.ds.train.begin() + static_cast<std::ptrdiff_t>(train_preds.size()));
  auto train_slices =
      s.per_query ? token_accuracy_by_slice(train_sub, train_preds) : tasks::accuracy_by_slice(train_sub, train_preds);
  if (s.db) {
    for (const auto& sl : test_slices) s.db->log_evaluation(s.store_run, "test", sl.slice, "accuracy", sl.accuracy(), sl.n);
    for (const auto& sl : test_slices) s.db->log_evaluation(s.store_run, "test", sl.slice, "difficulty", sl.difficulty, sl.n);
    s.db->log_evaluation(s.store_run, "test", "all", "accuracy", test_accuracy, static_cast<std::int64_t>(s.ds.test.size()));
    s.db->log_evaluation(s.store_run, "train", "all", "accuracy", overall_accuracy(train_slices),
                         static_cast<std::int64_t>(train_sub.size()));
    s.db->log_metric(s.store_run, s.bud.steps, "final_train_loss", s.last_loss);
  }
  return test_accuracy;
}

}  // namespace

// The [train] keys a spec shares with `lmlab train`, over the one set of defaults
// (train/config.hpp optim_config).
train::optim_config shared_train_keys(const nlohmann::json& tj) {
  train::optim_config o;
  o.batch_size = get_or<std::int64_t>(tj, "batch_size", o.batch_size);
  o.lr = get_or<double>(tj, "lr", o.lr);
  o.min_lr = get_or<double>(tj, "min_lr", o.min_lr);
  o.warmup_steps = get_or<std::int64_t>(tj, "warmup_steps", o.warmup_steps);
  o.weight_decay = get_or<double>(tj, "weight_decay", o.weight_decay);
  o.beta1 = get_or<double>(tj, "beta1", o.beta1);
  o.beta2 = get_or<double>(tj, "beta2", o.beta2);
  o.grad_clip = get_or<double>(tj, "grad_clip", o.grad_clip);
  return o;
}

// The run's model config: the spec's [model] (lab/spec.hpp lm_model_json) with the task's
// vocabulary and longest sequence as vocab_size and n_ctx where the spec leaves them out.
models::lm_config run_model_config(const nlohmann::json& mj, const tasks::dataset& ds) {
  nlohmann::json mcj = lm_model_json(mj);
  if (!mcj.contains("vocab_size")) mcj["vocab_size"] = ds.vocab.size();
  LMLAB_CHECK(mcj["vocab_size"].get<std::int64_t>() >= ds.vocab.size(),
              "lab: model.vocab_size {} is smaller than the task's vocabulary {}", mcj["vocab_size"].get<std::int64_t>(),
              ds.vocab.size());
  if (!mcj.contains("n_ctx")) mcj["n_ctx"] = longest(ds);
  LMLAB_CHECK_HINT(mcj["n_ctx"].get<std::int64_t>() >= longest(ds), "raise model.n_ctx or shorten the task's sequences",
                   "lab: model.n_ctx {} is shorter than the task's longest sequence {}", mcj["n_ctx"].get<std::int64_t>(),
                   longest(ds));
  const models::lm_config mc = models::lm_config_from_json(mcj, "model");
  mc.validate("model.");
  return mc;
}

run_result train_and_evaluate(const nlohmann::json& config, std::uint64_t seed, const fs::path& dir,
                              const fs::path& store_path, std::int64_t store_run, std::FILE* progress) {
  run_state s(config.at("train"));
  s.seed = seed;
  s.progress = progress;
  s.t_start = std::chrono::steady_clock::now();
  reject_unsupported(s.tj);
  s.ds = build_checked_task(config.at("task"), seed);
  s.mc = run_model_config(config.at("model"), s.ds);
  s.model = models::make_model(s.mc, seed);
  s.oc = shared_train_keys(s.tj);
  s.bud = step_budget(s.tj, *s.model, s.ds, s.oc.batch_size);
  s.sched = run_schedule(s.tj, s.oc, s.bud.steps);
  s.per_query = scored_per_query(config.at("task").at("name").get<std::string>());
  s.optim = std::make_unique<train::adamw>(s.model->named_parameters(),
                                           train::adamw_options{s.oc.beta1, s.oc.beta2, s.oc.eps, s.oc.weight_decay});
  if (store_run >= 0) s.db = std::make_unique<store::results_store>(store_path);
  s.store_run = store_run;
  s.ckpt = dir.empty() ? fs::path() : dir / "checkpoint";
  const std::int64_t step = resume_run(s.ckpt, *s.model, *s.optim, s.last_loss, progress);
  log_run_info(s);

  training_pass(s).run(step);
  run_result res;
  res.n_params = s.model->num_parameters();
  res.steps = s.bud.steps;
  res.final_train_loss = s.last_loss;
  res.test_accuracy = final_evaluation(s);
  save_run(s, s.bud.steps);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.t_start).count();
  if (s.db) s.db->log_metric(store_run, s.bud.steps, "seconds", res.seconds);
  return res;
}

void execute_run(const exec_options& opt) {
  set_num_threads(opt.threads);
  store::results_store db(opt.store);
  auto info = db.find_run("lab", opt.run);
  LMLAB_CHECK_HINT(info.has_value(), "runs are created by `lmlab lab run SPEC`", "{}: no lab run named '{}'",
                   opt.store.string(), opt.run);
  db.mark_running(info->id);
  const std::uint64_t seed = info->config.value("derived_seed", static_cast<std::uint64_t>(info->seed.value_or(0)));
  auto r = run_config_once({info->config, seed, opt.dir, &db, info->id, opt.progress});
  // This process is the run: its CPU time (user + system, this sitting only when resumed) is
  // what the run cost, whatever else shared the machine (docs/lab.md, the quick-suite budget).
  db.log_metric(info->id, r.steps, "cpu_seconds", process_cpu_seconds());
  db.mark_finished(info->id);
  if (opt.progress)
    std::fprintf(opt.progress, "lab: finished %s: test accuracy %.4f, final loss %.4f, %lld params, %.1fs\n",
                 opt.run.c_str(), r.test_accuracy, r.final_train_loss, static_cast<long long>(r.n_params), r.seconds);
}

}  // namespace lmlab::lab
