// OpenAI-compatible client: see client.hpp.
#include "probe/client.hpp"

#include <optional>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "data/plain_chat.hpp"
#include "probe/tcp_bytes.hpp"

namespace lmlab::probe {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

bool retryable_status(int s) { return s == 408 || s == 409 || s == 425 || s == 429 || s >= 500; }

double jitter_u() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.0)(gen);
}

std::string excerpt(std::string_view s, std::size_t n = 200) {
  std::string out(s.substr(0, n));
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > n) out += "...";
  return out;
}

// Concatenates JSON arrays found at `key` of `src` onto dst[key].
void append_array(json& dst, const json& src, const char* key) {
  if (!src.is_object() || !src.contains(key) || !src[key].is_array()) return;
  if (!dst.contains(key) || !dst[key].is_array()) dst[key] = json::array();
  for (const auto& v : src[key]) dst[key].push_back(v);
}

}  // namespace

json parse_json_reply(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_reply_json_depth) return json(json::value_t::discarded);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return json::parse(text, nullptr, false);
}

constexpr enum_name<api> k_apis[] = {{api::chat, "chat"}, {api::completions, "completions"}, {api::llama, "llama"}};

std::string_view to_string(api a) { return name_of(k_apis, a); }

api parse_api(std::string_view s) {
  if (const auto v = value_named(k_apis, s)) return *v;
  throw usage_error(fmt::format("--api: unknown api '{}'", s), "use chat, completions or llama (llama.cpp /completion)");
}

std::pair<std::string, std::string> parse_model_ref(std::string_view ref) {
  const auto slash = ref.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == ref.size())
    throw usage_error(fmt::format("--model: '{}' is not provider/name", ref),
                      "e.g. --model openai/gpt-4o-mini, --model llamacpp/qwen2.5-7b, --model vllm/meta-llama/Llama-3.1-8B");
  return {std::string(ref.substr(0, slash)), std::string(ref.substr(slash + 1))};
}

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && (c >= '0' && c <= '9');
  if (digits) {
    // Saturates instead of overflowing: a 400-digit value is "very long" (the caller caps it).
    double v = 0;
    for (char c : value) v = std::min(v * 10 + (c - '0'), 1e12);
    return v;
  }
  // IMF-fixdate, the form RFC 9110 says senders must use: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string s(value);
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  const std::time_t when = ::timegm(&tm);
  return std::max(0.0, std::difftime(when, now));
}

double backoff_delay(int attempt, double base_s, double max_s, double u) {
  const double raw = base_s * std::ldexp(1.0, std::min(attempt, 30));
  return std::min(max_s, raw) * u;
}

json chat_message_json(const message& m) {
  if (m.image_urls.empty()) return {{"role", m.role}, {"content", m.content}};
  json parts = json::array({{{"type", "text"}, {"text", m.content}}});
  for (const auto& u : m.image_urls) parts.push_back({{"type", "image_url"}, {"image_url", {{"url", u}}}});
  return {{"role", m.role}, {"content", parts}};
}

std::string render_plain(const std::vector<message>& messages) { return data::render_plain_chat(messages); }

json capabilities::to_json() const {
  return {{"chat", chat},     {"completions", completions}, {"llama", llama}, {"logprobs", logprobs},
          {"top_logprobs", top_logprobs}, {"echo", echo}, {"n", n},         {"seed", seed},
          {"preferred", std::string(to_string(preferred))}, {"logprob_api", std::string(to_string(logprob_api))}};
}

capabilities capabilities::from_json(const json& j) {
  capabilities c;
  c.chat = j.value("chat", false);
  c.completions = j.value("completions", false);
  c.llama = j.value("llama", false);
  c.logprobs = j.value("logprobs", false);
  c.top_logprobs = j.value("top_logprobs", false);
  c.echo = j.value("echo", false);
  c.n = j.value("n", false);
  c.seed = j.value("seed", false);
  c.preferred = parse_api(j.value("preferred", "chat"));
  c.logprob_api = parse_api(j.value("logprob_api", "chat"));
  return c;
}

struct client::http_reply {
  int status = 0;
  std::string body;
  std::string retry_after;
  std::string failure;  // transport failure (empty when a status arrived)
};

