// Synthetic verifiable data (datalab/synth_verify.hpp): the token form and the step verifier by
// hand, the generator's range, and the synth_verified runner end to end on a tiny model.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "datalab_spec.hpp"
#include "core/error.hpp"
#include "datalab/runners.hpp"
#include "chain_tokens.hpp"
#include "datalab/synth_verify.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "store/results_store.hpp"

namespace dl = lmlab::datalab;
namespace tk = lmlab::datalab::chain_tok;

namespace {
using lmlab::testing::cat;
using lmlab::testing::final_answer;
using lmlab::testing::step;
// 12 + 07 − 03 = 16
dl::chain_problem example() { return lmlab::testing::chain(12, {'+', '-'}, {7, 3}); }
}  // namespace

TEST(synth_verify, tokens_by_hand) {
  const auto p = example();
  EXPECT_EQ(p.answer(), 16);
  EXPECT_EQ(dl::problem_tokens(p), (std::vector<std::int32_t>{tk::bos, 1, 2, tk::plus, 0, 7, tk::minus, 0, 3, tk::eq}));
  EXPECT_EQ(dl::gold_solution(p), cat({step(12, '+', 7, 19), step(19, '-', 3, 16), final_answer(16)}));
  EXPECT_EQ(dl::answer_only_solution(p), final_answer(16));
  std::string text;
  for (auto t : dl::gold_solution(p)) text += dl::chain_token_text(t);
  EXPECT_EQ(text, "12+07=19;19-03=16;#16<eos>");
}

TEST(synth_verify, the_verifier_by_hand) {
  const auto p = example();
  const auto gold = dl::verify_solution(p, dl::gold_solution(p));
  EXPECT_TRUE(gold.verified());
  EXPECT_EQ(gold.valid_steps, 2);
  // Without the trailing <eos> (a cut sample) it is still well formed.
  auto cut = dl::gold_solution(p);
  cut.pop_back();
  EXPECT_TRUE(dl::verify_solution(p, cut).verified());
  // A wrong sum in step 1 carried on consistently: a wrong answer and no valid leading step.
  const auto wrong = dl::verify_solution(p, cat({step(12, '+', 7, 18), step(18, '-', 3, 15), final_answer(15)}));
  EXPECT_TRUE(wrong.well_formed);
  EXPECT_FALSE(wrong.all_steps_valid);
  EXPECT_FALSE(wrong.answer_correct);
  EXPECT_EQ(wrong.valid_steps, 0);
  // Two errors that cancel: the right answer, a wrong step (the verifier rejects it).
  const auto lucky = dl::verify_solution(p, cat({step(12, '+', 7, 18), step(18, '-', 2, 16), final_answer(16)}));
  EXPECT_TRUE(lucky.answer_correct);
  EXPECT_FALSE(lucky.all_steps_valid);
  EXPECT_FALSE(lucky.verified());
  // A step that does not start from the previous result, though each sum is right.
  const auto jump = dl::verify_solution(p, cat({step(12, '+', 7, 19), step(20, '-', 4, 16), final_answer(16)}));
  EXPECT_EQ(jump.valid_steps, 1);
  EXPECT_FALSE(jump.verified());
  // A final answer that differs from the last step.
  const auto mismatch = dl::verify_solution(p, cat({step(12, '+', 7, 19), step(19, '-', 3, 16), final_answer(17)}));
  EXPECT_TRUE(mismatch.well_formed);
  EXPECT_FALSE(mismatch.all_steps_valid);
  EXPECT_FALSE(mismatch.answer_correct);
  // Answer only: not well formed (no steps) but its answer is read.
  const auto bare = dl::verify_solution(p, dl::answer_only_solution(p));
  EXPECT_FALSE(bare.well_formed);
  EXPECT_TRUE(bare.answer_correct);
  EXPECT_FALSE(bare.verified());
  // Too few steps, garbage, nothing.
  EXPECT_FALSE(dl::verify_solution(p, cat({step(12, '+', 7, 19), final_answer(19)})).verified());
  EXPECT_FALSE(dl::verify_solution(p, std::vector<std::int32_t>{tk::plus, tk::plus, tk::eos}).verified());
  EXPECT_FALSE(dl::verify_solution(p, std::vector<std::int32_t>{}).answer_correct);
}

TEST(synth_verify, generated_problems_stay_in_range) {
  lmlab::rng g(3);
  for (int i = 0; i < 2000; ++i) {
    const int max_value = i % 2 ? 99 : 9;
    const auto p = dl::sample_chain_problem(1 + i % 5, g, max_value);
    int x = p.start;
    ASSERT_GE(x, 0);
    ASSERT_LE(x, max_value);
    for (std::size_t j = 0; j < p.ops.size(); ++j) {
      ASSERT_GE(p.operands[j], 1);
      x += p.ops[j] == '+' ? p.operands[j] : -p.operands[j];
      ASSERT_GE(x, 0);
      ASSERT_LE(x, max_value);
    }
    ASSERT_TRUE(dl::verify_solution(p, dl::gold_solution(p)).verified());
    ASSERT_EQ(dl::gold_solution(p).size(), 9 * p.ops.size() + 4);
  }
  EXPECT_THROW(dl::sample_chain_problem(0, g), lmlab::error);
  EXPECT_THROW(dl::sample_chain_problem(2, g, 100), lmlab::error);
}

