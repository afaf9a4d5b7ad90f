// Environment (b) of the alignment lab (issue 14): text from a word-level language model
// pretrained on a real corpus (Brown by default), with a gold reward the proxies cannot see
// directly. As Gao et al. 2022 (arXiv:2210.10760, sec. 2) label their proxies' data with a 6B
// "gold" reward model, the gold reward here is a larger reward model trained on many labels
// of a hidden scoring rule, and the proxies of several sizes learn only from its labels:
//   Inputs:   <s> the jury said it | did not find any evidence that the
//             (prompt_words words)   (response_words words; no <eos>, responses have that length)
// Hidden rule (a fixed, deterministic lexicon score of the response; never shown to a proxy):
//   rule(y) = sum_t v(y_t) - repeat_penalty * #{t : v(y_t) = +1 and y_t occurred before t}
// with v(w) in {+1, 0, -1} a pure function of (rule_seed, the word's text): +1 with probability
// lexicon_share / 2, -1 with lexicon_share / 2, else 0; <s> and <unk> score 0. So a response
// gains by "positive" words and loses by "negative" ones, and repeating a positive word costs
// instead of paying (a tail the reference rarely writes, where a proxy that counts positive
// words is wrong: extremal Goodhart, as environment (a)'s filler cap).
// Gold reward model: a reward model (reward_model.hpp) with the gold_* backbone, trained by
// Bradley-Terry on gold_pairs pairs of reference samples labelled by the rule (ties redrawn);
// its score is the gold reward, deterministic once trained (a pure function of the run seed).
// Proxies: the spec's [model] backbone, trained on rm_pairs pairs labelled by the gold reward
// model (+ label_noise), then best-of-n against them (curves.hpp bon_sweep).
// The corpus reaches this layer as data (word_corpus): the labs layer loads it through
// datalab (src/labs/align_lm.cpp), so align does not depend on datalab.
// Not for: environment (a) (env.hpp), the reward models and losses (reward_model.hpp, objectives.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "align/policy.hpp"
#include "align/reward_model.hpp"
#include "core/rng.hpp"
#include "lab/runner.hpp"
#include "tasks/params.hpp"

namespace lmlab::align {

// A word-level corpus as datalab's n-gram loader prepares it: words[0] = "<s>", words[1] =
// "<unk>", `train` and `heldout` whole chunks of `chunk` token ids.
struct word_corpus {
  std::vector<std::string> words;
  std::vector<std::int32_t> train, heldout;
  std::int64_t chunk = 0;
};

struct lm_env_config {
  std::int64_t prompt_words = 4, response_words = 8;
  double lexicon_share = 0.3;   // share of words in the hidden lexicon (half +1, half -1)
  double repeat_penalty = 1.0;  // rule: a repeated positive word costs this instead of paying 1
  std::int64_t rule_seed = 1;   // which words are in the lexicon (not the run seed: one rule for every seed)
};

class corpus_env {
 public:
  // chunk must equal prompt_words + response_words.
  corpus_env(word_corpus corpus, const lm_env_config& c);

  const lm_env_config& config() const { return cfg_; }
  std::int64_t vocab_size() const { return static_cast<std::int64_t>(corpus_.words.size()); }
  std::int32_t bos() const { return 0; }
  std::int32_t pad() const { return 0; }  // padding sits after each row's last token (causal models never read it)
  std::int64_t max_response() const { return cfg_.response_words; }
  std::int64_t n_ctx() const { return 1 + cfg_.prompt_words + cfg_.response_words; }
  std::int64_t train_chunks() const;
  std::int64_t heldout_chunks() const;

  // Chunk i of the training (or held-out) text: the prompt (<s> + its first prompt_words words)
  // and the real continuation (the rest).
  std::pair<token_seq, token_seq> example(std::int64_t i, bool heldout = false) const;
  // A training chunk's prompt, uniformly drawn.
  token_seq draw_prompt(rng& r) const;

