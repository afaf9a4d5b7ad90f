// n samples per item, majority vote and pass@k for served models (probe/samples_vote.hpp):
// the estimator and the vote by hand, then a run against the scripted local server whose
// sampled answer is a function of the request's seed, so every count can be checked; a rerun
// asks nothing again.
#include "probe/samples_vote.hpp"

#include <gtest/gtest.h>

#include <map>

#include "core/fs.hpp"
#include "fault_server.hpp"
#include "probe/runner.hpp"
#include "probe/suites.hpp"
#include "../temp_path.hpp"

using namespace lmlab::probe;
using lmlab::probe::testing::fault_server;
using json = nlohmann::json;

TEST(samples_vote, unbiased_pass_at_k_by_hand) {
  EXPECT_NEAR(unbiased_pass_at_k(5, 2, 2), 0.7, 1e-12);   // 1 − C(3,2)/C(5,2) = 1 − 3/10
  EXPECT_NEAR(unbiased_pass_at_k(10, 1, 1), 0.1, 1e-12);  // pass@1 = c/n
  EXPECT_NEAR(unbiased_pass_at_k(10, 3, 4), 1.0 - 35.0 / 210.0, 1e-12);  // C(7,4) = 35, C(10,4) = 210
  EXPECT_EQ(unbiased_pass_at_k(4, 0, 2), 0.0);
  EXPECT_EQ(unbiased_pass_at_k(4, 3, 2), 1.0);  // n − c < k: every pair holds a correct one
  EXPECT_THROW(unbiased_pass_at_k(4, 5, 1), lmlab::error);
  EXPECT_THROW(unbiased_pass_at_k(4, 1, 5), lmlab::error);
  EXPECT_EQ(sample_ks(5), (std::vector<std::int64_t>{1, 2, 4, 5}));
  EXPECT_EQ(sample_ks(8), (std::vector<std::int64_t>{1, 2, 4, 8}));
}

TEST(samples_vote, majority_vote_by_hand) {
  auto smp = [](const std::string& key, bool ok) { return json{{"key", key}, {"correct", ok}}; };
  const json s = json::array({smp("a", true), smp("b", false), smp("b", false), smp("a", true), smp("", false)});
  EXPECT_TRUE(majority_correct(s, 1));
  EXPECT_TRUE(majority_correct(s, 2));   // 1–1: the first seen wins
  EXPECT_FALSE(majority_correct(s, 3));  // b 2–1
  EXPECT_TRUE(majority_correct(s, 4));   // 2–2: a was seen first
  EXPECT_TRUE(majority_correct(s, 5));   // an abstention does not vote
  EXPECT_FALSE(majority_correct(json::array({smp("", false), smp("", false)}), 2));
  // Keys: a suite's pred; unparsed or negative preds abstain; else the normalised text.
  EXPECT_EQ(vote_key({{"pred", 2}}, "C"), "2");
  EXPECT_EQ(vote_key({{"pred", -1}}, "?"), "");
  EXPECT_EQ(vote_key({{"pred", nullptr}, {"parsed", false}}, "x"), "");
  EXPECT_EQ(vote_key(json::object(), "  Paris. "), vote_key(json::object(), "paris"));
  // The summary of 4 samples, 1 correct.
  json out;
  summarise_samples(json::array({json{{"text", "A"}, {"pred", 0}, {"correct", true}}, json{{"text", "B"}, {"pred", 1}, {"correct", false}},
                                 json{{"text", "B"}, {"pred", 1}, {"correct", false}}, json{{"text", "C"}, {"pred", 2}, {"correct", false}}}),
                    out);
  EXPECT_EQ(out["n_correct"], 1);
  EXPECT_NEAR(out["pass@k"]["1"].get<double>(), 0.25, 1e-12);
  EXPECT_NEAR(out["pass@k"]["2"].get<double>(), 0.5, 1e-12);  // 1 − C(3,2)/C(4,2) = 1 − 3/6
  EXPECT_EQ(out["pass@k"]["4"], 1.0);
  EXPECT_EQ(out["majority@k"]["1"], 1.0);
  EXPECT_EQ(out["majority@k"]["4"], 0.0);
}

