// Probe runner: see runner.hpp.
#include "probe/runner.hpp"

#include <chrono>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <ostream>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lmlab_version.hpp"

namespace lmlab::probe {
namespace {
using json = nlohmann::json;

std::string timestamp_now() {
  // lm-evaluation-harness style: 2024-05-01T12-34-56.123456 (no ':' so it is a valid file name).
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", &tm);
  return fmt::format("{}.{:06d}", buf, us);
}

std::string sanitize(std::string s) {
  for (auto& ch : s)
    if (ch == '/' || ch == ':' || ch == ' ') ch = '_';
  return s;
}

json messages_json(const std::vector<message>& m) {
  json a = json::array();
  for (const auto& x : m) a.push_back({{"role", x.role}, {"content", x.content}});
  return a;
}

// What the model said for the challenge turn: its text, or the letter it put most mass on.
std::string as_reply(const mc_score& s) {
  if (!s.response.empty() && s.path != "top_logprobs") return s.response;
  return s.pred >= 0 ? "The answer is " + choice_label(s.pred) + "." : s.response;
}

json eval_item(client& c, const capabilities& caps, const suite& su, const item& it, mc_mode mode,
               const sampling_options& so) {
  json s = {{"doc_id", it.id}, {"doc", it.doc}, {"arguments", messages_json(it.messages)}, {"repeat", it.repeat}};
  const gen_request q = request_of(it);
  if (it.n_choices > 0) {
    s["target"] = choice_label(it.answer);
    auto sc = score_multiple_choice(c, caps, q, it.n_choices, mode);
    s["score_path"] = sc.path;
    s["resps"] = json::array({json::array({sc.response})});
    s["pred"] = sc.pred;
    s["filtered_resps"] = json::array({sc.pred >= 0 ? choice_label(sc.pred) : ""});
    s["correct"] = sc.pred == it.answer;
    if (!sc.probs.empty()) {
      s["probs"] = sc.probs;
      s["logprobs"] = sc.logprobs;
      s["confidence"] = *sc.confidence;
    }
    if (!sc.note.empty()) s["note"] = sc.note;
    bool cached = sc.from_cache;
    if (!it.challenge.empty()) {
      gen_request q2 = q;
      q2.messages.push_back({"assistant", as_reply(sc)});
      q2.messages.push_back({"user", it.challenge});
      auto sc2 = score_multiple_choice(c, caps, q2, it.n_choices, mode);
      cached = cached && sc2.from_cache;
      s["challenge"] = it.challenge;
      s["pred_after"] = sc2.pred;
      s["score_path_after"] = sc2.path;
      s["correct_after"] = sc2.pred == it.answer;
      s["resps"][0].push_back(sc2.response);
      s["flipped"] = sc.pred >= 0 && sc2.pred >= 0 && sc2.pred != sc.pred;
      if (!sc2.probs.empty()) s["confidence_after"] = *sc2.confidence;
    }
    s["from_cache"] = cached;
  } else {
    s["target"] = it.target;
    const auto r = c.generate(caps.preferred, q);
    s["resps"] = json::array({json::array({r.text})});
    s["score_path"] = "generated_text";
    s["from_cache"] = r.from_cache;
    su.score_text(it, r.text, s);
    add_samples(c, caps, su, it, s, so);
  }
  s["acc"] = s.value("correct", false) ? 1.0 : 0.0;
  return s;
}

}  // namespace

void parallel_for(std::size_t n, int concurrency, const std::function<void(std::size_t)>& fn,
                  const std::atomic<bool>* stop) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr first;
  std::mutex mu;
  const auto worker = [&] {
    for (;;) {
      if (stop && stop->load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lk(mu);
        if (!first) first = std::current_exception();
        next.store(n);  // hand out nothing more
      }
    }
  };
  const int k = std::max(1, std::min<int>(concurrency, static_cast<int>(n)));
  std::vector<std::thread> ts;
  for (int t = 1; t < k; ++t) ts.emplace_back(worker);
  worker();
  for (auto& t : ts) t.join();
  if (first) std::rethrow_exception(first);
}

