// Retrieval vs parametric memory vs a conflicting passage, on the biographies' people
// (kb.hpp): the same facts asked closed-book (from the weights), with a passage that states
// them (retrieval), with a passage that states another value (a knowledge conflict, Longpre et
// al. 2021 §2: the answer entity substituted in the context), and with a passage that does not
// mention the asked attribute. Each known person's facts appear in training `f` times (f
// biographies and f copies of each QA pair), with f in the frequency buckets 1, 2, 4, ...,
// max_copies, so accuracy can be read against how often a fact was seen (Mallen et al. 2023,
// "When Not to Trust Language Models", §4: accuracy against popularity; Kandpal et al. 2023).
// The reading skill is trained on `context_train` passages about other people ("context
// people", each example with fresh random values, so the answer can only come from the
// passage); a share `missing_fraction` of them lack the asked attribute and are answered
// "unknown". No training passage is about a known person: a conflict at test time is out of
// distribution, as in Longpre et al.'s substitution (trained on original passages).
//
// `lmlab lab task kb_context --set num_people=4 --set max_copies=2 --set novel_people=2
// --set context_train=4`, seed 0, the first test example of slice conflict/f=1:
//   Inputs: <bos> passage umar yilmaz grew up in hanoi . umar yilmaz joined hooli . question
//           where was umar yilmaz born ? hanoi
//   Labels: -100 ... -100 hanoi -100      (the passage's value; training held another city)
// Test slices, per frequency f of the known people: closed/f=F (no passage: the weights),
// agree/f=F (a passage stating the true value), conflict/f=F (a passage stating another
// value: the gold is the passage's), missing/f=F (a passage without the attribute: the gold is
// the true value, from memory); for novel people, never in training: novel/open (a passage
// with the attribute), novel/missing (a passage without it: gold "unknown"), novel/closed (no
// passage: gold "unknown"). Difficulty = log2(f) (novel slices: -1).
// Counts: train = Σ_f n_f·f·(1 + 5) + context_train (n_f known people in bucket f; people are
// dealt to buckets in turn); test = 20·num_people + 15·novel_people.
//
// Not for: the runner (retrieval_runner.cpp), biographies without passages (kb.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/hallucination.hpp"
#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::knowledge {

struct retrieval_config {
  std::int64_t num_people = 40;      // known people (facts in training)
  std::int64_t max_copies = 8;       // frequency buckets 1, 2, 4, ..., max_copies (a power of 2)
  std::int64_t novel_people = 20;    // test-only people
  std::int64_t context_train = 2000; // passage -> answer training examples about context people
  std::int64_t context_pool = 100;   // names of context people
  std::int64_t distractors = 1;      // other sentences of the same person in every passage
  double missing_fraction = 0.25;    // training passages without the asked attribute ("unknown")
};
const tasks::param_table<retrieval_config>& retrieval_params();
void check(const retrieval_config& c);

// What the classifier needs about one test question (aligned with dataset.test).
struct retrieval_item {
  std::size_t attr = 0;
  std::int32_t gold = -1;           // token id of the right answer ("unknown" where abstaining is right)
  std::int32_t context_value = -1;  // the value the passage states for the asked attribute; -1: none
  std::int32_t memory_value = -1;   // the true value held in training; -1: novel person
};
struct retrieval_data {
  tasks::dataset ds;
  std::vector<retrieval_item> items;
};
retrieval_data build_retrieval(const retrieval_config& c, std::uint64_t seed);
tasks::dataset build(const retrieval_config& c, std::uint64_t seed);

// The taxonomy evidence of one answer token (analysis/hallucination.hpp): abstained = "unknown";
// contradicts_context = the passage states another value; known_entity = a value of the asked
// attribute.
analysis::answer_evidence evidence_of(const retrieval_item& it, std::int32_t answer, const tasks::vocabulary& v);

}  // namespace lmlab::knowledge