namespace {
const char* letters = "ABCD";
// The fake model: greedy (temperature 0) answers A; a sample answers the letter seed mod 4.
std::string seeded_answer(const json& q) {
  if (q.value("temperature", 0.0) == 0.0) return "A";
  return std::string(1, letters[q.value("seed", std::int64_t{0}) % 4]);
}
}  // namespace

TEST(samples_vote, a_run_with_samples_against_the_local_server) {
  lmlab::testing::temp_dir d("samples_vote", "run");
  fault_server s;
  s.answer = seeded_answer;
  const endpoint_config cfg = endpoint_for(s);
  lmlab::store::results_store db(d.path / "r.db");
  run_options o;
  o.suites = {"nondeterminism"};
  o.output_dir = d.path / "out";
  o.suite_opts.n = 4;
  o.suite_opts.langs = {"en"};
  o.suite_opts.repeats = 1;
  o.suite_opts.concurrency_levels = {1};
  o.suite_opts.temperatures = {0.0};
  o.samples = {6, 0.8};
  const auto items = nondeterminism_suite().build(o.suite_opts);
  ASSERT_GE(items.size(), 2u);
  {
    client c(cfg, &db);
    const auto sum = run_probe(c, db, o);
    ASSERT_EQ(sum.n_failed, 0);
    std::map<std::string, const item*> by_id;
    for (const auto& it : items) by_id[it.id] = &it;
    double pass2 = 0, maj6 = 0;
    const auto stored = db.samples(sum.run_id, "nondeterminism");
    ASSERT_EQ(stored.size(), items.size());
    for (const auto& row : stored) {
      const json& smp = row.data;
      const item& it = *by_id.at(row.doc_id);
      ASSERT_EQ(smp["samples"].size(), 6u) << smp.dump();
      // Recount by hand from the server's rule.
      std::int64_t c_ok = 0;
      std::map<char, int> votes;
      char first_top = 0;
      int top = 0;
      for (int j = 0; j < 6; ++j) {
        const char l = letters[(it.seed.value_or(0) + 7919 * (j + 1)) % 4];
        EXPECT_EQ(smp["samples"][j]["text"], std::string(1, l));
        c_ok += std::string(1, l) == it.target;
        if (++votes[l] > top) top = votes[l], first_top = l;
      }
      EXPECT_EQ(smp["n_correct"], c_ok);
      EXPECT_NEAR(smp["pass@k"]["2"].get<double>(), unbiased_pass_at_k(6, c_ok, 2), 1e-12);
      EXPECT_EQ(smp["majority@k"]["6"].get<double>() == 1.0, std::string(1, first_top) == it.target) << smp.dump();
      EXPECT_EQ(smp["acc"], it.target == "A" ? 1.0 : 0.0);  // the item's own (greedy) answer stays its score
      pass2 += smp["pass@k"]["2"].get<double>();
      maj6 += smp["majority@k"]["6"].get<double>();
    }
    const double n = static_cast<double>(items.size());
    const auto res = json::parse(lmlab::read_text_file(sum.results_file));
    EXPECT_NEAR(res["results"]["nondeterminism"]["pass@2,none"].get<double>(), pass2 / n, 1e-12);
    EXPECT_NEAR(res["results"]["nondeterminism"]["majority@6,none"].get<double>(), maj6 / n, 1e-12);
    bool logged = false;
    for (const auto& e : db.evaluations(sum.run_id))
      if (e.split == "nondeterminism/samples" && e.slice == "k=2" && e.metric == "pass") {
        logged = true;
        EXPECT_NEAR(e.value, pass2 / n, 1e-12);
      }
    EXPECT_TRUE(logged);
  }
  // The rerun is answered from the cache: each sampled request was served exactly once.
  client c2(cfg, &db);
  const auto again = run_probe(c2, db, o);
  EXPECT_EQ(again.n_failed, 0);
  std::size_t sampled = 0;
  {
    std::lock_guard lk(s.mu);
    for (const auto& [body, n] : s.served_ok)
      if (json::parse(body.substr(body.find('{'))).value("temperature", 0.0) == 0.8) {
        ++sampled;
        EXPECT_EQ(n, 1) << body;
      }
  }
  EXPECT_EQ(sampled, items.size() * 6);
  // A temperature of 0 with samples is a named error.
  o.samples = {3, 0.0};
  o.run_name = "t0";
  client c3(cfg, &db);
  const auto bad = run_probe(c3, db, o);
  EXPECT_GT(bad.n_failed, 0);
}
