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
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "models/lm.hpp"
#include "ops/gemm.hpp"
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

// The run's steps from its budget (train.steps, else train.tokens, else train.flops), and the
// training FLOPs of one step: the model's own count per token (PaLM's 3x forward, with each
// mixer's sequence work and MoD's routed share) at the mean training length.
struct budget {
  std::int64_t steps = 0;
  double flops_per_step = 0;
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
  return {steps, flops_per_step};
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

}  // namespace

run_result train_and_evaluate(const nlohmann::json& config, std::uint64_t seed, const fs::path& dir,
                              const fs::path& store_path, std::int64_t store_run, std::FILE* progress) {
  const auto t_start = std::chrono::steady_clock::now();
  const nlohmann::json& mj = config.at("model");
  const nlohmann::json& tj = config.at("train");
  reject_unsupported(tj);

  tasks::dataset ds = tasks::build_task(config.at("task"), seed);
  tasks::validate(ds);
  LMLAB_CHECK(!ds.train.empty() && !ds.test.empty(), "lab: task {} produced an empty split", ds.task);

  const std::int64_t train_len = longest_train(ds);
  const models::lm_config mc = run_model_config(mj, ds);
  auto model = models::make_model(mc, seed);
  const train::optim_config oc = shared_train_keys(tj);
  const std::int64_t B = oc.batch_size;
  const budget bud = step_budget(tj, *model, ds, B);
  const std::int64_t steps = bud.steps;
  const double flops_per_step = bud.flops_per_step;
  const double lr = oc.lr;
  const auto shape = train::schedule_shape(get_or<std::string>(tj, "schedule", "cosine"), "lab: train.schedule");
  train::lr_schedule sched{lr, shape == train::lr_schedule::shape::constant ? lr : oc.final_lr(), oc.warmup(steps), steps,
                           shape, get_or<double>(tj, "decay_fraction", 0.2)};
  const double clip = oc.grad_clip;
  const std::int64_t eval_every = get_or<std::int64_t>(tj, "eval_every", 0);
  const std::int64_t eval_examples = get_or<std::int64_t>(tj, "eval_examples", 512);
  const double time_limit = get_or<double>(tj, "time_limit_s", 0.0);
  const std::int64_t ckpt_every = std::max<std::int64_t>(50, steps / 5);

  train::adamw optim(model->named_parameters(), {oc.beta1, oc.beta2, oc.eps, oc.weight_decay});

  std::unique_ptr<store::results_store> db;
  if (store_run >= 0) db = std::make_unique<store::results_store>(store_path);

  const fs::path ckpt = dir.empty() ? fs::path() : dir / "checkpoint";
  float last_loss = NAN;
  std::int64_t step = resume_run(ckpt, *model, optim, last_loss, progress);

  if (db) {
    nlohmann::json info = {{"n_params", model->num_parameters()}, {"vocab", ds.vocab.size()}, {"n_ctx", mc.n_ctx},
                           {"steps", steps}, {"task_summary", tasks::summary(ds)}};
    db->log_metric(store_run, 0, "n_params", static_cast<double>(model->num_parameters()));
    db->log_metric(store_run, 0, "train_flops", flops_per_step * static_cast<double>(steps));
    db->log_metric(store_run, 0, "steps", static_cast<double>(steps));
    // Inference state per sequence at the longest test input (KV caches grow with it, a
    // recurrent state does not), so that a report can plot recall against memory (Zoology).
    if (const auto* zoo = dynamic_cast<const models::lm*>(model.get())) {
      std::size_t longest = 0;
      for (const auto& e : ds.test) longest = std::max(longest, e.input.size());
      db->log_metric(store_run, 0, "state_bytes", static_cast<double>(zoo->state_size(static_cast<std::int64_t>(longest))));
    }
  }

  auto save = [&](std::int64_t at) {
    if (ckpt.empty()) return;
    nlohmann::json state{{"step", at}, {"seed", seed}};
    if (std::isfinite(last_loss)) state["last_loss"] = last_loss;
    train::save_checkpoint(ckpt, {model.get(), &optim, std::move(state), std::nullopt});
  };
  // Tasks whose examples hold many independent queries (MQAR, induction, selective copy) are
  // scored per query, as zoology does; the rest by exact match of the whole answer.
  const std::string task_name = config.at("task").at("name").get<std::string>();
  const bool per_query = task_name == "mqar" || task_name == "induction" || task_name == "selective_copy";
  auto evaluate_test = [&](std::size_t limit) {
    auto preds = predict(*model, ds, ds.test, limit, 64);
    std::vector<tasks::example> sub(ds.test.begin(), ds.test.begin() + static_cast<std::ptrdiff_t>(preds.size()));
    return per_query ? token_accuracy_by_slice(sub, preds) : tasks::accuracy_by_slice(sub, preds);
  };

  run_result res;
  res.n_params = model->num_parameters();
  const rng batch_stream(seed ^ 0xBA7C4ull);
  double ema = NAN;
  std::vector<std::pair<std::int64_t, double>> pending;  // (step, loss) not yet in the store
  auto flush = [&]() {
    if (!db) return;
    for (auto& [s, l] : pending) db->log_metric(store_run, s, "train_loss", l);
    pending.clear();
  };
  const auto t_train = std::chrono::steady_clock::now();
  const std::int64_t step0 = step;
  const batch_sampler sampler(ds.train, B, get_or<bool>(tj, "batch_by_length", false));
  train::loop_callbacks cb;
  cb.batch = [&](std::int64_t at) {
    rng r = batch_stream.fork(static_cast<std::uint64_t>(at));
    auto b = tasks::make_batch(ds.train, sampler.draw(r), ds.pad_id);
    return train::step_batch{ids_tensor(b.input, b.B, b.T), ids_tensor(b.target, b.B, b.T), r.next_u64()};
  };
  cb.after_step = [&](std::int64_t done, float loss) {
    last_loss = loss;
    ema = std::isnan(ema) ? last_loss : 0.95 * ema + 0.05 * last_loss;
    if (done % 10 == 0 || done == steps) {
      pending.emplace_back(done, last_loss);
      // Model-specific numbers (MoE aux loss, dropped tokens, MoD kept share), logged beside the loss.
      if (db) {
        const nlohmann::json extra = model->last_metrics();  // keep alive while iterating
        for (auto& [k, v] : extra.items())
          if (v.is_number()) db->log_metric(store_run, done, k, v.get<double>());
      }
    }
    if (eval_every > 0 && done % eval_every == 0 && done < steps) {
      const double acc = overall_accuracy(evaluate_test(static_cast<std::size_t>(std::min<std::int64_t>(eval_examples, 256))));
      if (db) db->log_metric(store_run, done, "test_accuracy", acc);
    }
    if (progress && (done % 25 == 0 || done == steps)) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
      const double rate = static_cast<double>(done - step0) / std::max(el, 1e-9);
      std::fprintf(progress, "step %lld/%lld  loss %.4f  %.1f steps/s  ETA %.0fs\n", static_cast<long long>(done),
                   static_cast<long long>(steps), ema, rate, static_cast<double>(steps - done) / std::max(rate, 1e-9));
      std::fflush(progress);
    }
    if (done % ckpt_every == 0 && done < steps) {
      flush();
      save(done);
    }
    if (time_limit > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() > time_limit)
      throw error(fmt::format("lab: train.time_limit_s {} reached at step {}", time_limit, done),
                  "raise train.time_limit_s or lower train.steps");
  };
  train::train_steps(*model, optim, sched, clip, step, steps, cb);
  flush();
  res.steps = steps;
  res.final_train_loss = last_loss;

  // Final evaluation: every test example, per slice; a train subset for the generalisation gap.
  auto test_preds = predict(*model, ds, ds.test, ds.test.size(), 64);
  auto exact_slices = tasks::accuracy_by_slice(ds.test, test_preds);
  auto token_slices = token_accuracy_by_slice(ds.test, test_preds);
  auto test_slices = per_query ? token_slices : exact_slices;
  res.test_accuracy = overall_accuracy(test_slices);
  if (db) {
    for (const auto& s : exact_slices) db->log_evaluation(store_run, "test", s.slice, "exact_match", s.accuracy(), s.n);
    for (const auto& s : token_slices) db->log_evaluation(store_run, "test", s.slice, "token_accuracy", s.accuracy(), s.n);
  }
  // Inference-time RoPE rescaling (no retraining): "linear:4;ntk:4;yarn:4" -> splits "test@yarn:4"
  // (a spec's commas sweep, one value per run; ';' keeps several in one run).
  if (tj.contains("eval_rope_scalings")) {
    auto* zoo = dynamic_cast<models::lm*>(model.get());
    LMLAB_CHECK(zoo != nullptr && mc.uses_rope(), "lab: train.eval_rope_scalings needs a RoPE model (model.pos_encoding = rope)");
    std::string list = tj["eval_rope_scalings"].get<std::string>();
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
      sc.original_max_position_embeddings = train_len;
      zoo->set_rope_scaling(sc);
      auto slices = evaluate_test(ds.test.size());
      if (db) {
        for (const auto& sl : slices) db->log_evaluation(store_run, "test@" + item, sl.slice, "accuracy", sl.accuracy(), sl.n);
        db->log_evaluation(store_run, "test@" + item, "all", "accuracy", overall_accuracy(slices),
                           static_cast<std::int64_t>(ds.test.size()));
      }
    }
    zoo->set_rope_scaling(mc.rope_scaling);
  }
  auto train_preds = predict(*model, ds, ds.train, static_cast<std::size_t>(eval_examples), 64);
  std::vector<tasks::example> train_sub(ds.train.begin(), ds.train.begin() + static_cast<std::ptrdiff_t>(train_preds.size()));
  auto train_slices = per_query ? token_accuracy_by_slice(train_sub, train_preds) : tasks::accuracy_by_slice(train_sub, train_preds);
  if (db) {
    for (const auto& s : test_slices) db->log_evaluation(store_run, "test", s.slice, "accuracy", s.accuracy(), s.n);
    for (const auto& s : test_slices) db->log_evaluation(store_run, "test", s.slice, "difficulty", s.difficulty, s.n);
    db->log_evaluation(store_run, "test", "all", "accuracy", res.test_accuracy, static_cast<std::int64_t>(ds.test.size()));
    db->log_evaluation(store_run, "train", "all", "accuracy", overall_accuracy(train_slices),
                       static_cast<std::int64_t>(train_sub.size()));
    db->log_metric(store_run, steps, "final_train_loss", last_loss);
  }
  save(steps);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (db) db->log_metric(store_run, steps, "seconds", res.seconds);
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
