// The subject-MLP resample trace over blocks: see trace.hpp.
#include "knowledge/trace.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "knowledge/fit.hpp"
#include "knowledge/rome.hpp"

namespace lmlab::knowledge {

std::int64_t subject_trace::most_used() const {
  LMLAB_CHECK(!ablated.empty(), "knowledge: a subject trace of a model with one block has no block to choose");
  return std::min_element(ablated.begin(), ablated.end()) - ablated.begin();
}

namespace {
std::int64_t position_of(const tasks::example& ex, std::int32_t id) {
  const auto it = std::find(ex.input.begin(), ex.input.end(), id);
  LMLAB_CHECK(it != ex.input.end(), "knowledge: trace: the subject's last name is not in the question");
  return it - ex.input.begin();
}
}  // namespace

subject_trace trace_subject_mlps(models::lm& model, const tasks::vocabulary& vocab, const std::vector<person>& people,
                                 std::int64_t questions) {
  const auto n_blocks = static_cast<std::int64_t>(model.blocks.size());
  LMLAB_CHECK(people.size() >= 2 && questions > 0, "knowledge: trace needs 2 people and 1 question, got {} and {}",
              people.size(), questions);
  subject_trace tr;
  tr.ablated.assign(static_cast<std::size_t>(std::max<std::int64_t>(0, n_blocks - 1)), 0.0);
  const std::size_t n = people.size(), n_attr = attributes().size();
  for (std::int64_t q = 0; q < questions; ++q) {
    const person& p = people[static_cast<std::size_t>(q) % n];
    const person& o = people[(static_cast<std::size_t>(q) + 1) % n];
    const std::size_t a = static_cast<std::size_t>(q) % n_attr;
    tasks::example ex = answer_example(vocab, question_tokens(p, a), {"unknown"}, "", 0);
    ex.target[ex.target.size() - 2] = score_answers(model, {ex}, vocab.id("<pad>"))[0].argmax[0];  // its own answer
    const tasks::example other = answer_example(vocab, question_tokens(o, a), {"unknown"}, "", 0);
    const std::int64_t pos = position_of(ex, vocab.id(p.last)), other_pos = position_of(other, vocab.id(o.last));
    tr.clean += answer_prob_with_delta(model, 0, ex, pos, std::vector<double>(static_cast<std::size_t>(model.config().d_model), 0.0));
    for (std::int64_t L = 0; L + 1 < n_blocks; ++L) {
      const mlp_io own = mlp_at(model, L, ex.input, pos), swapped = mlp_at(model, L, other.input, other_pos);
      std::vector<double> d(own.out.size());
      for (std::size_t i = 0; i < d.size(); ++i) d[i] = swapped.out[i] - own.out[i];
      tr.ablated[static_cast<std::size_t>(L)] += answer_prob_with_delta(model, L, ex, pos, d);
    }
  }
  tr.questions = questions;
  tr.clean /= static_cast<double>(questions);
  for (auto& x : tr.ablated) x /= static_cast<double>(questions);
  return tr;
}

}  // namespace lmlab::knowledge
