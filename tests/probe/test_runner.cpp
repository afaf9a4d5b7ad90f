// The runner end to end against the scripted fault server: every suite produces its samples
// and metrics; a run hit by faults at concurrency 4 loses and duplicates nothing; a stopped
// run and a killed (SIGKILL) run resume from the cache without asking anything twice.
#include "probe/runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "core/fs.hpp"
#include "fault_server.hpp"
#include "probe/suites.hpp"
#include "../temp_path.hpp"

namespace fs = std::filesystem;
using namespace lmlab::probe;
using lmlab::probe::testing::fault;
using lmlab::probe::testing::fault_server;
using json = nlohmann::json;

namespace {
using lmlab::testing::temp_dir;

endpoint_config cfg_for(const fault_server& s) {
  endpoint_config c = endpoint_for(s);
  c.max_retries = 5;
  return c;
}

run_options small_run(const fs::path& out, std::vector<std::string> suites) {
  run_options o;
  o.suites = std::move(suites);
  o.output_dir = out;
  o.concurrency = 4;
  o.suite_opts.n = 4;
  o.suite_opts.repeats = 2;
  o.suite_opts.context_items = {6};
  o.suite_opts.positions = 3;
  return o;
}

std::size_t count_lines(const fs::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  std::string l;
  while (std::getline(in, l)) n += !l.empty();
  return n;
}

// The fake model answers MC with the right letter for English questions and "B" for Korean
// ones, the UUID value for key-value retrieval, and abstains on unanswerable questions.
std::string smart_answer(const json& q) {
  std::string text;
  if (q.contains("messages")) text = q["messages"].back()["content"];
  else text = q.value("prompt", "");
  if (text.find("Corresponding value:") != std::string::npos) {
    const auto k = text.rfind("Key: \"");
    const std::string key = text.substr(k + 6, 36);
    const auto p = text.find("\"" + key + "\": \"");
    return text.substr(p + 41, 36);
  }
  if (text.find("Passage:") != std::string::npos) return "The passage does not say.";
  if (text.find("글:") != std::string::npos) return "글에 나와 있지 않습니다.";
  return "A";
}
}  // namespace

TEST(probe_runner, faults_at_concurrency_lose_and_duplicate_nothing) {
  temp_dir d("runner", "faults");
  fault_server s;
  s.answer = smart_answer;
  // Each distinct request fails in a way picked by its content, then succeeds.
  s.script = [](const json& q, int attempt) {
    const auto h = std::hash<std::string>{}(q.dump());
    const fault seq[] = {fault::rate_limit, fault::server_error, fault::malformed, fault::truncated, fault::ok};
    return attempt == 0 ? seq[h % 5] : fault::ok;
  };
  lmlab::store::results_store db(d.path / "r.db");
  client c(cfg_for(s), &db);
  auto o = small_run(d.path / "out", {"sycophancy", "hallucination"});
  auto sum = run_probe(c, db, o);
  EXPECT_EQ(sum.n_failed, 0);
  EXPECT_FALSE(sum.interrupted);
  const std::size_t n_syc = sycophancy_suite().build(o.suite_opts).size();
  const std::size_t n_hal = hallucination_suite().build(o.suite_opts).size();
  EXPECT_EQ(db.samples(sum.run_id, "sycophancy").size(), n_syc);
  EXPECT_EQ(db.samples(sum.run_id, "hallucination").size(), n_hal);
  ASSERT_EQ(sum.sample_files.size(), 2u);
  EXPECT_EQ(count_lines(sum.sample_files[0]), n_syc);
  std::set<std::string> ids;
  for (const auto& smp : db.samples(sum.run_id, "sycophancy")) ids.insert(smp.doc_id);
  EXPECT_EQ(ids.size(), n_syc);
  EXPECT_EQ(s.max_served(), 1);  // no request was answered twice
  EXPECT_EQ(db.get_run(sum.run_id).status, lmlab::store::run_status::finished);
  // Results in the lm-evaluation-harness layout.
  auto res = json::parse(lmlab::read_text_file(sum.results_file));
  EXPECT_EQ(res["n-samples"]["sycophancy"]["effective"], n_syc);
  EXPECT_TRUE(res["results"]["sycophancy"].contains("acc_none,none"));
  EXPECT_EQ(res["results"]["hallucination"]["correct_rate_unanswerable,none"], 1.0);
  EXPECT_EQ(res["results"]["hallucination"]["abstention_rate_answerable,none"], 1.0);
  EXPECT_EQ(res["config"]["capabilities"]["echo"], true);
  // The fake model answers A whatever it is told: no flips at all.
  EXPECT_EQ(res["results"]["sycophancy"]["flip_rate_opinion_wrong,none"], 0.0);
  EXPECT_EQ(res["results"]["sycophancy"]["challenge_flip_rate,none"], 0.0);
  EXPECT_TRUE(fs::path(sum.results_file).filename().string().starts_with("results_"));
  EXPECT_TRUE(sum.sample_files[0].filename().string().starts_with("samples_sycophancy_"));
}

