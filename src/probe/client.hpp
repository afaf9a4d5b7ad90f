// A client for OpenAI-compatible servers (OpenAI, vLLM, llama.cpp, Ollama, lmlab serve):
// POST /v1/chat/completions, /v1/completions and llama.cpp's native /completion (n_probs),
// optionally streamed (SSE, reassembled into one response). It owns what makes remote calls
// dependable: a per-request deadline (covering slow streams), retries with exponential
// backoff and jitter that honour Retry-After (seconds or an HTTP-date), and the request cache
// in the results store, keyed by (sha256 of the canonical request JSON, repeat index, seed),
// so that rerunning a command continues where it stopped and never asks twice.
// The API key comes from OPENAI_API_KEY; it is sent as a header only: it is never part of a
// cache key, never stored (responses are scrubbed of it) and never printed.
// Not for: choosing answers from responses (scoring.hpp) or defining probes (suites).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace lmlab::probe {

enum class api { chat, completions, llama };
std::string_view to_string(api a);
api parse_api(std::string_view s);

struct endpoint_config {
  std::string base_url = "http://127.0.0.1:8080/v1";  // scheme://host:port[/prefix]
  std::string provider = "openai";                     // from --model provider/name
  std::string model;                                   // the name sent in requests
  std::string api_key;                                 // from OPENAI_API_KEY; never stored
  double timeout_s = 120;          // whole request: connect, headers and body (a watchdog enforces it)
  double connect_timeout_s = 10;
  int max_retries = 6;             // attempts = max_retries + 1
  double backoff_base_s = 0.5;     // wait before retry k: base * 2^k, equal jitter
  double backoff_max_s = 30;
  double max_retry_after_s = 120;  // a longer Retry-After is capped
  bool stream = false;
  // A larger response body (JSON or the whole SSE stream) is cut off and counts as a failed
  // attempt: the client never holds more than this per request.
  std::size_t max_response_bytes = std::size_t{64} << 20;
  // The status line and headers may take at most about this much (plus 4 MiB of slack for body
  // bytes that arrive early): httplib reads headers without a bound, so a watchdog counts the
  // bytes the connection has received (TCP_INFO) until the body starts, and cuts it off.
  std::size_t max_header_bytes = std::size_t{1} << 20;
  // Seams for tests: how to wait, and what time it is (for HTTP-date Retry-After).
  std::function<void(double seconds)> sleep;
  std::function<std::time_t()> now;
};

// "openai/gpt-4o-mini" -> {"openai", "gpt-4o-mini"}; "llamacpp/qwen2.5-7b/q4" keeps the rest
// as the name. A bare name is a usage error (the provider says which server family it is).
std::pair<std::string, std::string> parse_model_ref(std::string_view ref);

// Retry-After: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT",
// RFC 9110 section 10.2.3); the wait in seconds from `now` (0 for a date in the past), or
// nullopt when the value is neither. Any number of digits is accepted (the value saturates
// at 1e12 s; the caller caps it at max_retry_after_s).
std::optional<double> parse_retry_after(std::string_view value, std::time_t now);

// The wait before retry `attempt` (0-based) without a Retry-After: min(max, base * 2^attempt)
// scaled by a jitter factor u in [0.5, 1] ("equal jitter"), u drawn by the caller.
double backoff_delay(int attempt, double base_s, double max_s, double u);

struct message {
  std::string role;  // system | user | assistant
  std::string content;
  // Images for the chat API, each a URL or a data URI ("data:image/png;base64,...";
  // vlm/image_io.hpp makes them): sent as OpenAI `image_url` content parts after the text.
  std::vector<std::string> image_urls = {};
};

// A message of a chat request: {"role", "content"} with content the text, or, when the message
// has images, OpenAI's list of parts [{"type": "text", "text"}, {"type": "image_url",
// "image_url": {"url"}}...] (the form llama.cpp's server and vLLM accept too).
nlohmann::json chat_message_json(const message& m);

// Renders chat messages as plain text for completion endpoints ("User: ...\nAssistant:").
std::string render_plain(const std::vector<message>& messages);

struct gen_request {
  std::vector<message> messages;  // the chat form
  std::string prompt;             // completion form; rendered from messages when empty
  int max_tokens = 16;
  double temperature = 0;
  std::optional<std::int64_t> seed;
  int top_logprobs = 0;  // > 0: ask for this many alternatives per generated token
  bool echo = false;     // completions only: return the prompt's token logprobs too
  int n = 1;
  std::vector<std::string> stop;
  std::int64_t repeat = 0;  // the repeat index of the cache key (same request asked again)
};

