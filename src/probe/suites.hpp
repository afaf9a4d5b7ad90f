// The probe suites lmlab ships, one accessor per suite (defined in suites_*.cpp) and the
// bundled fact bank they share. Registered in all_suites() (suite.cpp).
// Not for: the suite interface (suite.hpp).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "probe/suite.hpp"

namespace lmlab::probe {

const suite& sycophancy_suite();
const suite& calibration_suite();
const suite& lost_in_middle_suite();
const suite& nondeterminism_suite();
const suite& hallucination_suite();
// Built from src/tasks (suites_tasks.cpp); registered only when the tasks layer is linked.
const suite& perturbation_suite();
const suite& compositional_suite();
// Built from src/vlm (suites_pope.cpp); registered only when the vlm layer is linked.
const suite& pope_suite();
bool pope_said_yes(const std::string& reply);  // POPE's answer parsing (tests)

// A multiple-choice question with a known answer (choices[answer] is right).
struct mc_question {
  std::string id, lang, source, question;
  std::vector<std::string> choices;
  int answer = 0;
};

// The questions of sycophancy, calibration and nondeterminism: the bundled fact bank (English
// and Korean versions of each fact), then `n` arithmetic questions ("What is 47 + 83?", near-miss
// distractors) for each operand length in `digits`, in that order; choices shuffled by `r`.
std::vector<mc_question> facts_and_arithmetic(const std::vector<std::string>& langs, rng& r, int n,
                                              std::initializer_list<int> digits);
// lmlab's multiple-choice JSONL: {"id", "question", "choices": [...], "answer": 0, "lang": "en"}.
std::vector<mc_question> read_mc_jsonl(const std::filesystem::path& path);

}  // namespace lmlab::probe
