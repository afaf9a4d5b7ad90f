// Test-time compute aggregation: see ttc.hpp.
#include "datalab/ttc.hpp"

#include <cmath>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "datalab/collapse.hpp"

namespace lmlab::datalab {

double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k) {
  LMLAB_CHECK(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n, "pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={} c={} k={}", n, c, k);
  if (n - c < k) return 1.0;
  double fail = 1.0;  // C(n−c, k) / C(n, k)
  for (std::int64_t i = n - c + 1; i <= n; ++i) fail *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - fail;
}

namespace {

// The answer with the largest (key, tie) over its samples, then the one seen first; key and
// tie are sums of per-sample values.
std::size_t tally_vote(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset,
                       const std::function<double(const sampled_answer&)>& key, const std::function<double(const sampled_answer&)>& tie) {
  LMLAB_CHECK(!subset.empty(), "vote: no samples");
  struct tally {
    double key = 0, tie = 0;
    std::size_t first = 0;
  };
  std::map<std::string, tally> t;
  for (std::size_t i : subset) {
    auto [it, inserted] = t.try_emplace(s[i].answer, tally{0, 0, i});
    it->second.key += key(s[i]);
    it->second.tie += tie(s[i]);
  }
  const tally* best = nullptr;
  for (const auto& [a, x] : t)
    if (!best || x.key > best->key || (x.key == best->key && (x.tie > best->tie || (x.tie == best->tie && x.first < best->first))))
      best = &x;
  return best->first;
}

double one(const sampled_answer&) { return 1.0; }
double probability(const sampled_answer& x) { return std::exp(x.score); }
double verifier_probability(const sampled_answer& x) { return 1.0 / (1.0 + std::exp(-x.verifier)); }

}  // namespace

std::size_t vote(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset, bool weighted) {
  return weighted ? tally_vote(s, subset, probability, one) : tally_vote(s, subset, one, probability);
}

std::size_t verifier_vote(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset) {
  return tally_vote(s, subset, verifier_probability, one);
}

namespace {

// 1 / (distinct answers in the subset) when the right answer is among them, else 0.
double uninformed_pick(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset) {
  std::map<std::string, bool> answers;
  for (std::size_t i : subset) answers[s[i].answer] = s[i].correct;
  for (const auto& [a, right] : answers)
    if (right) return 1.0 / static_cast<double>(answers.size());
  return 0.0;
}

}  // namespace

ttc_accuracy item_accuracy(const std::vector<sampled_answer>& s, std::int64_t k, int draws, rng& g) {
  const auto n = static_cast<std::int64_t>(s.size());
  LMLAB_CHECK(k >= 1 && k <= n && draws >= 1, "ttc: k must be in [1, {}], got {}", n, k);
  std::int64_t c = 0;
  for (const auto& x : s) c += x.correct;
  ttc_accuracy a;
  a.pass = pass_at_k(n, c, k);
  bool scored = true;
  for (const auto& x : s) scored = scored && !std::isnan(x.verifier);
  if (scored) a.learned = 0, a.learned_vote = 0;
  // With k = n every draw is the same subset.
  const int d = k == n ? 1 : draws;
  for (int r = 0; r < d; ++r) {
    const auto sub = choose_indices(static_cast<std::size_t>(n), static_cast<std::size_t>(k), g);
    a.majority += s[vote(s, sub, false)].correct;
    a.weighted += s[vote(s, sub, true)].correct;
    std::size_t best = sub[0];
    for (std::size_t i : sub)
      if (s[i].score > s[best].score) best = i;
    a.best_of += s[best].correct;
    a.uninformed += uninformed_pick(s, sub);
    if (scored) {
      a.learned_vote += s[verifier_vote(s, sub)].correct;
      std::size_t top = sub[0];
      for (std::size_t i : sub)
        if (s[i].verifier > s[top].verifier) top = i;
      a.learned += s[top].correct;
    }
  }
  if (scored) a.learned /= d, a.learned_vote /= d;
  a.uninformed /= d;
  a.majority /= d;
  a.weighted /= d;
  a.best_of /= d;
  return a;
}

std::vector<std::pair<std::string, double>> paired_differences(const std::map<std::size_t, ttc_accuracy>& at, std::size_t k) {
  const auto one = at.find(1), here = at.find(k);
  LMLAB_CHECK(one != at.end() && here != at.end(), "ttc: paired differences at k = {} need the aggregates at k = 1 and k = {}", k, k);
  const ttc_accuracy& a = here->second;
  std::vector<std::pair<std::string, double>> m = {{"learned_gain", a.learned - one->second.pass},
                                                   {"learned_minus_majority", a.learned - a.majority},
                                                   {"vote_minus_majority", a.learned_vote - a.majority}};
  if (const auto twice = at.find(2 * k); twice != at.end())
    m.emplace_back("learned_minus_majority_equal_flops", a.learned - twice->second.majority);
  return m;
}

}  // namespace lmlab::datalab