namespace {

// One suite's items, evaluated: samples[i] where done[i], else errors[i] (empty: not reached,
// the run was stopped).
struct suite_outcome {
  std::vector<item> items;
  std::vector<json> samples;
  std::vector<char> done;
  std::vector<std::string> errors;
};

suite_outcome evaluate_suite(client& c, store::results_store& db, const run_options& opt, const capabilities& caps,
                             const suite& su, std::int64_t run_id) {
  suite_outcome o;
  o.items = su.build(opt.suite_opts);
  const auto& items = o.items;
  o.samples.resize(items.size());
  o.done.assign(items.size(), 0);
  o.errors.resize(items.size());
  std::mutex mu;
  // Items that ask for a concurrency level run in their own batch at that level.
  std::map<int, std::vector<std::size_t>> batches;
  for (std::size_t i = 0; i < items.size(); ++i) batches[items[i].concurrency].push_back(i);
  std::size_t finished = 0;
  for (const auto& batch : batches) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in the lambda.
    const int level = batch.first;
    const std::vector<std::size_t>& idx = batch.second;
    if (opt.stop && opt.stop->load()) break;
    parallel_for(idx.size(), level > 0 ? level : opt.concurrency, [&](std::size_t k) {
      const std::size_t i = idx[k];
      try {
        auto s = eval_item(c, caps, su, items[i], opt.scoring, opt.samples);
        db.put_sample(run_id, su.name(), items[i].id, items[i].repeat, s);
        std::lock_guard lk(mu);
        o.samples[i] = std::move(s);
        o.done[i] = 1;
        if (opt.log && (++finished % 50 == 0 || finished == items.size()))
          *opt.log << su.name() << ": " << finished << "/" << items.size() << "\n";
      } catch (const std::exception& e) {
        std::lock_guard lk(mu);
        o.errors[i] = e.what();
      }
    }, opt.stop);
  }
  return o;
}

// Samples file: every scored sample plus the failed ones with their error, in item order.
std::string samples_jsonl(const suite_outcome& o) {
  std::string lines;
  for (std::size_t i = 0; i < o.items.size(); ++i) {
    if (o.done[i]) lines += o.samples[i].dump() + "\n";
    else if (!o.errors[i].empty())
      lines += json({{"doc_id", o.items[i].id}, {"doc", o.items[i].doc}, {"repeat", o.items[i].repeat}, {"error", o.errors[i]}}).dump() + "\n";
  }
  return lines;
}

// The lm-evaluation-harness results file's per-task tables, filled suite by suite.
struct harness_tables {
  json results = json::object(), configs = json::object(), versions = json::object(), nsamples = json::object(),
       nshot = json::object(), extras = json::object();
};

// A suite's aggregate: into the store's evaluations and the results file's tables.
void record_aggregate(store::results_store& db, const run_options& opt, const suite& su, std::int64_t run_id,
                      const std::vector<json>& ok, std::size_t n_items, harness_tables& h) {
  auto agg = su.aggregate(ok);
  add_sample_aggregates(ok, agg);
  json r = {{"alias", su.name()}};
  for (auto it = agg.metrics.begin(); it != agg.metrics.end(); ++it) {
    // lm-evaluation-harness keys are "<metric>,<filter>"; our only filter is "none".
    r[it.key() + ",none"] = it.value();
    if (it.value().is_number()) db.log_evaluation(run_id, su.name(), "all", it.key(), it.value().get<double>(),
                                                  static_cast<std::int64_t>(ok.size()));
  }
  for (const auto& row : agg.slices) db.log_evaluation(run_id, su.name() + "/" + row.split, row.slice, row.metric, row.value, row.n);
  h.results[su.name()] = r;
  json slices = json::array();
  for (const auto& row : agg.slices)
    slices.push_back({{"split", row.split}, {"slice", row.slice}, {"metric", row.metric}, {"value", row.value}, {"n", row.n}});
  h.extras[su.name()] = {{"slices", slices}, {"extra", agg.extra}};
  h.configs[su.name()] = {{"task", su.name()}, {"description", su.description()}, {"seed", opt.suite_opts.seed},
                          {"n", opt.suite_opts.n}, {"output_type", "generate_until"}};
  h.versions[su.name()] = 1;
  h.nshot[su.name()] = 0;
  h.nsamples[su.name()] = {{"original", n_items}, {"effective", ok.size()}};
}

// The run's results file (lm-evaluation-harness layout).
json results_json(client& c, const run_options& opt, const capabilities& caps, harness_tables h, const run_summary& out,
                  const std::string& ts, double secs) {
  const auto& cfg = c.config();
  return {{"results", std::move(h.results)},
          {"configs", std::move(h.configs)},
          {"versions", std::move(h.versions)},
          {"n-shot", std::move(h.nshot)},
          {"n-samples", std::move(h.nsamples)},
          {"lmlab", std::move(h.extras)},
          {"config", {{"model", cfg.provider}, {"model_args", "model=" + cfg.model + ",base_url=" + cfg.base_url},
                      {"batch_size", opt.concurrency}, {"capabilities", caps.to_json()},
                      {"scoring", opt.scoring == mc_mode::auto_ ? "auto" : "forced"}}},
          {"model_name", cfg.provider + "/" + cfg.model},
          {"git_hash", git_hash},
          {"date", ts},
          {"run_id", out.run_id},
          {"requests", {{"http_attempts", c.stats().requests.load()}, {"retries", c.stats().retries.load()},
                        {"cache_hits", c.stats().cache_hits.load()}, {"failed", out.n_failed}}},
          {"total_evaluation_time_seconds", fmt::format("{:.3f}", secs)}};
}

