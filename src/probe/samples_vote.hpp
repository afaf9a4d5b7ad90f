// Test-time compute for served models: n sampled answers per free-form item, majority vote
// (self-consistency) and pass@k by the unbiased estimator, on any suite that scores text.
// With `lmlab probe run --samples N` the runner (runner.cpp) keeps each item's own answer (its
// usual temperature, usually greedy) as `acc`, and asks N more times at --sample-temperature,
// sample j with seed = the item's seed + 7919·(j+1) (so a server that honours seeds draws
// differently, and each is its own cache entry). Each sample is scored by the suite's own
// score_text; its answer for voting is the suite's "pred" (an unparsed reply, pred null or < 0,
// does not vote), else the normalised text. Per item the sample records
//   "samples": [{"text", "pred", "correct"}...], "n_correct",
//   "pass@k": {k: 1 − C(n−c, k)/C(n, k)}, "majority@k": {k: the vote over the first k samples}
// for k = 1, 2, 4, ... up to N (and N itself). The suite's results gain "pass@k" and
// "majority@k" (means over items) and slice rows (split "samples", slice "k=K").
// Multiple-choice items are not sampled (they are scored from one request's letter or logprobs).
// Not for: lab models (datalab/ttc.hpp does the same for models trained here), HTTP (client.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "probe/client.hpp"
#include "probe/suite.hpp"

namespace lmlab::probe {

struct sampling_options {
  int n = 0;                 // samples per free-form item; 0 or 1: off
  double temperature = 0.7;  // of the samples (must be > 0 when n > 1)
};

// pass@k = 1 − C(n−c, k)/C(n, k), as the product Π_{i=n−c+1..n} (1 − k/i).
// ref: Chen et al. 2021, "Evaluating Large Language Models Trained on Code" (arXiv:2107.03374), eq. (1).
double unbiased_pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k);

// k = 1, 2, 4, ... <= n, and n.
std::vector<std::int64_t> sample_ks(std::int64_t n);

// The voting key of one scored sample ("" = abstains).
std::string vote_key(const nlohmann::json& scored, const std::string& text);

// Majority vote over samples[0, k): whether the most frequent key's answer is correct; ties go
// to the key seen first; false when every sample abstains.
bool majority_correct(const nlohmann::json& samples, std::int64_t k);

// Fills "samples", "n_correct", "pass@k", "majority@k" of `s` from already-scored samples
// ({"text", "pred", "correct"} objects; used by add_samples and the tests).
void summarise_samples(nlohmann::json samples, nlohmann::json& s);

// Asks `opt.n` samples of a free-form item and records them in `s` (see above).
void add_samples(client& c, const capabilities& caps, const suite& su, const item& it, nlohmann::json& s,
                 const sampling_options& opt);

// Adds "pass@k" and "majority@k" (means over the samples that have them) to the suite's metrics
// and rows (split "samples", slice "k=K", metrics "pass" and "majority") to its slices.
void add_sample_aggregates(const std::vector<nlohmann::json>& samples, suite_result& r);

}  // namespace lmlab::probe