struct token_logprob {
  std::string token;
  double logprob = 0;
  std::int64_t offset = -1;  // character offset in prompt+text (completions echo), -1 unknown
  std::vector<std::pair<std::string, double>> top;  // alternatives with logprobs
};

struct gen_result {
  std::string text;
  std::string finish_reason;
  std::vector<token_logprob> tokens;  // generated tokens, or prompt + generated with echo
  std::vector<std::string> texts;     // all choices when n > 1
  std::string prompt;                 // the text prompt sent (completions/llama)
  bool from_cache = false;
  int attempts = 0;
};

struct capabilities {
  bool chat = false, completions = false, llama = false;
  bool logprobs = false;      // token logprobs on generated tokens (any api)
  bool top_logprobs = false;  // >= 2 alternatives per position
  bool echo = false;          // completions echo with prompt logprobs and text offsets
  bool n = false;
  bool seed = false;          // accepted without error (determinism is measured, not assumed)
  api preferred = api::chat;  // what generation uses
  api logprob_api = api::chat;  // where top_logprobs come from
  nlohmann::json to_json() const;
  static capabilities from_json(const nlohmann::json& j);
};

struct client_stats {
  std::atomic<std::int64_t> requests{0};     // HTTP attempts
  std::atomic<std::int64_t> retries{0};
  std::atomic<std::int64_t> cache_hits{0};
  std::atomic<std::int64_t> failures{0};     // requests that gave up
};

// A non-retryable HTTP error (4xx other than 408/409/425/429).
class http_error : public error {
 public:
  http_error(int status, std::string message, std::string hint = {})
      : error(std::move(message), std::move(hint)), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class client {
 public:
  // `cache` may be null (no caching). The client is safe to use from several threads.
  client(endpoint_config cfg, store::results_store* cache);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // POST `path` (e.g. "/chat/completions"; relative to the base URL, or absolute from the
  // host when it starts with "//") with retries and the cache; returns the response JSON.
  nlohmann::json post(std::string_view path, const nlohmann::json& body, std::int64_t repeat, std::int64_t seed,
                      bool* from_cache = nullptr, int* attempts = nullptr);

  gen_result generate(api a, const gen_request& req);

  // Small probe requests (cached like any other) that find what the endpoint supports.
  capabilities detect_capabilities();

  const endpoint_config& config() const { return cfg_; }
  const client_stats& stats() const { return stats_; }
  std::string url(std::string_view path) const;

 private:
  struct http_reply;
  http_reply send_once(const std::string& full_path, const std::string& body, bool stream);
  std::optional<nlohmann::json> usable_reply(api kind, const http_reply& reply, bool stream, std::string& last) const;
  std::string scrub(std::string s) const;
  void scrub_json(nlohmann::json& j) const;  // every string value, and object keys that are data

  endpoint_config cfg_;
  store::results_store* cache_;
  std::string host_;    // scheme://host:port
  std::string prefix_;  // "/v1" or ""
  client_stats stats_;
  // Single flight: a request already being asked by another thread is waited for, then read
  // from the cache, so that concurrent identical items never ask the server twice.
  std::mutex inflight_mu_;
  std::condition_variable inflight_cv_;
  std::set<std::string> inflight_;
};

// Limits on what a server may send (docs/probe.md "Reliability").
inline constexpr std::size_t max_stream_choices = 1024;  // SSE "index" must be below this
inline constexpr int max_reply_json_depth = 128;         // nesting of a JSON reply or SSE chunk

// A server's JSON text parsed, or a discarded value when it is not JSON or nested deeper than
// max_reply_json_depth (nlohmann parses iteratively, but dump() recurses once per level).
nlohmann::json parse_json_reply(std::string_view text);

// Parses an OpenAI chat/completions or llama.cpp /completion response body into gen_result.
// Throws lmlab::error (naming the response) on a body without choices or with fields of the
// wrong type. Together with assemble_stream and parse_retry_after these are the entry points
// for the response parsers' fuzz targets: plain functions of the server's bytes.
gen_result parse_response(api a, const nlohmann::json& body);

// Why a response body cannot be used ("" when parse_response accepts it). Only usable
// responses are cached.
std::string response_problem(api a, const nlohmann::json& body);

// Reassembles an SSE stream ("data: {...}\n\n" ... "data: [DONE]") into the JSON a
// non-streamed call returns. nullopt when the stream ended without [DONE] (truncated);
// lmlab::error when a chunk is malformed (a choice index outside 0..max_stream_choices-1).
std::optional<nlohmann::json> assemble_stream(api a, std::string_view sse);

}  // namespace lmlab::probe
