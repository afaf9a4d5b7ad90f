// Scoring that works on any endpoint. A multiple-choice item is scored by the best path the
// server allows, and every sample records which one:
//   echo_logprobs     completions with echo: the log-likelihood of each choice's letter as a
//                     continuation of the prompt (one request per choice), as lm-evaluation-
//                     harness scores MMLU-style items;
//   top_logprobs      one generated token with its alternatives; the choice letters' mass;
//   generated_letter  the letter extracted from generated text (no probabilities);
//   unparsed          the text had no recognisable letter (counted wrong, reported apart).
// Also: verbal confidence ("I'm 80% sure", "확신도: 80%") and abstention phrases.
// Not for: what the items are (suites) or statistics over samples (analysis/).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "probe/client.hpp"

namespace lmlab::probe {

enum class mc_mode { auto_, echo, top_logprobs, letter };
mc_mode parse_mc_mode(std::string_view s);

struct mc_score {
  int pred = -1;                 // chosen index, -1 when unparsed
  std::string path;              // echo_logprobs | top_logprobs | generated_letter | unparsed
  std::vector<double> logprobs;  // per choice (normalised over the choices), empty without logprobs
  std::vector<double> probs;     // softmax of logprobs
  std::optional<double> confidence;  // probs[pred]
  std::string response;          // generated text (letter path) or the top token
  bool from_cache = true;        // every request it needed came from the cache
  std::string note;              // why a path fell back
};

// "A", "B", ... for choice index i.
std::string choice_label(int i);

// The letter in generated text, or -1: "B", "(B)", "B) ...", "Answer: B", "The answer is B.",
// "정답은 B", "**B**". An isolated capital letter in running text counts only when it is the
// only candidate label (so "A good choice is C" gives C, not the article "A").
int extract_letter(std::string_view text, int n_choices);

// Choice log-probabilities from one position's alternatives (token, logprob). Tokens are
// matched after trimming spaces and "()." ("B", " B", "(B"); several tokens for one letter
// add up. A letter absent from the top-k gets the smaller of the unassigned mass shared out
// and the least likely listed alternative (its probability is at most that). nullopt when no
// letter is listed at all. The result is normalised over the choices.
std::optional<std::vector<double>> choice_logprobs_from_top(const std::vector<std::pair<std::string, double>>& top,
                                                            int n_choices);

// Sum of logprobs of echoed tokens that start at or after byte `context_bytes` and before
// `end_bytes`, locating tokens by their text offsets when given, else by their lengths.
double continuation_logprob(const std::vector<token_logprob>& tokens, std::size_t context_bytes,
                            std::size_t end_bytes);

// Verbal confidence in [0, 1]: "Confidence: 80%", "I am 90% sure", "confidence 0.7",
// "확신도: 80%", "80% 확신". nullopt when none is stated.
std::optional<double> parse_verbal_confidence(std::string_view text);

// Whether text declines to answer ("I don't know", "cannot be determined", "모르겠습니다",
// "알 수 없", "not mentioned in the context" ...).
bool is_abstention(std::string_view text);

// Lower-case ASCII, collapse whitespace, strip surrounding punctuation: for exact match.
std::string normalize_answer(std::string_view text);

// Scores one multiple-choice question (`base` holds the messages and sampling settings) by
// `mode` (auto: the best path `caps` allows), falling back as described above.
mc_score score_multiple_choice(client& c, const capabilities& caps, const gen_request& base, int n_choices,
                               mc_mode mode = mc_mode::auto_);

}  // namespace lmlab::probe
