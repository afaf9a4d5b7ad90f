// One choice of a completion, independent of HTTP: prefill the prompt, then sample token by
// token with temperature / top-k / top-p from a Philox stream keyed by (seed, choice index),
// reporting each token's log-probability and its top alternatives, honouring stop strings,
// and handing text to a streaming callback as soon as it can no longer be cut by a stop
// string or split inside a UTF-8 character. Streaming and non-streaming run this same loop,
// so they produce the same text, token for token.
//
// Log-probabilities are the model's own distribution: log-softmax of the raw logits over the
// model's whole vocabulary, before temperature, top-k or top-p (as vLLM reports them), so a
// prompt token's echoed logprob does not depend on the sampling settings.
// Not for: request parsing (protocol.hpp), HTTP or SSE framing (server.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "serve/model_adapter.hpp"

namespace lmlab::serve {

struct gen_params {
  std::int64_t max_tokens = 16;
  double temperature = 1.0;  // 0: greedy
  double top_p = 1.0;
  std::int64_t top_k = 0;    // 0: off
  std::uint64_t seed = 0;
  std::vector<std::string> stop;
  int logprobs = -1;         // -1: none; k >= 0: each token's logprob plus its k best alternatives
  bool echo = false;         // also report the prompt's tokens (with logprobs when asked)
};

// A prompt ready for the model.
struct prompt_in {
  std::vector<std::int32_t> ids;     // what the model is fed (hidden start token included)
  std::size_t hidden = 0;            // leading ids never echoed (a start token for an empty prompt)
  std::size_t truncated = 0;         // ids dropped from the left (truncate_prompt)
  // Set when some characters were substituted (server_limits::unknown_char): the original
  // text and, per visible id, the byte offset in it of the character that id stands for.
  std::string source;
  std::vector<std::size_t> source_offsets;
  std::vector<tensor> images;        // chat image_url parts, decoded (causal_lm::max_images)
};

struct token_info {
  std::int32_t id = 0;
  std::string text;                    // the tokenizer's decoded piece (bytes)
  std::optional<double> logprob;       // none for the first prompt token (nothing precedes it)
  std::vector<std::pair<std::int32_t, double>> top;  // (id, logprob), best first, ties by id
  std::size_t offset = 0;              // byte offset in (echoed prompt +) generated text
};

struct choice_result {
  std::string text;                    // generated text, cut at a stop string
  std::vector<token_info> prompt_tokens;  // echo only
  std::string echo_text;               // echo only: the prompt text the offsets refer to
  std::vector<token_info> tokens;      // generated tokens whose text starts before the cut
  std::string finish_reason;           // "stop" (stop string or end-of-text id) or "length"
  std::int64_t completion_tokens = 0;  // tokens sampled (including a cut or end-of-text one)
};

// Called with text that is final (it will not be cut) and the tokens it completes. Returns
// false to abandon the choice (the client went away).
using delta_fn = std::function<bool(std::string_view text, std::span<const token_info> tokens)>;

// Log-softmax of one row, in double (probabilities of up to ~1e-300 stay finite).
std::vector<double> log_softmax(std::span<const float> logits);
// The k best ids of a log-softmax row among the first `limit` ids, best first, ties by id.
std::vector<std::pair<std::int32_t, double>> top_k_of(std::span<const double> lsm, int k, std::int64_t limit);

// Runs one choice on `prompt` (1..context() ids); `choice_index` selects the random stream.
choice_result run_choice(served_model& m, const prompt_in& prompt, const gen_params& p, std::uint64_t choice_index,
                         const delta_fn& on_delta = {});

// The chat template (docs/probe.md "lmlab serve"): the same plain rendering as the probe
// client's render_plain, so chat and completions see one text for one conversation.
//   system: "<content>\n\n"   user: "User: <content>\n"   assistant: "Assistant: <content>\n"
// then "Assistant:" for the reply. Generation also stops at "\nUser:" (the next turn).
struct chat_turn {
  std::string role, content;
};
std::string render_chat(const std::vector<chat_turn>& turns);
inline constexpr const char* chat_turn_stop = "\nUser:";

}  // namespace lmlab::serve
