// Synthetic knowledge bases of people, in the style of Allen-Zhu & Li 2023 ("Physics of Language
// Models, Part 3.1: Knowledge Storage and Extraction", §2, the bioS data): each person has a
// unique full name (first + last token) and five attributes (birth city, university, major,
// employer, birth month), each drawn uniformly; a biography is one sentence per attribute from
// a template; question-answer pairs ask one attribute each. Augmentation knobs as in the
// paper's §4: `phrasings` biographies per person, each with its own template draw (bioS
// multiK), `permute` (sentence order shuffled per biography) and `fullname` (every sentence
// names the person instead of using a pronoun).
// A fraction `qa_fraction` of the people ("QA people") have their QA pairs in training; the
// rest ("held-out people") appear only in biographies, and their QA pairs are the extraction
// test (the paper's out-of-distribution QA).
//
// Token-level vocabulary (one word, one token). `lmlab lab task biographies --set num_people=2
// --set finetune_steps=1`, seed 0, train[0] and test[0]:
//   Inputs: <bos> umar yilmaz grew up in prague . he earned a degree at kaist . he specialized in
//           history . he took a job at hooli . he marks a birthday every june .
//   Labels: umar yilmaz grew up in prague . he ... every june . <eos>
//   Inputs: <bos> where was umar yilmaz born ? prague
//   Labels: -100 -100 -100 -100 -100 -100 prague -100
// Test slices: qa_seen/<attr> (QA people: in-distribution), storage/<attr> (held-out people:
// their first training biography up to the attribute), extract/<attr> (held-out people's QA).
// Counts: train = N·phrasings biographies + N_qa·5 QA pairs (N_qa = round(N·qa_fraction));
// test = 5·N_qa + 10·(N - N_qa).
// Abstention (optional): `unknown_people` more people appear in training only as QA pairs
// answered "unknown" (never in a biography: the model cannot know them); `unseen_people` more
// people appear nowhere in training, and their questions are the test slices unseen/<attr>,
// whose right answer is "unknown" (answering a value there is fabrication). These add
// 5·unknown_people training and 5·unseen_people test examples.
//
// Not for: relations for the reversal test (relations.hpp), in-context retrieval (context.hpp).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::knowledge {

// One attribute: its name (slice suffix), values, sentence templates and one question.
// A template is a token list where "{S}" is the subject (full name or pronoun) and "{X}" the
// value; a question has "{N}" (the full name) and ends in "?".
struct attribute {
  std::string name;
  std::vector<std::string> values;
  std::vector<std::vector<std::string>> templates;
  std::vector<std::string> question;
};
const std::vector<attribute>& attributes();
inline constexpr int max_phrasings = 4;  // templates per attribute
// Biographies per person (`phrasings`): beyond max_phrasings they reuse the templates in new
// combinations (4^5 draws) and, with `permute`, new sentence orders.
inline constexpr int max_biographies = 16;

struct person {
  std::string first, last;
  bool female = false;
  std::vector<int> value;  // index into attributes()[a].values
  bool qa_in_train = false;
};

// Distinct full names drawn without replacement from the name pools, attributes uniform;
// the first round(n · qa_fraction) people are the QA people. Pure function of (n, seed).
std::vector<person> make_people(std::int64_t n, double qa_fraction, std::uint64_t seed);
// The largest number of distinct full names (first × last pools); num_people + unknown_people +
// unseen_people must not exceed it.
std::int64_t max_people();

struct kb_config {
  std::int64_t num_people = 100;
  double qa_fraction = 0.5;
  std::int64_t phrasings = 1;  // biographies per person (1: bioS single)
  bool permute = false;        // shuffle sentence order in every biography
  bool fullname = false;       // every sentence names the person (no pronouns)
  // Used by the biographies runner (runners.hpp), not by the generator:
  std::string mode = "pretrain_finetune";  // or "mixed": biographies and QA in one training set
  std::int64_t finetune_steps = 0;         // QA fine-tuning steps after pretraining (pretrain_finetune)
  double finetune_lr = 0;                  // 0: train.lr
  std::string probe_hook = "";             // "" : the last block's hook_resid_post
  std::int64_t unknown_people = 0;  // trained only as QA answered "unknown"
  std::int64_t unseen_people = 0;   // tested (unseen/<attr>, answer "unknown"), never trained
  // Used by the biographies runner: > 0 slices the questions' accuracy by the model's
  // confidence in `reliability_bins` equal bins (slices confidence=0.05 ..., difficulty = the
  // bin's middle) instead of by question kind: the slices figure is then the reliability
  // diagram (Guo et al. 2017, Fig. 1), and exact_match@qa_seen keeps the in-distribution accuracy.
  std::int64_t reliability_bins = 0;
  // Used by the biographies runner (pretrain_finetune): which parameters the QA fine-tuning
  // updates ("all", or "attention": the attention blocks only, every MLP, embedding and norm
  // frozen; the paper fine-tunes LoRA updates of the query/value matrices and the embedding
  // layer, §2.1), and every how many fine-tuning steps the held-out people's extraction,
  // storage and the QA people's accuracy
  // are logged (run metrics finetune_extract, finetune_storage, finetune_qa_seen; 0: never).
  std::string finetune_params = "all";
  std::int64_t finetune_eval_every = 0;
  // finetune_params = "lora": low-rank adapters (knowledge/lora.hpp) of this rank and alpha on
  // the parameters named by lora_targets (dotted name components joined by '+'), the rest frozen.
  std::int64_t lora_rank = 8;
  double lora_alpha = 16;
  std::string lora_targets = "w_q+w_v+wte";
};

