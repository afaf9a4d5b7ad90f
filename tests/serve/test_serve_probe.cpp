// End to end: the probe harness (probe/runner.hpp) against `lmlab serve` on 127.0.0.1 with a
// tiny checkpoint trained on the suite's own prompts (so the char tokenizer covers them).
// The calibration suite runs on a handful of bundled questions: results and samples are
// written, capability detection finds echo, every multiple-choice sample is scored by echo
// logprobs with the probabilities the model gives directly, the free-form samples by their
// generated text, and a rerun is answered entirely from the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/fs.hpp"
#include "probe/runner.hpp"
#include "probe/scoring.hpp"
#include "serve/server.hpp"
#include "tiny_model.hpp"

using namespace lmlab;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace fixture = lmlab::serve::fixture;

namespace {

const char* k_questions =
    R"({"id": "q1", "question": "What colour is the sky on a clear day?", "choices": ["green", "blue", "red", "black"], "answer": 1}
{"id": "q2", "question": "How many legs does a cat have?", "choices": ["two", "six", "four", "eight"], "answer": 2}
{"id": "q3", "question": "What is 2 + 3?", "choices": ["5", "6", "4", "23"], "answer": 0}
{"id": "q4", "question": "Which animal barks?", "choices": ["a fish", "a bird", "a snake", "a dog"], "answer": 3}
{"id": "q5", "question": "What do bees make?", "choices": ["honey", "milk", "silk", "glass"], "answer": 0}
{"id": "q6", "question": "Which is the largest?", "choices": ["a mouse", "a whale", "a frog", "an ant"], "answer": 1}
{"id": "q7", "question": "What is frozen water called?", "choices": ["steam", "sand", "ice", "salt"], "answer": 2}
{"id": "q8", "question": "How many days are in a week?", "choices": ["five", "ten", "twelve", "seven"], "answer": 3}
)";

TEST(serve_probe, the_probe_harness_scores_by_echo_logprobs_against_lmlab_serve) {
  const fs::path work = fs::temp_directory_path() / ("lmlab_serve_probe_" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  write_file_atomic(work / "questions.jsonl", std::string(k_questions));

  probe::run_options opt;
  opt.suites = {"calibration"};
  opt.suite_opts.data = work / "questions.jsonl";
  opt.suite_opts.langs = {"en"};
  opt.concurrency = 4;
  opt.output_dir = work / "out";
  // The corpus: every prompt the run will send (rendered as the server's chat template and
  // the client's completion prompt), so the char vocabulary covers them.
  const auto items = probe::find_suite("calibration").build(opt.suite_opts);
  ASSERT_EQ(items.size(), 16u);
  std::string corpus = "The capital of France is Paris.\nUser: Reply with the single letter A.\nAssistant: A\n"
                       "User: Say hi.\nAssistant: hi\n A B C D\n";
  std::size_t longest = 0;
  for (const auto& it : items) {
    const std::string p = probe::render_plain(it.messages);
    corpus += p + " " + probe::choice_label(it.answer) + "\n";
    longest = std::max(longest, p.size() + 2);
  }
  fixture::tiny_checkpoint ck;
  fixture::make_tiny_checkpoint(ck, corpus, "lmlab_serve_probe_ck", "tiny-gpt", static_cast<std::int64_t>(longest + 8), 30);
  auto model = serve::load_served_model(ck.dir);
  serve::server_options so;
  so.port = 0;
  so.threads = 4;
  serve::server srv(model, so);
  srv.start();

  probe::endpoint_config cfg;
  cfg.base_url = srv.base_url();
  cfg.provider = "lmlab";
  cfg.model = model.name;
  cfg.timeout_s = 60;
  cfg.max_retries = 0;  // our server must answer every request the first time
  store::results_store db(work / "lmlab.db");
  probe::run_summary sum;
  {
    probe::client c(cfg, &db);
    sum = probe::run_probe(c, db, opt);
  }
  EXPECT_EQ(sum.n_failed, 0);
  EXPECT_EQ(sum.n_samples, 16);
  EXPECT_EQ(srv.stats().errors_4xx.load(), 0);
  EXPECT_EQ(srv.stats().errors_5xx.load(), 0);
  const auto& caps = sum.results["config"]["capabilities"];
  EXPECT_TRUE(caps["echo"].get<bool>()) << caps.dump();
  EXPECT_TRUE(caps["top_logprobs"].get<bool>()) << caps.dump();
  EXPECT_TRUE(caps["n"].get<bool>()) << caps.dump();
  EXPECT_EQ(caps["preferred"], "chat");
  ASSERT_TRUE(sum.results["results"].contains("calibration")) << sum.results.dump();
  EXPECT_TRUE(sum.results["results"]["calibration"].contains("ece,none")) << sum.results["results"].dump();
  ASSERT_TRUE(fs::exists(sum.results_file));
  ASSERT_EQ(sum.sample_files.size(), 1u);

  std::ifstream in(sum.sample_files[0]);
  std::string line;
  int n_mc = 0, n_verbal = 0;
  while (std::getline(in, line)) {
    const auto s = json::parse(line);
    ASSERT_TRUE(s.contains("score_path")) << line;
    ASSERT_FALSE(s.contains("error")) << line;
    if (s["doc"]["form"] == "verbal") {
      ++n_verbal;
      const std::string path = s["score_path"];
      EXPECT_TRUE(path == "generated_letter" || path == "unparsed") << path;
      continue;
    }
    ++n_mc;
    EXPECT_EQ(s["score_path"], "echo_logprobs") << line;
    // The probabilities are the model's: the prompt is render_plain(messages) + " " + letter,
    // so per choice the shared " " cancels and p(k) = softmax_k log p(letter_k | prompt + " ").
    const auto& it = *std::find_if(items.begin(), items.end(), [&](const probe::item& x) { return x.id == s["doc_id"]; });
    auto ids = model.tok->encode(probe::render_plain(it.messages) + " ");
    const auto row = fixture::direct_log_softmax(ck.dir, ids).back();
    std::vector<double> lp;
    for (int k = 0; k < it.n_choices; ++k) lp.push_back(row[static_cast<std::size_t>(model.tok->encode(probe::choice_label(k))[0])]);
    double z = 0;
    for (double x : lp) z += std::exp(x);
    ASSERT_EQ(s["probs"].size(), lp.size());
    for (std::size_t k = 0; k < lp.size(); ++k) EXPECT_NEAR(s["probs"][k].get<double>(), std::exp(lp[k]) / z, 1e-6) << s["doc_id"];
  }
  EXPECT_EQ(n_mc, 8);
  EXPECT_EQ(n_verbal, 8);

  // A rerun of the same command asks the server nothing: every answer is in the cache.
  const auto asked = srv.stats().requests.load();
  {
    probe::client c(cfg, &db);
    auto again = probe::run_probe(c, db, opt);
    EXPECT_EQ(again.n_cached, 16);
    EXPECT_EQ(again.run_id, sum.run_id);
  }
  EXPECT_EQ(srv.stats().requests.load(), asked);
  srv.stop();
  fs::remove_all(work);
}

}  // namespace