client::client(endpoint_config cfg, store::results_store* cache) : cfg_(std::move(cfg)), cache_(cache) {
  std::string url = cfg_.base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const auto scheme = url.find("://");
  LMLAB_CHECK_HINT(scheme != std::string::npos, "e.g. --base-url http://127.0.0.1:8080/v1",
                   "--base-url: '{}' has no scheme (http:// or https://)", cfg_.base_url);
  const auto path = url.find('/', scheme + 3);
  host_ = url.substr(0, path);
  prefix_ = path == std::string::npos ? "" : url.substr(path);
  if (!cfg_.sleep) cfg_.sleep = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
  if (!cfg_.now) cfg_.now = [] { return std::time(nullptr); };
}

client::~client() = default;

std::string client::url(std::string_view path) const {
  if (path.starts_with("//")) return host_ + std::string(path.substr(1));
  return host_ + prefix_ + std::string(path);
}

void client::scrub_json(json& j) const {
  if (j.is_string()) {
    j = scrub(j.get<std::string>());
  } else if (j.is_array()) {
    for (auto& v : j) scrub_json(v);
  } else if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      json v = std::move(it.value());
      scrub_json(v);
      // Field names of the response format ("message", "finish_reason") are kept, so that a
      // short key ("a") cannot unmake the structure; other keys are data (completions'
      // top_logprobs map tokens to logprobs) and are scrubbed like values.
      const bool field_name = std::all_of(it.key().begin(), it.key().end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
      out[field_name ? it.key() : scrub(it.key())] = std::move(v);
    }
    j = std::move(out);
  }
}

std::string client::scrub(std::string s) const {
  if (cfg_.api_key.empty()) return s;
  static constexpr std::string_view mask = "<redacted>";
  // Search on after the mask: a key that occurs inside "<redacted>" (e.g. "a") must not be
  // found again in its own replacement.
  for (std::size_t p = s.find(cfg_.api_key); p != std::string::npos; p = s.find(cfg_.api_key, p + mask.size()))
    s.replace(p, cfg_.api_key.size(), mask);
  return s;
}

namespace {
// The watchdog of one request (see client::send_once): every 10 ms until the request
// finishes, it stops the client at the deadline, or while the body has not started once the
// connection has received more than header_cap bytes; after stopping, again every 50 ms
// until the request returns.
class request_watchdog {
 public:
  request_watchdog(httplib::Client& cli, steady::time_point deadline, std::uint64_t header_cap,
                   const std::atomic<bool>& body_started, const std::atomic<int>& sock)
      : thread_([this, &cli, deadline, header_cap, &body_started, &sock] {
          std::unique_lock lk(mu_);
          while (!cv_.wait_for(lk, std::chrono::milliseconds(10), [&] { return finished_; })) {
            if (steady::now() >= deadline) {
              fired_ = true;
              break;
            }
            if (!body_started.load() && tcp_bytes_received(sock.load()) > header_cap) {
              flooded_ = true;
              break;
            }
          }
          if (finished_) return;
          do cli.stop();
          while (!cv_.wait_for(lk, std::chrono::milliseconds(50), [&] { return finished_; }));
        }) {}
  ~request_watchdog() { finish(); }

