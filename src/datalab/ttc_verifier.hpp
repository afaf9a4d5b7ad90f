// Learned verifiers for test-time compute on the arithmetic task (ttc_runner.hpp), and how well a
// score ranks samples: pooled over items against within one item, which is all best-of-n uses.
//   outcome            a fresh model trained on every training sample, one label after the
//                      answer: "1" right, "0" wrong (Cobbe et al. 2021's outcome verifier)
//   outcome_balanced   the same, trained only on items with right and wrong samples, as many
//                      right as wrong per item, so the item's difficulty carries no label signal
//   outcome_gen        initialised from the generator's weights (Cobbe et al. fine-tune the
//                      verifier from the same pretrained model as the generator)
//   outcome_gen_balanced   both
//   process_gen        initialised from the generator; a label after *every* answer token: "1"
//                      while the answer so far is a prefix of the gold answer (a process reward
//                      model whose steps are the answer's tokens, labelled automatically as in
//                      Wang et al. 2024's Math-Shepherd rather than by people as in Lightman et
//                      al. 2023); a sample's score is its weakest step, min_t (log p("1") − log p("0"))
// Not for: sampling and the runner (ttc_runner.cpp), the aggregation maths (ttc.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datalab/small_train.hpp"
#include "datalab/ttc.hpp"
#include "models/lm.hpp"
#include "train/config.hpp"

namespace lmlab::datalab {

// n sampled answers to one prompt.
struct item_samples {
  std::vector<sampled_answer> s;
  std::vector<std::vector<std::int32_t>> answers;  // each sample's tokens (ends with <eos> when it stopped)
  std::vector<std::int32_t> gold;                  // the gold answer's tokens
  std::vector<std::int32_t> prompt;
  double tokens = 0;  // prompt + answer tokens of one sample
};

const std::vector<std::string>& verifier_kinds();  // the names above, in that order

struct verifier_setup {
  std::string kind = "outcome";
  std::int32_t yes = 0, no = 0;  // the label tokens ("1", "0")
  std::int32_t pad = 0;
  std::int64_t steps = 0;
  std::uint64_t seed = 0;
};

struct learned_verifier {
  std::unique_ptr<models::lm> model;
  verifier_setup setup;
  double right_share = 0;      // share of right samples among its training sequences
  std::int64_t sequences = 0;  // training sequences
};

// The training sequences of one verifier kind from sampled training items: input prompt +
// answer, target ignore_index except the label position(s).
std::vector<token_example> verifier_examples(const std::vector<item_samples>& train_items, const verifier_setup& v,
                                                    double* right_share = nullptr);

// Trains one verifier on `train_items`; `generator` supplies the initial weights of the *_gen
// kinds (its config is `mc`, whose n_ctx must hold prompt + answer).
learned_verifier train_verifier(const std::vector<item_samples>& train_items, const verifier_setup& v, const models::lm_config& mc,
                                const train::optim_config& oc, const models::causal_lm& generator);

// Scores of item's samples (one per sample), all samples in one padded batch; a sample's score
// depends only on its own tokens (tests/datalab/test_ttc.cpp checks batched against one by one).
std::vector<double> verifier_scores(const learned_verifier& v, const item_samples& item);

// Ranking quality of a score. AUC = P(a right sample outscores a wrong one) + ½ P(tie).
//   pooled             over every (right, wrong) pair of all items
//   within             mean over items with right and wrong samples of that item's AUC
//   within_same_length over the within-item pairs whose answers have the same token count
//   ties               share of within-item (right, wrong) pairs with equal scores
//   mixed_items        items with right and wrong samples
struct ranking_quality {
  double pooled = NAN, within = NAN, within_same_length = NAN, ties = NAN;
  std::int64_t mixed_items = 0;
};
double auc(std::vector<double> right, const std::vector<double>& wrong);
// scores[i][j]: sample j of item i; correct and length alike.
ranking_quality ranking_of(const std::vector<std::vector<double>>& scores, const std::vector<std::vector<bool>>& correct,
                           const std::vector<std::vector<std::int64_t>>& length);

}  // namespace lmlab::datalab
