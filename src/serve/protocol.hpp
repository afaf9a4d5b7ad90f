// The OpenAI wire format for `lmlab serve`: request bodies of /v1/completions and
// /v1/chat/completions are checked field by field and turned into a job (prompts as token ids
// plus generation parameters); results become response bodies or SSE chunks. Every problem
// with a request is an api_error carrying the HTTP status and OpenAI's error shape
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
// so the server answers 4xx and never crashes on input.
// Not for: sampling (generate.hpp) or sockets (server.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "serve/generate.hpp"
#include "serve/model_adapter.hpp"

namespace lmlab::serve {

class api_error : public std::runtime_error {
 public:
  api_error(int status, std::string message, std::string param = {}, std::string code = {},
            std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), code_(std::move(code)),
        type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string param_, code_, type_;
};

// {"error": {"message", "type", "param" (null when empty), "code" (null when empty)}}
nlohmann::json error_body(const api_error& e);

struct server_limits {
  std::int64_t max_tokens = 2048;        // largest max_tokens a request may ask for
  std::int64_t default_chat_max_tokens = 256;
  int max_n = 16;
  int max_logprobs = 20;                 // completions `logprobs` and chat `top_logprobs`
  int max_prompts = 64;                  // completions with a list of prompts
  // Per-request budget: the sum over prompts of n * (prompt tokens + max_tokens), what the
  // request may cost at most (each choice prefills its prompt). Larger requests are a 400
  // `request_too_large`, so that one allowed request cannot occupy the model for hours.
  std::int64_t max_request_tokens = 65536;
  bool truncate_prompt = false;          // prompt longer than the context: keep its end (else 400)
  // A character the tokenizer cannot encode (a char-level model that never saw it) is fed as
  // this text instead; empty: such a prompt is a 400. Echo still reports the original text,
  // with each token's text_offset pointing at the character it stands for.
  std::string unknown_char;
  // Chat image_url parts (models that take images): the most pixels one image may have (a
  // larger one is a 400 `image_too_large`, refused from its PNG header before it is inflated).
  std::int64_t max_image_pixels = std::int64_t{1} << 22;
};

struct job {
  bool chat = false;
  std::vector<prompt_in> prompts;
  gen_params params;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool seeded = false;         // the request gave a seed (else one was drawn)
};

// A request body as JSON: a discarded value when it is not JSON; api_error 400 when it nests
// deeper than max_request_json_depth (nlohmann parses iteratively, but dump() and the
// error messages that quote a value recurse once per level: a 2 MB body of '[' crashed the
// server). With parse_*_request below, the entry points of the request parser's fuzz target.
inline constexpr int max_request_json_depth = 64;
nlohmann::json parse_request_body(std::string_view body);

// Both throw api_error. A missing "model" means the served one; another name is a 404.
job parse_completion_request(const nlohmann::json& body, const served_model& m, const server_limits& lim);
job parse_chat_request(const nlohmann::json& body, const served_model& m, const server_limits& lim);

// Response bodies. `choices` are in order prompt-major: prompt i, sample j at i * n + j.
struct response_meta {
  std::string id, model, fingerprint;
  std::int64_t created = 0;
};
nlohmann::json completion_response(const job& j, const std::vector<choice_result>& choices, const served_model& m,
                                   const response_meta& meta);
nlohmann::json chat_response(const job& j, const std::vector<choice_result>& choices, const served_model& m,
                             const response_meta& meta);
nlohmann::json usage_json(const job& j, const std::vector<choice_result>& choices);

// Streaming chunks (the "data:" payloads).
nlohmann::json completion_chunk(const response_meta& meta, int index, std::string_view text,
                                std::span<const token_info> tokens, const served_model& m, bool with_logprobs,
                                const std::string& finish_reason);
nlohmann::json chat_chunk(const response_meta& meta, int index, const nlohmann::json& delta,
                          std::span<const token_info> tokens, const served_model& m, bool with_logprobs,
                          const std::string& finish_reason);

// Completions `logprobs` object for tokens (prompt tokens first when echoed).
nlohmann::json completion_logprobs(std::span<const token_info> tokens, const served_model& m);
// Chat `logprobs.content` entries.
nlohmann::json chat_logprobs_content(std::span<const token_info> tokens, const served_model& m);

// Serialises a body for the wire: invalid UTF-8 (a BPE piece holding part of a character)
// is replaced by U+FFFD rather than failing; chat logprobs carry the exact `bytes`.
std::string dump_json(const nlohmann::json& j);

}  // namespace lmlab::serve