  void finish() {
    {
      std::lock_guard lk(mu_);
      finished_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() const { return fired_; }      // the deadline passed
  bool flooded() const { return flooded_; }  // the headers passed header_cap

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false, fired_ = false, flooded_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};
}  // namespace

client::http_reply client::send_once(const std::string& full_path, const std::string& body, bool stream) {
  http_reply out;
  httplib::Client cli(host_);
  const auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                            std::chrono::duration<double>(cfg_.timeout_s));
  const auto usec = [](double s) { return static_cast<time_t>(std::llround(s * 1e6)); };
  cli.set_connection_timeout(0, usec(std::min(cfg_.connect_timeout_s, cfg_.timeout_s)));
  cli.set_read_timeout(0, usec(cfg_.timeout_s));
  cli.set_write_timeout(0, usec(cfg_.timeout_s));
  cli.set_keep_alive(false);
  httplib::Request req;
  req.method = "POST";
  req.path = full_path;
  req.headers = {{"Content-Type", "application/json"}, {"Accept", stream ? "text/event-stream" : "application/json"}};
  if (!cfg_.api_key.empty()) req.headers.emplace("Authorization", "Bearer " + cfg_.api_key);
  req.body = body;
  bool too_large = false;
  std::atomic<bool> body_started{false};
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    body_started.store(true);
    if (out.body.size() + n > cfg_.max_response_bytes) {
      too_large = true;
      return false;
    }
    out.body.append(data, n);
    return true;
  };
  // httplib's timeouts bound each gap between bytes, so headers or a body trickled a byte at
  // a time never time out, and it reads headers without a size bound (an endless header line
  // grew the client to 340 MB in 5 s; tiny headers cost ~13x their size in its multimap). A
  // watchdog enforces both: every 10 ms, until the body starts, it reads the bytes the
  // connection has received (TCP_INFO) and, past max_header_bytes plus a slack for body bytes
  // that arrive before the first body callback, or at the deadline, shuts the socket down
  // (Client::stop is the thread-safe way), again every 50 ms in case the socket was not yet
  // connected the first time. The body itself is bounded by the content receiver above.
  std::atomic<int> sock{-1};
  cli.set_socket_options([&sock](socket_t fd) { sock.store(fd); });
  constexpr std::uint64_t kBodySlack = std::uint64_t{4} << 20;
  const std::uint64_t header_cap = static_cast<std::uint64_t>(cfg_.max_header_bytes) + kBodySlack;
  request_watchdog watchdog(cli, deadline, header_cap, body_started, sock);
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool ok = cli.send(req, res, err);
  watchdog.finish();
  const bool fired = watchdog.fired(), flooded = watchdog.flooded();
  if (flooded) {
    out.failure = fmt::format("the response headers are larger than {} bytes (endpoint_config::max_header_bytes)",
                              cfg_.max_header_bytes);
    return out;
  }
  if (too_large) {
    out.failure = fmt::format("the response body is larger than {} bytes (endpoint_config::max_response_bytes)",
                              cfg_.max_response_bytes);
    return out;
  }
  if (fired) {
    out.failure = fmt::format("timed out after {} s (the whole request: connect, headers and body)", cfg_.timeout_s);
    return out;
  }
  if (!ok) {
    out.failure = err == httplib::Error::Connection
                      ? fmt::format("cannot connect to {} (is the server running?)", host_)
                      : fmt::format("transport error: {}", httplib::to_string(err));
    return out;
  }
  out.status = res.status;
  out.retry_after = res.get_header_value("Retry-After");
  return out;
}

// A 2xx reply as the parser accepts it (scrubbed of the API key, checked), or nothing with
// `last` saying why: an empty or malformed one is retried (a server glitch) and, if it
// persists, fails without poisoning the cache.
std::optional<json> client::usable_reply(api kind, const http_reply& reply, bool stream, std::string& last) const {
  std::optional<json> parsed;
  if (stream) {
    try {
      parsed = assemble_stream(kind, reply.body);
      if (!parsed) last = "stream ended without [DONE] (truncated)";
    } catch (const error& e) {
      last = fmt::format("HTTP {} with an unusable stream: {}", reply.status, scrub(e.what()));
    }
  } else {
    auto j = parse_json_reply(reply.body);
    if (j.is_discarded()) last = fmt::format("HTTP {} with a body that is not JSON (or nested over {} levels): {}",
                                             reply.status, max_reply_json_depth,
                                             excerpt(scrub(reply.body)));
    else if (!j.is_object()) last = "HTTP 200 with a JSON body that is not an object";
    else parsed = std::move(j);
  }
  if (parsed) {
    // Scrubbed value by value (never the serialised text, where a short key could cut
    // into JSON syntax), then checked, so that what is cached is what is returned.
    if (!cfg_.api_key.empty()) scrub_json(*parsed);
    if (auto problem = response_problem(kind, *parsed); !problem.empty()) {
      last = fmt::format("HTTP {} with an unusable response: {}", reply.status, scrub(problem));
      parsed.reset();
    }
  }
  return parsed;
}