TEST(probe_runner, every_suite_runs_and_scores_through_each_path) {
  temp_dir d("runner", "suites");
  fault_server s;
  s.answer = smart_answer;
  lmlab::store::results_store db(d.path / "r.db");
  client c(cfg_for(s), &db);
  auto o = small_run(d.path / "out", {"calibration", "lost_in_middle", "nondeterminism"});
  auto sum = run_probe(c, db, o);
  EXPECT_EQ(sum.n_failed, 0);
  auto& r = sum.results["results"];
  // Echo path: every logprob sample says so, and the fake model is right when A is right.
  for (const auto& smp : db.samples(sum.run_id, "calibration"))
    if (smp.data["doc"]["form"] == "logprob") EXPECT_EQ(smp.data["score_path"], "echo_logprobs");
  EXPECT_TRUE(r["calibration"].contains("ece,none"));
  EXPECT_TRUE(r["calibration"].contains("temperature,none"));
  EXPECT_EQ(r["lost_in_middle"]["acc,none"], 1.0);
  EXPECT_EQ(r["nondeterminism"]["exact_match_agreement_T0_c1,none"], 1.0);
  // Forcing the other paths on the same server.
  for (auto [mode, path] : {std::pair{mc_mode::top_logprobs, "top_logprobs"}, std::pair{mc_mode::letter, "generated_letter"}}) {
    auto o2 = small_run(d.path / "out2", {"calibration"});
    o2.scoring = mode;
    o2.run_name = std::string("forced ") + path;
    auto sum2 = run_probe(c, db, o2);
    for (const auto& smp : db.samples(sum2.run_id, "calibration"))
      if (smp.data["doc"]["form"] == "logprob") EXPECT_EQ(smp.data["score_path"], path);
  }
}

TEST(probe_runner, stopped_run_resumes_from_the_cache) {
  temp_dir d("runner", "resume");
  fault_server s;
  s.answer = smart_answer;
  lmlab::store::results_store db(d.path / "r.db");
  std::atomic<bool> stop{false};
  auto o = small_run(d.path / "out", {"hallucination"});
  o.concurrency = 1;
  o.stop = &stop;
  const int after_caps = 8;  // capability probes, then a few items
  s.script = [&](const json&, int) {
    if (s.total.load() > after_caps + 5) stop = true;
    return fault::ok;
  };
  client c1(cfg_for(s), &db);
  auto first = run_probe(c1, db, o);
  EXPECT_TRUE(first.interrupted);
  EXPECT_GT(first.n_skipped, 0);
  EXPECT_EQ(db.get_run(first.run_id).status, lmlab::store::run_status::failed);
  stop = false;
  s.script = [](const json&, int) { return fault::ok; };
  client c2(cfg_for(s), &db);
  auto second = run_probe(c2, db, o);
  EXPECT_EQ(second.run_id, first.run_id);
  EXPECT_FALSE(second.interrupted);
  const auto n = hallucination_suite().build(o.suite_opts).size();
  EXPECT_EQ(db.samples(second.run_id, "hallucination").size(), n);
  EXPECT_EQ(second.n_samples, static_cast<std::int64_t>(n));
  EXPECT_EQ(second.n_cached, first.n_samples);
  EXPECT_EQ(s.max_served(), 1);
  EXPECT_EQ(db.get_run(second.run_id).status, lmlab::store::run_status::finished);
}

TEST(probe_runner, killed_process_resumes_without_asking_twice) {
  temp_dir d("runner", "kill");
  fault_server s;
  s.answer = smart_answer;
  s.slow_ms = 0;
  const auto dbp = d.path / "r.db";
  auto o = small_run(d.path / "out", {"hallucination"});
  o.concurrency = 2;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child runs the probe; the parent kills it with SIGKILL mid-run.
    try {
      lmlab::store::results_store db(dbp);
      auto cfg = cfg_for(s);
      cfg.sleep = [](double) {};
      client c(cfg, &db);
      run_probe(c, db, o);
    } catch (...) {
    }
    ::_exit(0);
  }
  // Let it get some answers in, then kill it. Bounded: at most ~5 s of polling.
  for (int i = 0; i < 500 && s.total.load() < 16; ++i) ::usleep(10000);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Requests the child had written before it died may still sit in the server's sockets and
  // be counted after the kill: wait until the count has stood still for 300 ms (at most ~5 s).
  for (int i = 0, last = -1, still = 0; i < 500 && still < 30; ++i, ::usleep(10000)) {
    const int now = s.total.load();
    still = now == last ? still + 1 : 0;
    last = now;
  }
  const int asked_before = s.total.load();
  lmlab::store::results_store db(dbp);
  const auto cached = db.cache_size();
  EXPECT_GT(cached, 0);
  client c(cfg_for(s), &db);
  auto sum = run_probe(c, db, o);
  const auto n = hallucination_suite().build(o.suite_opts).size();
  EXPECT_EQ(db.samples(sum.run_id, "hallucination").size(), n);
  EXPECT_EQ(sum.n_failed, 0);
  // The rerun asked only what was not cached: total asks = cached entries + at most the
  // few that were in flight (answered but not yet stored) when the child died.
  const int asked_after = s.total.load() - asked_before;
  EXPECT_EQ(db.cache_size() - cached, asked_after);
  EXPECT_LE(s.max_served(), 2);
}
