// Test-time compute over n sampled answers per item: the unbiased pass@k estimator, majority
// vote (self-consistency), probability-weighted vote and best-of-n by a score, each as the
// expected accuracy at k <= n samples (averaged over random k-subsets of the n).
// Not for: sampling (ttc_runner.cpp), training.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.hpp"

namespace lmlab::datalab {

// pass@k = 1 − C(n−c, k) / C(n, k): the probability that at least one of k samples drawn
// without replacement from n, c of them correct, is correct. Computed as the product
// Π_{i=n−c+1..n} (1 − k/i) for numerical stability.
// ref: Chen et al. 2021, "Evaluating Large Language Models Trained on Code" (arXiv:2107.03374), eq. (1) and Fig. 3.
double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k);

struct sampled_answer {
  std::string answer;   // normalised text of the answer
  bool correct = false; // by the gold verifier
  double score = 0;     // a verifier's score or the model's log-probability of the answer
  double verifier = NAN;  // a learned verifier's score (log-odds of "right"); NaN: none
};

// The most frequent answer; ties go to the answer with the higher summed weight, then the
// one seen first. `weights` empty: all 1 (majority vote, Wang et al. 2022 self-consistency).
std::size_t vote(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset, bool weighted);

struct ttc_accuracy {
  double pass = 0;       // pass@k (unbiased, from all n)
  double majority = 0;   // majority vote over k samples
  double weighted = 0;   // vote weighted by exp(score)
  double best_of = 0;    // the single highest-score sample of k
  double learned = NAN;  // the single sample of k the learned verifier rates highest (NaN: no scores)
  double learned_vote = NAN;  // vote weighted by the learned verifier's σ(score) (NaN: no scores)
  // Best-of-k by a score that is a function of the answer alone and carries no information
  // (i.i.d. per distinct answer): the right answer, when present, wins with probability
  // 1 / (distinct answers among the k). Below pass@1 whenever the right answer is the most
  // frequent: a verifier without within-item signal picks among answers, not samples.
  double uninformed = 0;
};

// Vote weighted by the learned verifier: each answer gets Σ σ(verifier score) over its samples
// (ties: count, then first seen). ref: Uesato et al. 2022 (arXiv:2211.14275) and Snell et al.
// 2024 (sec. 5, "best-of-N weighted"): verifier scores summed over samples with the same answer.
std::size_t verifier_vote(const std::vector<sampled_answer>& s, const std::vector<std::size_t>& subset);

// Expected accuracy of each method with k of the item's samples, over `draws` random k-subsets
// (pass@k is exact). ref: Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally"
// (arXiv:2408.03314): best-of-N and (weighted) majority baselines.
ttc_accuracy item_accuracy(const std::vector<sampled_answer>& s, std::int64_t k, int draws, rng& g);

// item_accuracy averaged over n items, drawn in item order from one rng; samples(i) gives item
// i's samples (a reference or a fresh vector). learned and learned_vote are NaN when the items
// carry no verifier scores.
template <class Samples>
ttc_accuracy mean_item_accuracy(std::size_t n, Samples&& samples, std::int64_t k, int draws, rng& g) {
  ttc_accuracy m;
  m.learned = m.learned_vote = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ttc_accuracy a = item_accuracy(samples(i), k, draws, g);
    m.pass += a.pass, m.majority += a.majority, m.weighted += a.weighted, m.best_of += a.best_of;
    m.learned += a.learned, m.learned_vote += a.learned_vote, m.uninformed += a.uninformed;
  }
  const auto d = static_cast<double>(n);
  m.pass /= d, m.majority /= d, m.weighted /= d, m.best_of /= d, m.learned /= d, m.learned_vote /= d, m.uninformed /= d;
  return m;
}

// Differences paired within one run (the same generator, items and samples) at k, from the
// aggregates at k = 1 and every k aggregated (`at`, keyed by k; needs 1 and k), so that the
// seeds' spread in generator skill cancels: learned_gain = best-of-k by the learned verifier −
// pass@1 (one sample), learned_minus_majority = best-of-k − majority@k, vote_minus_majority =
// the verifier-weighted vote − majority@k, and, when 2k was aggregated,
// learned_minus_majority_equal_flops = best-of-k − majority@2k (equal inference FLOPs: a verifier
// of the generator's size reads every sample once more).
std::vector<std::pair<std::string, double>> paired_differences(const std::map<std::size_t, ttc_accuracy>& at, std::size_t k);

}  // namespace lmlab::datalab