// Long (~90 lines) on purpose: the cache, the in-flight de-duplication and the retry loop
// share the request's key and flight; the reply's parsing is usable_reply().
json client::post(std::string_view path, const json& body, std::int64_t repeat, std::int64_t seed,
                  bool* from_cache, int* attempts) {
  const bool stream = body.value("stream", false);
  // The key covers what identifies the answer: the path and the body (model included), not
  // the host (a restarted server on another port is the same model) and never the API key.
  const std::string key = store::request_key({{"path", std::string(path)}, {"body", body}});
  if (from_cache) *from_cache = false;
  if (attempts) *attempts = 0;
  const std::string flight = fmt::format("{}#{}#{}", key, repeat, seed);
  const api kind = path.ends_with("/chat/completions") ? api::chat
                   : path == "//completion"            ? api::llama
                                                       : api::completions;
  bool stale = false;  // the cache holds an unusable entry for this request
  auto cached = [&]() -> std::optional<json> {
    if (!cache_) return std::nullopt;
    auto hit = cache_->cached_response(key, repeat, seed);
    if (!hit) return std::nullopt;
    auto j = parse_json_reply(*hit);
    // An unusable entry (stored by an older version that cached anything that parsed) is
    // asked again rather than replayed, and the valid reply replaces it.
    if (j.is_discarded() || !response_problem(kind, j).empty()) {
      stale = true;
      return std::nullopt;
    }
    ++stats_.cache_hits;
    if (from_cache) *from_cache = true;
    return j;
  };
  for (;;) {
    if (auto j = cached()) return *j;
    std::unique_lock lk(inflight_mu_);
    if (!inflight_.count(flight)) {
      inflight_.insert(flight);
      break;
    }
    inflight_cv_.wait(lk, [&] { return !inflight_.count(flight); });
  }
  struct flight_guard {
    client* self;
    const std::string& k;
    ~flight_guard() {
      {
        std::lock_guard lk(self->inflight_mu_);
        self->inflight_.erase(k);
      }
      self->inflight_cv_.notify_all();
    }
  } guard{this, flight};
  // Another thread may have answered and cached this request between our cache miss and
  // taking the flight: look again now that no one else can be sending it.
  if (auto j = cached()) return *j;
  const std::string full_path = path.starts_with("//") ? std::string(path.substr(1)) : prefix_ + std::string(path);
  const std::string payload = body.dump();
  std::string last;
  for (int attempt = 0; attempt <= cfg_.max_retries; ++attempt) {
    ++stats_.requests;
    if (attempts) *attempts = attempt + 1;
    auto reply = send_once(full_path, payload, stream);
    std::optional<double> retry_after;
    if (!reply.failure.empty()) {
      last = reply.failure;
    } else if (reply.status >= 200 && reply.status < 300) {
      std::optional<json> parsed = usable_reply(kind, reply, stream, last);
      if (parsed) {
        if (cache_)
          cache_->cache_response(key, repeat, seed, parsed->dump(),
                                 stale ? store::results_store::cache_write::replace
                                       : store::results_store::cache_write::keep_first);
        return std::move(*parsed);
      }
    } else if (!retryable_status(reply.status)) {
      ++stats_.failures;
      std::string hint = reply.status == 401 || reply.status == 403 ? "check OPENAI_API_KEY"
                         : reply.status == 404 ? "check --base-url (it usually ends in /v1) and --model"
                                               : "";
      throw http_error(reply.status, fmt::format("POST {}: HTTP {}: {}", url(path), reply.status,
                                                 excerpt(scrub(reply.body))), hint);
    } else {
      last = fmt::format("HTTP {}: {}", reply.status, excerpt(scrub(reply.body)));
      if (!reply.retry_after.empty()) retry_after = parse_retry_after(reply.retry_after, cfg_.now());
    }
    if (attempt == cfg_.max_retries) break;
    ++stats_.retries;
    const double wait = retry_after ? std::min(*retry_after, cfg_.max_retry_after_s)
                                    : backoff_delay(attempt, cfg_.backoff_base_s, cfg_.backoff_max_s, jitter_u());
    cfg_.sleep(wait);
  }
  ++stats_.failures;
  throw error(fmt::format("POST {}: gave up after {} attempts: {}", url(path), cfg_.max_retries + 1, last),
              "the server keeps failing; rerun the same command later: finished samples are cached");
}

namespace {

// A token's text_offset is a character index; anything else (a float such as 8.9e49, a negative
// or an out-of-range number) is unknown (-1).
std::int64_t offset_or_unknown(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    return u <= static_cast<std::uint64_t>(INT64_MAX) ? static_cast<std::int64_t>(u) : -1;
  }
  return v.is_number_integer() ? std::max<std::int64_t>(v.get<std::int64_t>(), -1) : -1;
}