// Adds the kb_config keys to the table of a config that extends it (the editing task's).
template <class C>
void add_kb_params(tasks::param_table<C>& p);
const tasks::param_table<kb_config>& kb_params();
void check(const kb_config& c);

// The vocabulary every knowledge base uses (specials <pad> <bos> <eos>, "unknown", names,
// values, words).
tasks::vocabulary kb_vocabulary();

// One rendered biography: tokens and, per attribute, the index of its value token.
struct biography {
  std::vector<std::string> tokens;
  std::vector<std::size_t> value_pos;  // per attribute
};
// The j-th biography of person p (templates and order from rng(seed, stream of (p, j))).
biography render_biography(const person& p, std::int64_t p_index, std::int64_t j, const kb_config& c,
                           std::uint64_t seed);
// The question tokens for attribute a ("which company employs opal vance ?").
std::vector<std::string> question_tokens(const person& p, std::size_t a);
// The template sentence `t` of attribute a with the full name, cut before the value
// ("opal vance grew up in"): the paraphrase prompt of the editing runner.
std::vector<std::string> sentence_prefix(const person& p, std::size_t a, std::size_t t);

// Examples: a full-LM biography (every position supervised), and a prompt -> answer pair where
// only the answer tokens are supervised (no <eos> supervision, so exact match is the answer).
tasks::example lm_example(const tasks::vocabulary& v, const std::vector<std::string>& tokens);
tasks::example answer_example(const tasks::vocabulary& v, const std::vector<std::string>& prompt,
                              const std::vector<std::string>& answer, std::string slice, double difficulty);

tasks::dataset build(const kb_config& c, std::uint64_t seed);

template <class C>
void add_kb_params(tasks::param_table<C>& p) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  p.add("num_people", &C::num_people, "people in the knowledge base", 2, 960)
      .add("qa_fraction", &C::qa_fraction, "share of people whose QA pairs are trained on", 0.0, 1.0)
      .add("phrasings", &C::phrasings, "biographies per person, each with its own templates", 1, max_biographies)
      .add("permute", &C::permute, "shuffle the sentence order of every biography")
      .add("fullname", &C::fullname, "repeat the full name in every sentence instead of a pronoun")
      .add("mode", &C::mode, "pretrain_finetune: biographies, then QA; mixed: both at once", -inf, inf,
           {"pretrain_finetune", "mixed"})
      .add("finetune_steps", &C::finetune_steps, "QA fine-tuning steps after pretraining", 0, 1e9)
      .add("finetune_lr", &C::finetune_lr, "learning rate of the QA fine-tuning (0: train.lr)", 0, 1)
      .add("probe_hook", &C::probe_hook, "hook read by the attribute probes at the name ('': last hook_resid_post)")
      .add("unknown_people", &C::unknown_people, "people trained only as QA answered 'unknown'", 0, 960)
      .add("unseen_people", &C::unseen_people, "never-seen people whose questions are tested (answer 'unknown')", 0, 960)
      .add("reliability_bins", &C::reliability_bins, "> 0: slice the questions by confidence bin (reliability diagram)", 0, 100)
      .add("finetune_params", &C::finetune_params, "parameters the QA fine-tuning updates: all, attention (the rest frozen), or lora (adapters)",
           -inf, inf, {"all", "attention", "lora"})
      .add("finetune_eval_every", &C::finetune_eval_every, "log extraction/storage/QA accuracy every N fine-tuning steps (0: never)",
           0, 1e9)
      .add("lora_rank", &C::lora_rank, "rank of the LoRA adapters (finetune_params = lora)", 1, 4096)
      .add("lora_alpha", &C::lora_alpha, "LoRA scale alpha: the update is (alpha / rank) B A", 0, 1e6)
      .add("lora_targets", &C::lora_targets, "parameters LoRA adapts, dotted name components joined by + (w_q+w_v+wte: the paper's)");
}

}  // namespace lmlab::knowledge
