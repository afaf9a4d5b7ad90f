// Learned verifiers and ranking quality: see ttc_verifier.hpp.
#include "datalab/ttc_verifier.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::datalab {

const std::vector<std::string>& verifier_kinds() {
  static const std::vector<std::string> k = {"outcome", "outcome_balanced", "outcome_gen", "outcome_gen_balanced", "process_gen"};
  return k;
}

namespace {

bool from_generator(const std::string& kind) { return kind.find("_gen") != std::string::npos; }
bool balanced(const std::string& kind) { return kind.find("_balanced") != std::string::npos; }
bool process(const std::string& kind) { return kind.rfind("process", 0) == 0; }

std::vector<std::int32_t> verifier_input(const item_samples& it, std::size_t j) {
  std::vector<std::int32_t> t = it.prompt;
  t.insert(t.end(), it.answers[j].begin(), it.answers[j].end());
  return t;
}

// One training sequence: the outcome label after the answer, or (process) a label after every
// answer token saying whether the answer so far is a prefix of the gold answer.
token_example labelled(const item_samples& it, std::size_t j, const verifier_setup& v) {
  token_example e;
  e.input = verifier_input(it, j);
  e.target.assign(e.input.size(), tasks::ignore_index);
  LMLAB_CHECK(!it.answers[j].empty(), "ttc verifier: an empty sampled answer");
  if (!process(v.kind)) {
    e.target.back() = it.s[j].correct ? v.yes : v.no;
    return e;
  }
  bool prefix = true;
  for (std::size_t t = 0; t < it.answers[j].size(); ++t) {
    prefix = prefix && t < it.gold.size() && it.answers[j][t] == it.gold[t];
    e.target[it.prompt.size() + t] = prefix ? v.yes : v.no;
  }
  return e;
}

}  // namespace

std::vector<token_example> verifier_examples(const std::vector<item_samples>& train_items, const verifier_setup& v, double* right_share) {
  LMLAB_CHECK(std::find(verifier_kinds().begin(), verifier_kinds().end(), v.kind) != verifier_kinds().end(),
              "ttc verifier: unknown kind '{}'", v.kind);
  std::vector<token_example> data;
  double right = 0;
  for (const auto& it : train_items) {
    std::vector<std::size_t> keep(it.s.size());
    for (std::size_t j = 0; j < keep.size(); ++j) keep[j] = j;
    if (balanced(v.kind)) {
      // As many right as wrong samples of this item (the first of each), none from one-class items.
      std::vector<std::size_t> r, w;
      for (std::size_t j = 0; j < it.s.size(); ++j) (it.s[j].correct ? r : w).push_back(j);
      const std::size_t m = std::min(r.size(), w.size());
      keep.assign(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(m));
      keep.insert(keep.end(), w.begin(), w.begin() + static_cast<std::ptrdiff_t>(m));
    }
    for (std::size_t j : keep) {
      data.push_back(labelled(it, j, v));
      right += it.s[j].correct;
    }
  }
  if (right_share) *right_share = data.empty() ? NAN : right / static_cast<double>(data.size());
  return data;
}

learned_verifier train_verifier(const std::vector<item_samples>& train_items, const verifier_setup& v, const models::lm_config& mc,
                                const train::optim_config& oc, const models::causal_lm& generator) {
  learned_verifier lv;
  lv.setup = v;
  const std::vector<token_example> data = verifier_examples(train_items, v, &lv.right_share);
  LMLAB_CHECK(!data.empty(), "ttc verifier '{}': no training sequences (a balanced verifier needs items with right and wrong samples)",
              v.kind);
  lv.sequences = static_cast<std::int64_t>(data.size());
  for (const auto& e : data)
    LMLAB_CHECK(static_cast<std::int64_t>(e.input.size()) <= mc.n_ctx, "ttc verifier: a sequence of {} tokens exceeds n_ctx {}",
                e.input.size(), mc.n_ctx);
  lv.model = train_on_examples(mc, data, oc, v.steps, v.pad, v.seed, nullptr, from_generator(v.kind) ? &generator : nullptr);
  lv.model->eval();
  return lv;
}