gen_result parse_response_unchecked(api a, const json& body) {
  gen_result r;
  if (a == api::llama) {
    r.text = body.value("content", "");
    r.finish_reason = body.value("stop", false) ? "stop" : "";
    if (body.contains("completion_probabilities") && body["completion_probabilities"].is_array()) {
      for (const auto& p : body["completion_probabilities"]) {
        token_logprob t;
        if (p.contains("probs")) {  // older llama.cpp: {content, probs: [{tok_str, prob}]}
          t.token = p.value("content", "");
          for (const auto& q : p["probs"]) {
            const double pr = q.value("prob", 0.0);
            t.top.emplace_back(q.value("tok_str", ""), pr > 0 ? std::log(pr) : -INFINITY);
          }
          t.logprob = -INFINITY;
          for (const auto& [tok, lp] : t.top)
            if (tok == t.token) t.logprob = lp;
        } else {  // newer llama.cpp: {token, logprob, top_logprobs: [{token, logprob}]}
          t.token = p.value("token", "");
          t.logprob = p.value("logprob", 0.0);
          if (p.contains("top_logprobs"))
            for (const auto& q : p["top_logprobs"]) t.top.emplace_back(q.value("token", ""), q.value("logprob", 0.0));
        }
        r.tokens.push_back(std::move(t));
      }
    }
    r.texts = {r.text};
    for (auto& t : r.tokens)
      std::stable_sort(t.top.begin(), t.top.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    return r;
  }
  LMLAB_CHECK(body.contains("choices") && body["choices"].is_array() && !body["choices"].empty(),
              "response: no 'choices' in {}", excerpt(body.dump()));
  for (const auto& ch : body["choices"]) {
    if (a == api::chat) {
      const auto& m = ch.contains("message") ? ch["message"] : json::object();
      r.texts.push_back(m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "");
    } else {
      r.texts.push_back(ch.contains("text") && ch["text"].is_string() ? ch["text"].get<std::string>() : "");
    }
  }
  const auto& c0 = body["choices"][0];
  r.text = r.texts[0];
  r.finish_reason = c0.contains("finish_reason") && c0["finish_reason"].is_string() ? c0["finish_reason"].get<std::string>() : "";
  if (!c0.contains("logprobs") || c0["logprobs"].is_null()) return r;
  const auto& lp = c0["logprobs"];
  if (a == api::chat) {
    if (lp.contains("content") && lp["content"].is_array()) {
      for (const auto& e : lp["content"]) {
        token_logprob t;
        t.token = e.value("token", "");
        t.logprob = e.value("logprob", 0.0);
        if (e.contains("top_logprobs") && e["top_logprobs"].is_array())
          for (const auto& q : e["top_logprobs"]) t.top.emplace_back(q.value("token", ""), q.value("logprob", 0.0));
        r.tokens.push_back(std::move(t));
      }
    }
  } else if (lp.contains("tokens") && lp["tokens"].is_array()) {
    const auto& toks = lp["tokens"];
    for (std::size_t i = 0; i < toks.size(); ++i) {
      token_logprob t;
      t.token = toks[i].get<std::string>();
      const auto& tl = lp.value("token_logprobs", json::array());
      // The first echoed token has no logprob (null): nothing precedes it.
      t.logprob = i < tl.size() && tl[i].is_number() ? tl[i].get<double>() : 0.0;
      const auto& off = lp.value("text_offset", json::array());
      // An unknown offset: the token lengths locate the token instead.
      if (i < off.size()) t.offset = offset_or_unknown(off[i]);
      const auto& top = lp.value("top_logprobs", json::array());
      if (i < top.size() && top[i].is_object())
        for (auto it = top[i].begin(); it != top[i].end(); ++it) t.top.emplace_back(it.key(), it.value().get<double>());
      r.tokens.push_back(std::move(t));
    }
  }
  // Alternatives are reported most likely first whatever order the server used.
  for (auto& t : r.tokens)
    std::stable_sort(t.top.begin(), t.top.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
  return r;
}

std::optional<json> assemble_stream_unchecked(api a, std::string_view sse) {
  json out = {{"choices", json::array()}};
  bool done = false;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    auto eol = sse.find('\n', pos);
    if (eol == std::string_view::npos) eol = sse.size();
    std::string_view line = sse.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("data:")) continue;
    line.remove_prefix(5);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line == "[DONE]") {
      done = true;
      break;
    }
    auto chunk = parse_json_reply(line);
    if (chunk.is_discarded()) return std::nullopt;  // a cut-off event
    if (!chunk.contains("choices") || !chunk["choices"].is_array()) continue;
    for (const auto& ch : chunk["choices"]) {
      // The index is the server's word: bound it before it sizes anything (one chunk with
      // "index": 100000000 once allocated gigabytes).
      const json& jidx = ch.is_object() && ch.contains("index") ? ch["index"] : json(0);
      if (!jidx.is_number_unsigned() || jidx.get<std::uint64_t>() >= max_stream_choices)
        throw error(fmt::format("stream: choice index {} is not an integer in 0..{}", excerpt(jidx.dump(), 40),
                                max_stream_choices - 1),
                    "the server does not follow the OpenAI streaming format");
      const auto idx = jidx.get<std::size_t>();
      while (out["choices"].size() <= idx)
        out["choices"].push_back(a == api::chat ? json{{"index", out["choices"].size()}, {"message", {{"role", "assistant"}, {"content", ""}}}}
                                                : json{{"index", out["choices"].size()}, {"text", ""}});
      auto& dst = out["choices"][idx];
      if (a == api::chat) {
        if (ch.contains("delta") && ch["delta"].contains("content") && ch["delta"]["content"].is_string())
          dst["message"]["content"].get_ref<std::string&>() += ch["delta"]["content"].get_ref<const std::string&>();
        if (ch.contains("logprobs") && ch["logprobs"].is_object()) {
          if (!dst.contains("logprobs")) dst["logprobs"] = json::object();
          append_array(dst["logprobs"], ch["logprobs"], "content");
        }
      } else {
        if (ch.contains("text") && ch["text"].is_string())
          dst["text"].get_ref<std::string&>() += ch["text"].get_ref<const std::string&>();
        if (ch.contains("logprobs") && ch["logprobs"].is_object()) {
          if (!dst.contains("logprobs")) dst["logprobs"] = json::object();
          for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
            append_array(dst["logprobs"], ch["logprobs"], k);
        }
      }
      if (ch.contains("finish_reason") && ch["finish_reason"].is_string()) dst["finish_reason"] = ch["finish_reason"];
    }
  }
  if (!done) return std::nullopt;
  return out;
}

}  // namespace

