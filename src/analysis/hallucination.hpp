// The hallucination taxonomy of research notes section 5, as one classifier shared by the probe
// harness (text answers of served models, src/probe/suites_gen.cpp) and the knowledge lab
// (token answers of lab models, src/knowledge/retrieval.hpp): each answer gets one label
//   correct     the right answer (for a question the context cannot answer: abstaining);
//   abstention  declined to answer ("unknown", "I don't know") where an answer was due;
//   intrinsic   contradicts the given context (the context states another answer);
//               ref: Maynez et al. 2020, "On Faithfulness and Factuality in Abstractive
//               Summarization", §3 (intrinsic vs extrinsic hallucination);
//   fabricated  names an entity that does not exist where the answer must be one (a city no
//               knowledge base has; a value of the wrong kind);
//   extrinsic   anything else wrong: a real entity that neither the context nor the known
//               facts support (Maynez et al.'s extrinsic: not verifiable from the input).
// The caller decides the evidence (string matching for text, token identity for the lab);
// the classifier only ranks it, so both harnesses label the same evidence the same way.
// Not for: deciding whether text abstains (probe/scoring.hpp is_abstention), rates over
// samples (each caller counts its labels).
#pragma once

#include <array>
#include <string_view>

namespace lmlab::analysis {

enum class answer_label { correct, abstention, intrinsic, fabricated, extrinsic };
inline constexpr std::array<answer_label, 5> all_answer_labels = {answer_label::correct, answer_label::abstention,
                                                                  answer_label::intrinsic, answer_label::fabricated,
                                                                  answer_label::extrinsic};
std::string_view to_string(answer_label l);

struct answer_evidence {
  bool matches_gold = false;         // the answer is the right one (abstaining, where that is right)
  bool abstained = false;            // the answer declines
  bool contradicts_context = false;  // the context states an answer to this question, and this is not it
  bool known_entity = true;          // the answer names an entity that exists (false: fabricated)
};

// Rank: correct > abstention > intrinsic > fabricated > extrinsic (the first that holds).
answer_label classify_answer(const answer_evidence& e);

}  // namespace lmlab::analysis
