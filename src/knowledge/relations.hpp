// Relation pairs for the reversal test (Berglund et al. 2023, "The Reversal Curse: LLMs trained
// on 'A is B' fail to learn 'B is A'", §2.1 Experiment 1): pairs (A, B) of distinct people
// joined by one directed relation ("A mentored B"). Forward-only pairs are trained only in the
// A-before-B direction; a share `both_fraction` of pairs is trained in both directions, so the
// model knows the reverse phrasing ("B was mentored by A") exists. Each direction has
// `phrasings` templates (Berglund et al. train on 30 paraphrases per fact).
//
// Test slices: forward (forward-only pairs: "A mentored" -> B, the trained direction),
// both_reverse (pairs trained both ways: "B was mentored by" -> A, in distribution), and
// reverse (forward-only pairs: "B was mentored by" -> A; no training example has B before A).
// Every test answer is a full name (two tokens), scored by exact match.
// `lmlab lab task reversal --set num_pairs=4 --set both_fraction=0.5 --set num_random=2`:
//   train[0]  Inputs: <bos> umar yilmaz mentored ruth ruiz .
//             Labels: umar yilmaz mentored ruth ruiz . <eos>
//   test[0] (both_reverse):  Inputs: <bos> ruth ruiz was mentored by umar yilmaz
//                            Labels: -100 -100 -100 -100 -100 umar yilmaz -100
// reversal_config{.num_pairs = 4, .both_fraction = 0.5}: train = 2·phrasings + 2·2·phrasings
// statements; test = 2 forward + 2 both_reverse + 2 reverse.
//
// Not for: biographies (kb.hpp), the log-probability comparison (the runner, runners.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::knowledge {

struct reversal_config {
  std::int64_t num_pairs = 100;
  double both_fraction = 0.3;    // pairs trained in both directions
  std::int64_t phrasings = 3;    // templates per direction (1..3)
  std::int64_t num_random = 10;  // random names whose log-probability the runner compares
};

const tasks::param_table<reversal_config>& reversal_params();
void check(const reversal_config& c);

struct relation_pair {
  std::vector<std::string> a, b;  // full names (first, last)
  bool both = false;              // trained in both directions
};
// Pure function of (c, seed); the first round(num_pairs · both_fraction) pairs are `both`.
std::vector<relation_pair> make_pairs(const reversal_config& c, std::uint64_t seed);

// Template k of a direction as a prompt (ends before the answer name) and the answer.
std::vector<std::string> forward_prompt(const relation_pair& p, std::size_t k);
std::vector<std::string> reverse_prompt(const relation_pair& p, std::size_t k);

tasks::dataset build(const reversal_config& c, std::uint64_t seed);

}  // namespace lmlab::knowledge