std::vector<double> verifier_scores(const learned_verifier& v, const item_samples& item) {
  no_grad ng;
  std::size_t T = 0;
  for (std::size_t j = 0; j < item.s.size(); ++j) T = std::max(T, item.prompt.size() + item.answers[j].size());
  std::vector<std::int32_t> in;
  for (std::size_t j = 0; j < item.s.size(); ++j) {
    auto t = verifier_input(item, j);
    t.resize(T, v.setup.pad);  // causal: padding after a sample cannot change its scores
    in.insert(in.end(), t.begin(), t.end());
  }
  const auto B = static_cast<std::int64_t>(item.s.size()), Ti = static_cast<std::int64_t>(T);
  const tensor logits = v.model->forward(tensor::from<std::int32_t>({B, Ti}, std::span<const std::int32_t>(in))).contiguous_raw();
  const std::int64_t V = logits.size(2);
  std::vector<double> out;
  for (std::size_t j = 0; j < item.s.size(); ++j) {
    // Outcome: the position after the answer (its last token); process: the weakest answer token.
    const std::size_t last = item.prompt.size() + item.answers[j].size() - 1;
    const std::size_t first = process(v.setup.kind) ? item.prompt.size() : last;
    double score = INFINITY;
    for (std::size_t t = first; t <= last; ++t) {
      const float* row = logits.data<float>() + (static_cast<std::int64_t>(j) * Ti + static_cast<std::int64_t>(t)) * V;
      score = std::min(score, static_cast<double>(row[v.setup.yes]) - static_cast<double>(row[v.setup.no]));
    }
    out.push_back(score);
  }
  return out;
}

double auc(std::vector<double> right, const std::vector<double>& wrong) {
  if (right.empty() || wrong.empty()) return NAN;
  std::sort(right.begin(), right.end());
  double wins = 0;  // for each wrong score: right scores above it, ties half
  for (double w : wrong) {
    const auto lo = std::lower_bound(right.begin(), right.end(), w), hi = std::upper_bound(right.begin(), right.end(), w);
    wins += static_cast<double>(right.end() - hi) + 0.5 * static_cast<double>(hi - lo);
  }
  return wins / (static_cast<double>(right.size()) * static_cast<double>(wrong.size()));
}

ranking_quality ranking_of(const std::vector<std::vector<double>>& scores, const std::vector<std::vector<bool>>& correct,
                           const std::vector<std::vector<std::int64_t>>& length) {
  LMLAB_CHECK(scores.size() == correct.size() && scores.size() == length.size(), "ranking: scores, labels and lengths differ in items");
  ranking_quality q;
  std::vector<double> all_r, all_w;
  double within = 0, same_wins = 0, same_pairs = 0, ties = 0, pairs = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    LMLAB_CHECK(scores[i].size() == correct[i].size() && scores[i].size() == length[i].size(), "ranking: item {} sizes differ", i);
    std::vector<double> r, w;
    for (std::size_t j = 0; j < scores[i].size(); ++j) (correct[i][j] ? r : w).push_back(scores[i][j]);
    all_r.insert(all_r.end(), r.begin(), r.end());
    all_w.insert(all_w.end(), w.begin(), w.end());
    if (r.empty() || w.empty()) continue;
    ++q.mixed_items;
    within += auc(r, w);
    for (std::size_t a = 0; a < scores[i].size(); ++a)
      for (std::size_t b = 0; b < scores[i].size(); ++b) {
        if (!correct[i][a] || correct[i][b]) continue;  // a right, b wrong
        const double win = scores[i][a] > scores[i][b] ? 1.0 : scores[i][a] == scores[i][b] ? 0.5 : 0.0;
        pairs += 1;
        ties += scores[i][a] == scores[i][b];
        if (length[i][a] == length[i][b]) same_wins += win, same_pairs += 1;
      }
  }
  q.pooled = auc(all_r, all_w);
  if (q.mixed_items > 0) q.within = within / static_cast<double>(q.mixed_items), q.ties = ties / pairs;
  if (same_pairs > 0) q.within_same_length = same_wins / same_pairs;
  return q;
}

}  // namespace lmlab::datalab