gen_result parse_response(api a, const json& body) {
  // A field of an unexpected type (a number where a token string belongs) is the server's
  // error, reported as one: never nlohmann's bare type_error.
  try {
    return parse_response_unchecked(a, body);
  } catch (const json::exception& e) {
    throw error(fmt::format("response: unexpected shape ({}) in {}", e.what(), excerpt(body.dump())),
                "the server does not follow the OpenAI response format");
  }
}

std::string response_problem(api a, const json& body) {
  try {
    (void)parse_response(a, body);
    return {};
  } catch (const error& e) {
    return e.what();
  }
}

std::optional<json> assemble_stream(api a, std::string_view sse) {
  try {
    return assemble_stream_unchecked(a, sse);
  } catch (const json::exception& e) {
    throw error(fmt::format("stream: unexpected chunk shape ({})", e.what()),
                "the server does not follow the OpenAI streaming format");
  }
}

gen_result client::generate(api a, const gen_request& q) {
  json body;
  std::string path;
  std::string prompt = q.prompt.empty() ? render_plain(q.messages) : q.prompt;
  for (const auto& m : q.messages)
    LMLAB_CHECK_HINT(a == api::chat || m.image_urls.empty(), "images go through the chat API",
                     "probe: a message with images cannot be sent to a text completion endpoint");
  if (a == api::chat) {
    path = "/chat/completions";
    json msgs = json::array();
    if (q.messages.empty()) msgs.push_back({{"role", "user"}, {"content", prompt}});
    for (const auto& m : q.messages) msgs.push_back(chat_message_json(m));
    body = {{"model", cfg_.model}, {"messages", msgs}, {"max_tokens", q.max_tokens}, {"temperature", q.temperature}};
    if (q.top_logprobs > 0) {
      body["logprobs"] = true;
      body["top_logprobs"] = q.top_logprobs;
    }
  } else if (a == api::completions) {
    path = "/completions";
    body = {{"model", cfg_.model}, {"prompt", prompt}, {"max_tokens", q.max_tokens}, {"temperature", q.temperature}};
    if (q.top_logprobs > 0 || q.echo) body["logprobs"] = std::max(q.top_logprobs, 1);
    if (q.echo) body["echo"] = true;
  } else {
    path = "//completion";
    body = {{"prompt", prompt}, {"n_predict", q.max_tokens}, {"temperature", q.temperature}, {"cache_prompt", true}};
    if (q.top_logprobs > 0) body["n_probs"] = q.top_logprobs;
  }
  if (q.seed) body["seed"] = *q.seed;
  if (q.n > 1) body["n"] = q.n;
  if (!q.stop.empty()) body["stop"] = q.stop;
  if (cfg_.stream && a != api::llama) body["stream"] = true;
  gen_result r;
  bool hit = false;
  int attempts = 0;
  const auto resp = post(path, body, q.repeat, q.seed.value_or(-1), &hit, &attempts);
  r = parse_response(a, resp);
  r.prompt = a == api::chat ? "" : prompt;
  r.from_cache = hit;
  r.attempts = attempts;
  return r;
}

