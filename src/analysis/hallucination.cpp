// The shared hallucination classifier: see hallucination.hpp.
#include "analysis/hallucination.hpp"

namespace lmlab::analysis {

std::string_view to_string(answer_label l) {
  switch (l) {
    case answer_label::correct: return "correct";
    case answer_label::abstention: return "abstention";
    case answer_label::intrinsic: return "intrinsic";
    case answer_label::fabricated: return "fabricated";
    case answer_label::extrinsic: return "extrinsic";
  }
  return "?";
}

answer_label classify_answer(const answer_evidence& e) {
  if (e.matches_gold) return answer_label::correct;
  if (e.abstained) return answer_label::abstention;
  if (e.contradicts_context) return answer_label::intrinsic;
  if (!e.known_entity) return answer_label::fabricated;
  return answer_label::extrinsic;
}

}  // namespace lmlab::analysis