// Registers the run in the store (resumed by name) and marks it running.
void open_run(store::results_store& db, const client& c, const run_options& opt, run_summary& out) {
  const auto& cfg = c.config();
  std::string suite_list;
  for (const auto& s : opt.suites) suite_list += (suite_list.empty() ? "" : ",") + s;
  out.run_name = opt.run_name.empty()
                     ? fmt::format("{}/{} {} seed={}", cfg.provider, cfg.model, suite_list, opt.suite_opts.seed)
                     : opt.run_name;
  const json run_config = {{"model", cfg.provider + "/" + cfg.model}, {"base_url", cfg.base_url},
                           {"suites", opt.suites},  {"seed", opt.suite_opts.seed},
                           {"n", opt.suite_opts.n}, {"langs", opt.suite_opts.langs},
                           {"concurrency", opt.concurrency}, {"stream", cfg.stream}};
  out.run_id = db.ensure_run("probe", out.run_name, run_config, static_cast<std::int64_t>(opt.suite_opts.seed));
  db.mark_running(out.run_id);
}

void close_run(store::results_store& db, const run_summary& out, const std::vector<std::string>& failures) {
  if (out.interrupted) {
    db.mark_failed(out.run_id, fmt::format("interrupted with {} samples left; rerun the same command to continue",
                                           out.n_skipped + out.n_failed));
  } else if (out.n_failed > 0) {
    std::string first;
    for (const auto& f : failures) first += (first.empty() ? "" : "; ") + f;
    db.mark_failed(out.run_id, fmt::format("{} samples failed after retries ({}); rerun to retry them", out.n_failed, first));
  } else {
    db.mark_finished(out.run_id);
  }
}

}  // namespace

run_summary run_probe(client& c, store::results_store& db, const run_options& opt) {
  LMLAB_CHECK_HINT(!opt.suites.empty(), "pass --suite sycophancy,calibration,...", "probe run: no suites given");
  std::vector<const suite*> suites;
  for (const auto& name : opt.suites) suites.push_back(&find_suite(name));
  run_summary out;
  const auto& cfg = c.config();
  open_run(db, c, opt, out);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string ts = timestamp_now();
  capabilities caps;
  try {
    caps = c.detect_capabilities();
  } catch (const std::exception& e) {
    db.mark_failed(out.run_id, fmt::format("capability detection failed: {}", e.what()));
    throw;
  }
  if (opt.log) *opt.log << "capabilities: " << caps.to_json().dump() << "\n";

  const auto dir = opt.output_dir / sanitize(cfg.provider + "__" + cfg.model);
  harness_tables tables;
  std::vector<std::string> failures;
  for (const suite* su : suites) {
    const suite_outcome o = evaluate_suite(c, db, opt, caps, *su, out.run_id);
    std::vector<json> ok;
    std::size_t n_err = 0, n_skip = 0;
    for (std::size_t i = 0; i < o.items.size(); ++i) {
      if (o.done[i]) {
        ok.push_back(o.samples[i]);
        out.n_cached += o.samples[i].value("from_cache", false);
      } else if (!o.errors[i].empty()) {
        ++n_err;
        if (failures.size() < 3) failures.push_back(fmt::format("{}/{}: {}", su->name(), o.items[i].id, o.errors[i]));
      } else {
        ++n_skip;
      }
    }
    out.n_samples += static_cast<std::int64_t>(ok.size());
    out.n_failed += static_cast<std::int64_t>(n_err);
    out.n_skipped += static_cast<std::int64_t>(n_skip);
    const auto sample_file = dir / fmt::format("samples_{}_{}.jsonl", su->name(), ts);
    write_file_atomic(sample_file, samples_jsonl(o));
    db.add_artifact(out.run_id, "samples_" + su->name(), sample_file);
    out.sample_files.push_back(sample_file);
    if (!ok.empty()) record_aggregate(db, opt, *su, out.run_id, ok, o.items.size(), tables);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.interrupted = opt.stop && opt.stop->load();
  out.results = results_json(c, opt, caps, std::move(tables), out, ts, secs);
  out.results_file = dir / fmt::format("results_{}.json", ts);
  write_file_atomic(out.results_file, out.results.dump(2) + "\n");
  db.add_artifact(out.run_id, "results", out.results_file);
  close_run(db, out, failures);
  return out;
}

}  // namespace lmlab::probe