namespace {
// What a probe reply shows about logprobs: tokens at all mean logprobs (through api `a`); two
// or more alternatives at the first (or, with `last`, the last) token mean top_logprobs.
void note_logprobs(capabilities& c, api a, const gen_result& r, bool last) {
  if (r.tokens.empty()) return;
  c.logprobs = true;
  c.logprob_api = a;
  c.top_logprobs = (last ? r.tokens.back() : r.tokens.front()).top.size() >= 2;
}
}  // namespace

capabilities client::detect_capabilities() {
  capabilities c;
  const auto try_gen = [&](api a, gen_request q) -> std::optional<gen_result> {
    try {
      return generate(a, q);
    } catch (const http_error&) {
      return std::nullopt;  // 4xx: the endpoint or the option is not supported
    }
  };
  gen_request q;
  q.messages = {{"user", "Reply with the single letter A."}};
  q.max_tokens = 1;
  q.top_logprobs = 5;
  if (auto r = try_gen(api::chat, q)) {
    c.chat = true;
    note_logprobs(c, api::chat, *r, false);
  } else {
    q.top_logprobs = 0;  // some servers reject the logprobs fields but chat fine without them
    c.chat = try_gen(api::chat, q).has_value();
  }
  gen_request e;
  e.prompt = "The capital of France is";
  e.max_tokens = 1;
  e.top_logprobs = 5;
  e.echo = true;
  if (auto r = try_gen(api::completions, e)) {
    c.completions = true;
    c.echo = r->tokens.size() >= 2 && r->tokens[0].offset == 0 && r->text.starts_with(e.prompt);
    if (!c.top_logprobs) note_logprobs(c, api::completions, *r, true);
  } else {
    e.echo = false;
    if (auto r2 = try_gen(api::completions, e)) {
      c.completions = true;
      if (!c.top_logprobs) note_logprobs(c, api::completions, *r2, true);
    }
  }
  if (!c.top_logprobs) {
    gen_request l;
    l.prompt = "The capital of France is";
    l.max_tokens = 1;
    l.top_logprobs = 5;
    if (auto r = try_gen(api::llama, l)) {
      c.llama = true;
      note_logprobs(c, api::llama, *r, false);
    }
  }
  LMLAB_CHECK_HINT(c.chat || c.completions || c.llama,
                   "check --base-url: it should end in /v1 for OpenAI-compatible servers",
                   "{}: neither /chat/completions, /completions nor llama.cpp /completion answered",
                   cfg_.base_url);
  c.preferred = c.chat ? api::chat : c.completions ? api::completions : api::llama;
  const api gen_api = c.preferred;
  gen_request nq;
  nq.messages = {{"user", "Say hi."}};
  nq.max_tokens = 1;
  nq.n = 2;
  nq.temperature = 1.0;
  if (gen_api != api::llama) {
    if (auto r = try_gen(gen_api, nq)) c.n = r->texts.size() == 2;
  }
  gen_request sq;
  sq.messages = {{"user", "Say hi."}};
  sq.max_tokens = 1;
  sq.seed = 1;
  c.seed = try_gen(gen_api, sq).has_value();
  return c;
}

}  // namespace lmlab::probe
