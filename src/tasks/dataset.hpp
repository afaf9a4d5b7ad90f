// The one representation every probe task produces, shaped for training a causal LM:
// token-id sequences (int32) for inputs, per-position targets with ignore_index (-100, as in
// PyTorch's cross_entropy) where there is no supervision, a vocabulary so examples print as
// text, a slice name and a numeric difficulty per example (accuracy is reported per slice,
// as in zoology), and a text form (prompt, answer) of the same item for a served LLM.
//
// Alignment: `target[t]` is the token the model should predict after reading input[0..t]
// (targets are already shifted, as zoology's labels[:, 1:]); input and target have equal
// length. A prompt/answer task is laid out as
//     input : <bos> p1 .. pn  a1 .. am
//     target:  -100 .. -100 a1 .. am <eos>
// Seeds: train example i draws from rng(seed, i), test example j from
// rng(seed, test_stream_base + j): the two seed ranges never overlap.
// Not for: tokenising natural text corpora (data/), batching for a specific model (train/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/rng.hpp"

namespace lmlab::tasks {

inline constexpr std::int32_t ignore_index = -100;
inline constexpr std::uint64_t test_stream_base = 1ull << 40;

inline rng train_rng(std::uint64_t seed, std::uint64_t i) { return rng(seed, i); }
inline rng test_rng(std::uint64_t seed, std::uint64_t j) { return rng(seed, test_stream_base + j); }

class vocabulary {
 public:
  // Adds `token` if new; returns its id either way.
  std::int32_t add(std::string_view token);
  // The id of a known token; error names the token.
  std::int32_t id(std::string_view token) const;
  bool contains(std::string_view token) const { return index_.count(std::string(token)) != 0; }
  const std::string& token(std::int32_t id) const;
  std::int32_t size() const { return static_cast<std::int32_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  // Space-joined token strings; ignore_index prints as "-100".
  std::string decode(std::span<const std::int32_t> ids, std::string_view sep = " ") const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t> index_;
};

struct example {
  std::vector<std::int32_t> input;
  std::vector<std::int32_t> target;  // same length as input; ignore_index where unsupervised
  std::string slice;                 // e.g. "kv=8", "id/d=3", "actions=24"
  double difficulty = 0;             // numeric axis of the slice, for plots
  std::string prompt;                // text form for a served LLM
  std::string answer;                // the expected completion of `prompt`
};

struct dataset {
  std::string task;
  vocabulary vocab;
  std::int32_t pad_id = 0;
  std::vector<example> train;
  std::vector<example> test;
};

// The standard causal-LM layout of a prompt/answer pair (see the header comment).
example make_prompt_answer(std::span<const std::int32_t> prompt_ids, std::span<const std::int32_t> answer_ids,
                           std::int32_t bos, std::int32_t eos);

// Checks invariants every task must satisfy: equal input/target length, ids inside the
// vocabulary, at least one supervised position; error names the split and index.
void validate(const dataset& d);

// Exact match: every supervised position of `ex` has pred[t] == target[t]. `pred` holds the
// model's argmax per input position.
bool exact_match(const example& ex, std::span<const std::int32_t> pred);

struct slice_accuracy {
  std::string slice;
  double difficulty = 0;
  std::int64_t n = 0;
  std::int64_t correct = 0;
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
};

// Per-slice totals: one entry per slice name (its difficulty the mean over its examples;
// SCAN's "and" slice spans many action counts), ordered by (difficulty, name). score(i) gives
// example i's (scored positions, correct ones).
std::vector<slice_accuracy> tally_by_slice(const std::vector<example>& examples,
                                           const std::function<std::pair<std::int64_t, std::int64_t>(std::size_t)>& score);
// Per-slice exact-match accuracy (tally_by_slice with one point per example).
std::vector<slice_accuracy> accuracy_by_slice(const std::vector<example>& examples,
                                              const std::vector<std::vector<std::int32_t>>& predictions);

// A padded batch in row-major (B, T): inputs padded with pad_id, targets with ignore_index.
// T = the longest example, or `fixed_T` when > 0 (longer examples are an error).
struct batch {
  std::int64_t B = 0, T = 0;
  std::vector<std::int32_t> input;
  std::vector<std::int32_t> target;
};
batch make_batch(const std::vector<example>& examples, std::span<const std::size_t> indices, std::int32_t pad_id,
                 std::int64_t fixed_T = 0);

// "Inputs: ...\nLabels: ..." with token strings, as in the task header comments.
std::string format_example(const vocabulary& vocab, const example& ex);

// Counts per split and slice, vocabulary size, longest sequence: for logs and the store.
nlohmann::json summary(const dataset& d);

// Helpers for generators.
std::string to_base_string(std::uint64_t value, int base);  // digits 0-9 then A-Z
void shuffle_examples(std::vector<example>& v, rng& r);     // Fisher-Yates

}  // namespace lmlab::tasks