TEST(synth_verify, the_runner_end_to_end_on_a_tiny_model) {
  const auto spec = lmlab::testing::datalab_spec(
      "name = \"s\"\n[model]\nd_model = 16\nn_layers = 1\nn_heads = 2\n[task]\nname = \"synth_verified\"\nops_min = 1\nops_max = 1\n"
      "ood_ops = 2\nn_real = 50\nn_synth = 40\nn_test = 20\n[train]\nsteps = 20\nbatch_size = 8\nlr = 0.01\n",
      "s.toml");
  ASSERT_EQ(spec.runs.size(), 1u);
  const auto r = lmlab::lab::run_config_once({spec.runs[0].config, 1, {}, nullptr, -1, nullptr});
  EXPECT_EQ(r.steps, 20);
  const std::string msg = lmlab::testing::datalab_spec_error(
      "name = \"s\"\n[task]\nname = \"synth_verified\"\nops_min = 3\nops_max = 2\n", "s.toml");
  EXPECT_NE(msg.find("ops_min"), std::string::npos) << "ops_min > ops_max was accepted: " << msg;
}

// The learned verifier, test-time compute and a chosen student list run end to end; keys that
// need the learned verifier are refused without it.
TEST(synth_verify, the_runner_with_a_learned_verifier_and_test_time_compute) {
  for (const std::string kind : {"step_likelihood", "process"}) {
    const auto spec = lmlab::testing::datalab_spec(
        "name = \"s\"\n[model]\nd_model = 16\nn_layers = 1\nn_heads = 2\n[task]\nname = \"synth_verified\"\nops_min = 1\nops_max = 1\n"
        "ood_ops = 2\nn_real = 30\nn_synth = 20\nn_test = 10\nverifier = \"" + kind + "\"\nverifier_steps = 5\nttc_samples = 4\n"
        "students = [\"synth_learned\", \"mix_learned\"]\n[train]\nsteps = 10\nbatch_size = 8\nlr = 0.01\n",
        "s.toml");
    ASSERT_EQ(spec.runs.size(), 1u);
    EXPECT_EQ(lmlab::lab::run_config_once({spec.runs[0].config, 1, {}, nullptr, -1, nullptr}).steps, 10);
  }
  auto error = [](const std::string& keys) {
    return lmlab::testing::datalab_spec_error("name = \"s\"\n[task]\nname = \"synth_verified\"\n" + keys, "s.toml");
  };
  EXPECT_NE(error("ttc_samples = 4\n").find("ttc_samples"), std::string::npos);
  EXPECT_NE(error("students = [\"synth_learned\"]\n").find("students"), std::string::npos);
  EXPECT_NE(error("students = [\"teacher\"]\n").find("students"), std::string::npos);
  EXPECT_NE(error("verifier = \"oracle\"\n").find("verifier"), std::string::npos);
  EXPECT_EQ(error("students = []\n"), "(no error)");
}

// Students at equal example counts, fine-tuned from the teacher: the keys run end to end, and
// at their defaults they stay out of the canonical form (every earlier run id is unchanged).
TEST(synth_verify, equal_example_counts_and_students_from_the_teacher) {
  const std::string head =
      "name = \"s\"\n[model]\nd_model = 16\nn_layers = 1\nn_heads = 2\n[task]\nname = \"synth_verified\"\nops_min = 1\nops_max = 1\n"
      "ood_ops = 2\nn_real = 30\nn_synth = 20\nn_test = 10\nstudents = [\"synth_all\", \"synth_verified\"]\n";
  const auto plain = lmlab::testing::datalab_spec(head + "[train]\nsteps = 10\nbatch_size = 8\nlr = 0.01\n", "s.toml");
  for (const char* k : {"student_examples", "student_init", "student_lr"})
    EXPECT_FALSE(plain.runs[0].config.at("task").contains(k)) << k;
  const auto spec = lmlab::testing::datalab_spec(
      head + "student_examples = 5\nstudent_init = \"teacher\"\nstudent_lr = 0.001\n[train]\nsteps = 10\nbatch_size = 8\nlr = 0.01\n",
      "s.toml");
  EXPECT_EQ(spec.runs[0].config.at("task").at("student_examples"), 5);
  EXPECT_EQ(spec.runs[0].config.at("task").at("student_init"), "teacher");
  const auto path = std::filesystem::temp_directory_path() / ("lmlab_synth_equal_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    lmlab::store::results_store db(path);
    const auto id = db.create_run("lab", "s/1", spec.runs[0].config);
    EXPECT_EQ(lmlab::lab::run_config_once({spec.runs[0].config, 1, {}, &db, id, nullptr}).steps, 10);
    std::map<std::string, double> v;
    for (const auto& e : db.evaluations(id)) v[e.slice + "/" + e.metric] = e.value;
    // Both arms train on the same count: 5, or fewer when the teacher verified fewer.
    ASSERT_TRUE(v.count("synth/student_examples"));
    EXPECT_LE(v["synth/student_examples"], 5);
    EXPECT_EQ(v["synth/examples_synth_all"], v["synth/student_examples"]);
    EXPECT_EQ(v["synth/examples_synth_verified"], v["synth/student_examples"]);
    if (v.count("id/acc_synth_verified"))  // the paired gain the rules read
      EXPECT_DOUBLE_EQ(v["id/gain_synth_verified"], v["id/acc_synth_verified"] - v["id/acc_synth_all"]);
  }
  std::filesystem::remove(path);
  const auto error = [](const std::string& keys) {
    return lmlab::testing::datalab_spec_error("name = \"s\"\n[task]\nname = \"synth_verified\"\n" + keys, "s.toml");
  };
  EXPECT_NE(error("student_init = \"verifier\"\n").find("student_init"), std::string::npos);
  EXPECT_NE(error("student_examples = -1\n").find("student_examples"), std::string::npos);
}