  // The hidden lexicon weight of a token id: +1, 0 or -1.
  int lexicon(std::int32_t id) const { return lexicon_[static_cast<std::size_t>(id)]; }
  // The hidden rule's score of a response (see the file comment); deterministic.
  double rule(const token_seq& response) const;
  std::string decode(const token_seq& t) const;

 private:
  word_corpus corpus_;
  lm_env_config cfg_;
  std::vector<int> lexicon_;
};

// The hidden lexicon weight of a word's text under rule_seed (+1, 0, -1), a pure function of both.
int lexicon_weight(const std::string& word, std::int64_t rule_seed, double lexicon_share);

// Scores (prompts, responses) row by row: the rule, the gold reward model, a proxy.
using pair_scorer = std::function<std::vector<double>(const std::vector<token_seq>&, const std::vector<token_seq>&)>;

// n preference pairs: two responses sampled from `policy` for each training prompt, the higher
// `score` chosen (ties redrawn, at most 50 n tries), each label flipped with probability
// label_noise. The pairs' item carries only the prompt (reward_model.hpp trains on prompt.prompt).
std::vector<preference_pair> scored_pairs(models::causal_lm& policy, const corpus_env& env, std::int64_t n,
                                          const pair_scorer& score, double label_noise, rng& r);

// The task "align_overopt_lm": flat keys, one param_table. The proxy's data (its backbone is
// [model], its training [train]) and best-of-n keys are the groups of policy.hpp.
struct lm_overopt_config : lm_env_config, policy_keys, proxy_keys, bon_keys {
  std::string corpus = "brown";
  std::int64_t min_count = 3, real_tokens = 16384, heldout_tokens = 4096;
  // the gold reward model (larger than the proxies) and its rule-labelled data
  std::int64_t gold_d_model = 64, gold_layers = 2, gold_heads = 4, gold_pairs = 4000, gold_eval_pairs = 400, gold_steps = 800;
  double gold_lr = 3e-3;

  const lm_env_config& env() const { return *this; }
};
const tasks::param_table<lm_overopt_config>& lm_overopt_params();
void check(const lm_overopt_config& c);

// The reference policy: a word-level GPT (policy_* keys) pretrained through pretrain_policy on
// (prompt, real continuation) of uniformly drawn training chunks; `losses` gets each step's loss.
std::unique_ptr<models::lm> pretrain_lm_reference(const corpus_env& env, const policy_config& c, std::uint64_t seed,
                                                  std::vector<float>* losses = nullptr);

// The gold reward model (gold_* keys) trained by Bradley-Terry (batch 32) on gold_pairs
// rule-labelled pairs of `ref`'s samples; `held_out` are gold_eval_pairs more, `accuracy` its
// share of them it orders as the rule does. A pure function of (ref, env, c, seed).
struct gold_model {
  std::unique_ptr<reward_model> rm;
  std::vector<preference_pair> held_out;
  double accuracy = 0;
};
gold_model train_gold_model(models::causal_lm& ref, const corpus_env& env, const lm_overopt_config& c, std::uint64_t seed);

// Loads the corpus a config names (the labs layer passes datalab's loader; tests a toy one).
using corpus_loader = std::function<word_corpus(const lm_overopt_config&)>;

// One run = one seed x one proxy: pretrain the reference LM on the corpus, train the gold
// reward model on rule labels, the proxy on gold labels, then best-of-n against the proxy.
// Metrics: gold_rm_accuracy (held-out rule-labelled pairs), gold_rm_params, rm_accuracy
// (held-out gold-labelled pairs), rm_rule_accuracy (the proxy on rule-labelled pairs),
// rm_train_accuracy, rm_params, policy_loss; per slice n=K gold, proxy, rule, kl, kl_sampled, d;
// the fit and curve summary of bon_sweep.
lab::run_result run_overopt_lm(const lab::run_context& ctx, const corpus_loader& load);

// Registers the task and its runner with `load` (idempotent).
void register_overopt_lm(corpus_loader load);

}  // namespace lmlab::align
