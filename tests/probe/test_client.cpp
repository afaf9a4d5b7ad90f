// The client against the scripted fault server: retries (429 with Retry-After in seconds and
// as an HTTP-date, 500, malformed JSON, truncated bodies, timeouts, slow streams), giving up,
// non-retryable 4xx, the request cache, and the API key never reaching the store.
#include "probe/client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/fs.hpp"
#include "fault_server.hpp"
#include "../temp_path.hpp"

using namespace lmlab::probe;
using lmlab::probe::testing::fault;
using lmlab::probe::testing::fault_server;
using json = nlohmann::json;

namespace {
struct temp_dir : lmlab::testing::temp_dir {
  explicit temp_dir(const std::string& tag) : lmlab::testing::temp_dir("probe", tag) {}
};

// Fast settings: waits are recorded, not slept (except the deadline tests, which are short).
endpoint_config test_config(const fault_server& s, std::vector<double>* waits) {
  endpoint_config c = endpoint_for(s);
  c.max_retries = 4;
  c.backoff_base_s = 0.01;
  c.backoff_max_s = 0.05;
  c.sleep = [waits](double s) {
    if (waits) waits->push_back(s);
  };
  return c;
}

gen_request ask(const std::string& text) {
  gen_request q;
  q.messages = {{"user", text}};
  q.max_tokens = 4;
  return q;
}

// The message of the error generate() must throw ("" when it returned).
std::string failure_of_api(client& c, api a, const gen_request& q) {
  try {
    c.generate(a, q);
  } catch (const lmlab::error& e) {
    return e.what();
  }
  return "";
}
std::string failure_of(client& c, const gen_request& q) { return failure_of_api(c, api::chat, q); }
}  // namespace

TEST(probe_client, retry_after_seconds_is_honoured) {
  fault_server s;
  s.retry_after = "7";
  s.script = [](const json&, int attempt) { return attempt == 0 ? fault::rate_limit : fault::ok; };
  std::vector<double> waits;
  client c(test_config(s, &waits), nullptr);
  auto r = c.generate(api::chat, ask("q"));
  EXPECT_EQ(r.text, "A");
  EXPECT_EQ(r.attempts, 2);
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_DOUBLE_EQ(waits[0], 7.0);
}

TEST(probe_client, retry_after_http_date_is_honoured_and_capped) {
  fault_server s;
  s.retry_after = "Wed, 21 Oct 2015 07:28:05 GMT";
  s.script = [](const json&, int attempt) { return attempt < 2 ? fault::rate_limit_date : fault::ok; };
  std::vector<double> waits;
  auto cfg = test_config(s, &waits);
  cfg.now = [] { return static_cast<std::time_t>(1445412480); };  // 2015-10-21 07:28:00 UTC
  client c(cfg, nullptr);
  EXPECT_EQ(c.generate(api::chat, ask("q")).text, "A");
  EXPECT_EQ(waits, (std::vector<double>{5.0, 5.0}));
  s.retry_after = "3600";
  cfg.max_retry_after_s = 60;
  waits.clear();
  client c2(cfg, nullptr);
  c2.generate(api::chat, ask("q2"));
  EXPECT_EQ(waits, (std::vector<double>{60.0, 60.0}));
}

TEST(probe_client, retries_500_malformed_truncated_with_backoff) {
  fault_server s;
  s.script = [](const json&, int attempt) {
    const fault seq[] = {fault::server_error, fault::malformed, fault::truncated, fault::ok};
    return seq[std::min(attempt, 3)];
  };
  std::vector<double> waits;
  client c(test_config(s, &waits), nullptr);
  auto r = c.generate(api::completions, ask("q"));
  EXPECT_EQ(r.text, " A");
  EXPECT_EQ(r.attempts, 4);
  ASSERT_EQ(waits.size(), 3u);
  // Equal jitter: wait k lies in [0.5, 1] x min(max, base * 2^k).
  const double caps[] = {0.01, 0.02, 0.04};
  for (int k = 0; k < 3; ++k) {
    EXPECT_GE(waits[k], 0.5 * caps[k] - 1e-12);
    EXPECT_LE(waits[k], caps[k] + 1e-12);
  }
  EXPECT_EQ(c.stats().retries.load(), 3);
}

TEST(probe_client, timeout_and_slow_stream_are_cut_and_retried) {
  fault_server s;
  s.slow_ms = 600;
  s.script = [](const json& q, int attempt) {
    if (attempt > 0) return fault::ok;
    return q.value("stream", false) ? fault::slow_stream : fault::timeout;
  };
  auto cfg = test_config(s, nullptr);
  cfg.timeout_s = 0.2;
  client c(cfg, nullptr);
  auto r = c.generate(api::chat, ask("plain"));
  EXPECT_EQ(r.text, "A");
  EXPECT_EQ(r.attempts, 2);
  cfg.stream = true;
  client cs(cfg, nullptr);
  auto rs = cs.generate(api::chat, ask("streamed"));
  EXPECT_EQ(rs.text, "A");
  EXPECT_EQ(rs.attempts, 2);
}

TEST(probe_client, gives_up_with_the_last_reason) {
  fault_server s;
  s.script = [](const json&, int) { return fault::server_error; };
  auto cfg = test_config(s, nullptr);
  cfg.max_retries = 2;
  client c(cfg, nullptr);
  try {
    c.generate(api::chat, ask("q"));
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), "POST " + s.base_url() +
                                         "/chat/completions: gave up after 3 attempts: HTTP 500: "
                                         "{\"error\":{\"message\":\"internal\"}}");
  }
  EXPECT_EQ(s.total.load(), 3);
}

TEST(probe_client, bad_request_is_not_retried) {
  fault_server s;
  s.script = [](const json&, int) { return fault::bad_request; };
  client c(test_config(s, nullptr), nullptr);
  try {
    c.generate(api::chat, ask("q"));
    FAIL();
  } catch (const http_error& e) {
    EXPECT_EQ(e.status(), 400);
  }
  EXPECT_EQ(s.total.load(), 1);
}

TEST(probe_client, cache_answers_reruns_and_never_stores_the_key) {
  temp_dir d("cache");
  fault_server s;
  const std::string key = "sk-test-SECRET-123456";
  s.answer = [key](const json&) { return "A (your key was " + key + ")"; };  // a server that leaks it back
  lmlab::store::results_store db(d.path / "r.db");
  auto cfg = test_config(s, nullptr);
  cfg.api_key = key;
  {
    client c(cfg, &db);
    auto r = c.generate(api::chat, ask("q"));
    EXPECT_FALSE(r.from_cache);
    EXPECT_EQ(r.text, "A (your key was <redacted>)");
    EXPECT_EQ(s.last_auth, "Bearer " + key);
  }
  {
    client c(cfg, &db);
    auto r = c.generate(api::chat, ask("q"));
    EXPECT_TRUE(r.from_cache);
    auto q = ask("q");
    q.repeat = 1;  // the same request asked again is a new cache entry
    EXPECT_FALSE(c.generate(api::chat, q).from_cache);
    EXPECT_EQ(c.stats().cache_hits.load(), 1);
  }
  EXPECT_EQ(s.total.load(), 2);
  // Neither the database nor its WAL holds the key.
  for (const char* f : {"r.db", "r.db-wal"}) {
    if (!std::filesystem::exists(d.path / f)) continue;
    std::ifstream in(d.path / f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(key), std::string::npos) << f;
  }
}

TEST(probe_client, capabilities_full_server_and_llama_style_server) {
  fault_server s;
  client c(test_config(s, nullptr), nullptr);
  auto caps = c.detect_capabilities();
  EXPECT_TRUE(caps.chat);
  EXPECT_TRUE(caps.completions);
  EXPECT_TRUE(caps.echo);
  EXPECT_TRUE(caps.top_logprobs);
  EXPECT_TRUE(caps.n);
  EXPECT_TRUE(caps.seed);
  EXPECT_EQ(caps.preferred, api::chat);
  // A server without echo, without logprobs on the OpenAI routes and rejecting n: the
  // llama.cpp native /completion with n_probs is found instead.
  fault_server l;
  l.echo = false;
  l.script = [](const json& q, int) {
    return q.contains("n") || q.contains("logprobs") ? fault::bad_request : fault::ok;
  };
  client cl(test_config(l, nullptr), nullptr);
  auto lc = cl.detect_capabilities();
  EXPECT_TRUE(lc.chat);
  EXPECT_FALSE(lc.echo);
  EXPECT_FALSE(lc.n);
  EXPECT_TRUE(lc.llama);
  EXPECT_TRUE(lc.top_logprobs);
  EXPECT_EQ(lc.logprob_api, api::llama);
}

TEST(probe_client, parse_helpers) {
  EXPECT_EQ(parse_retry_after("120", 0), 120.0);
  EXPECT_EQ(parse_retry_after(" 0 ", 0), 0.0);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7.0);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0.0);  // in the past
  EXPECT_FALSE(parse_retry_after("soon", 0));
  EXPECT_FALSE(parse_retry_after("", 0));
  EXPECT_DOUBLE_EQ(backoff_delay(0, 0.5, 30, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(backoff_delay(3, 0.5, 30, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(backoff_delay(10, 0.5, 30, 1.0), 30.0);
  EXPECT_EQ(parse_model_ref("openai/gpt-4o-mini"), (std::pair<std::string, std::string>{"openai", "gpt-4o-mini"}));
  EXPECT_EQ(parse_model_ref("vllm/meta-llama/Llama-3.1-8B").second, "meta-llama/Llama-3.1-8B");
  EXPECT_THROW(parse_model_ref("gpt-4o"), lmlab::usage_error);
  EXPECT_EQ(render_plain({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "2+2?"}}),
            "Be brief.\n\nUser: Hi\nAssistant: Hello\nUser: 2+2?\nAssistant:");
}

TEST(probe_client, stream_assembly) {
  const std::string sse =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n";
  auto j = assemble_stream(api::chat, sse);
  ASSERT_TRUE(j);
  auto r = parse_response(api::chat, *j);
  EXPECT_EQ(r.text, "Hello");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_FALSE(assemble_stream(api::chat, sse.substr(0, sse.size() - 16)));  // no [DONE]: truncated
  const std::string csse = "data: {\"choices\":[{\"index\":0,\"text\":\" 4\"}]}\r\n\r\ndata: [DONE]\r\n\r\n";
  EXPECT_EQ(parse_response(api::completions, *assemble_stream(api::completions, csse)).text, " 4");
}

// Hostile servers (issue 12): none of these may crash the client, hang it past its deadline,
// grow it without bound, or leave a bad response in the cache.

TEST(probe_client, an_empty_choices_reply_is_retried_and_never_cached) {
  temp_dir d("empty_choices");
  lmlab::store::results_store db(d.path / "r.db");
  fault_server s;
  s.script = [](const json&, int attempt) { return attempt < 2 ? fault::custom : fault::ok; };
  s.custom = [](const json&, httplib::Response& r) { r.set_content(R"({"choices": []})", "application/json"); };
  auto cfg = test_config(s, nullptr);
  cfg.max_retries = 1;
  {
    client c(cfg, &db);
    const std::string e = failure_of(c, ask("q"));
    EXPECT_NE(e.find("gave up after 2 attempts: HTTP 200 with an unusable response: response: "
                     "no 'choices' in {\"choices\":[]}"),
              std::string::npos)
        << e;
  }
  EXPECT_EQ(db.cache_size(), 0);
  client c(cfg, &db);  // the rerun asks again and gets the real answer
  auto r = c.generate(api::chat, ask("q"));
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.text, "A");
  EXPECT_EQ(s.total.load(), 3);
}

// An entry that an older version cached although it is unusable is asked again, and the valid
// reply replaces it: the next run is answered from the cache (before, INSERT OR IGNORE kept the
// bad entry and every run asked again).
TEST(probe_client, an_unusable_cached_entry_is_replaced_by_the_valid_reply) {
  temp_dir d("stale_cache");
  lmlab::store::results_store db(d.path / "r.db");
  fault_server s;
  auto cfg = test_config(s, nullptr);
  {
    client c(cfg, &db);
    EXPECT_EQ(c.generate(api::chat, ask("q")).text, "A");
  }
  ASSERT_EQ(db.cache_size(), 1);
  db.db().exec(R"(UPDATE request_cache SET response = '{"choices": []}')");  // as an older version stored it
  {
    client c(cfg, &db);
    auto r = c.generate(api::chat, ask("q"));
    EXPECT_FALSE(r.from_cache);
    EXPECT_EQ(r.text, "A");
  }
  EXPECT_EQ(s.total.load(), 2);
  client c(cfg, &db);
  auto r = c.generate(api::chat, ask("q"));
  EXPECT_TRUE(r.from_cache);
  EXPECT_EQ(r.text, "A");
  EXPECT_EQ(s.total.load(), 2);
  EXPECT_EQ(db.cache_size(), 1);
}

TEST(probe_client, wrongly_typed_fields_are_an_error_not_a_crash_or_a_cache_entry) {
  for (const char* body : {R"({"choices": [{"message": {"content": "A"}, "logprobs": {"content": [7]}}]})",
                           R"({"choices": [{"message": {"content": "A"}, "logprobs": {"content": [{"token": 3}]}}]})",
                           R"({"choices": 5})"}) {
    EXPECT_FALSE(response_problem(api::chat, json::parse(body)).empty()) << body;
  }
  EXPECT_FALSE(response_problem(api::completions, json::parse(R"({"choices": [{"text": "A", "logprobs": {"tokens": [1]}}]})")).empty());
  EXPECT_EQ(response_problem(api::chat, json::parse(R"({"choices": [{"message": {"content": "A"}}]})")), "");
}

TEST(probe_client, a_400_digit_retry_after_is_capped_not_an_error) {
  EXPECT_EQ(parse_retry_after(std::string(400, '9'), 0), 1e12);
  for (const char* v : {"-5", "1e9", "0x10", "12 s", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 GMT x"})
    EXPECT_FALSE(parse_retry_after(v, 0)) << v;
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0), 253402300799.0);  // capped by the caller
  fault_server s;
  s.retry_after = std::string(400, '7');
  s.script = [](const json&, int attempt) { return attempt == 0 ? fault::rate_limit : fault::ok; };
  std::vector<double> waits;
  auto cfg = test_config(s, &waits);
  client c(cfg, nullptr);
  EXPECT_EQ(c.generate(api::chat, ask("q")).text, "A");
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0], cfg.max_retry_after_s);
}

TEST(probe_client, an_sse_index_beyond_the_limit_is_rejected_before_allocating) {
  const std::string huge = "data: {\"choices\":[{\"index\":100000000,\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n";
  try {
    assemble_stream(api::chat, huge);
    FAIL() << "index 100000000 was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), "stream: choice index 100000000 is not an integer in 0..1023");
  }
  for (const char* idx : {"-1", "\"0\"", "1.5", "null"})
    EXPECT_THROW(assemble_stream(api::completions, std::string("data: {\"choices\":[{\"index\":") + idx +
                                                       ",\"text\":\"x\"}]}\n\ndata: [DONE]\n\n"),
                 lmlab::error)
        << idx;
  EXPECT_THROW(assemble_stream(api::chat, "data: {\"choices\":[7]}\n\ndata: [DONE]\n\n"), lmlab::error);
  // A stream of 200,000 one-byte deltas is reassembled in linear time (no copy per chunk).
  std::string many;
  for (int i = 0; i < 200000; ++i) many += "data: {\"choices\":[{\"index\":0,\"text\":\"x\"}]}\n\n";
  many += "data: [DONE]\n\n";
  EXPECT_EQ(parse_response(api::completions, *assemble_stream(api::completions, many)).text.size(), 200000u);
  // Through the client: the bad stream is retried, then fails; nothing is cached.
  fault_server s;
  s.script = [](const json&, int) { return fault::custom; };
  s.custom = [huge](const json&, httplib::Response& r) { r.set_content(huge, "text/event-stream"); };
  auto cfg = test_config(s, nullptr);
  cfg.stream = true;
  cfg.max_retries = 1;
  client c(cfg, nullptr);
  EXPECT_NE(failure_of(c, ask("q")).find("unusable stream: stream: choice index 100000000"), std::string::npos);
  EXPECT_EQ(s.total.load(), 2);
}

TEST(probe_client, json_replies_are_parsed_only_up_to_the_nesting_limit) {
  EXPECT_TRUE(parse_json_reply(std::string(128, '[') + std::string(128, ']')).is_array());
  EXPECT_TRUE(parse_json_reply(std::string(129, '[') + std::string(129, ']')).is_discarded());
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  const std::string in_string = "{\"a\": \"\\\"" + std::string(1000, '[') + "\"}";
  EXPECT_TRUE(parse_json_reply(in_string).is_object()) << in_string.substr(0, 20);
  EXPECT_TRUE(parse_json_reply("{\"a\": ").is_discarded());
}

TEST(probe_client, deeply_nested_json_is_refused_before_parsing) {
  fault_server s;
  s.script = [](const json&, int) { return fault::custom; };
  s.custom = [](const json&, httplib::Response& r) {
    r.set_content("{\"choices\":" + std::string(200000, '[') + std::string(200000, ']') + "}", "application/json");
  };
  auto cfg = test_config(s, nullptr);
  cfg.max_retries = 0;
  client c(cfg, nullptr);
  const std::string e = failure_of(c, ask("q"));
  EXPECT_NE(e.find("not JSON (or nested over 128 levels)"), std::string::npos) << e;
}

TEST(probe_client, a_response_body_over_the_limit_is_cut_off) {
  fault_server s;
  s.script = [](const json&, int) { return fault::custom; };
  s.custom = [](const json&, httplib::Response& r) { r.set_content(std::string(8 << 20, ' '), "application/json"); };
  auto cfg = test_config(s, nullptr);
  cfg.max_retries = 0;
  cfg.max_response_bytes = 1 << 20;
  client c(cfg, nullptr);
  const std::string e = failure_of(c, ask("q"));
  EXPECT_NE(e.find("the response body is larger than 1048576 bytes"), std::string::npos) << e;
}

TEST(probe_client, an_api_key_inside_the_mask_is_scrubbed_once_and_the_json_stays_valid) {
  temp_dir d("short_key");
  lmlab::store::results_store db(d.path / "r.db");
  fault_server s;
  s.answer = [](const json&) { return std::string("a banana \"x\"\n"); };
  // "a" occurs in the mask; '"' used to be replaced inside the serialised JSON, breaking it.
  for (const char* key : {"a", "<redacted>", "\""}) {
    auto cfg = test_config(s, nullptr);
    cfg.api_key = key;
    client c(cfg, &db);
    auto q = ask(std::string("q ") + key);
    const auto r = c.generate(api::chat, q);  // used to loop forever ("a" is in "<redacted>")
    std::string expect = "a banana \"x\"\n";
    for (std::size_t p = expect.find(key); p != std::string::npos; p = expect.find(key, p + 10))
      expect.replace(p, std::string(key).size(), "<redacted>");
    EXPECT_EQ(r.text, expect) << key;
    EXPECT_EQ(c.generate(api::chat, q).text, expect) << key;  // from the cache, still valid JSON
  }
}

// A server that sends its status line and then trickles header bytes, one every 50 ms, for
// `seconds`: httplib's per-read timeout never fires. With `flood`, it sends one endless header
// line as fast as it can instead (httplib reads headers without a size bound).
struct trickle_server {
  int fd = -1, port = 0;
  std::thread th;
  std::atomic<bool> stop{false};
  explicit trickle_server(double seconds, bool flood = false) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this, seconds, flood] {
      const int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      const std::string head = "HTTP/1.1 200 OK\r\nX-Slow: ";
      ::send(c, head.data(), head.size(), MSG_NOSIGNAL);
      const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
      const std::string chunk(flood ? 65536 : 1, 'x');
      // A send blocked on a full buffer gives up after 100 ms, so the destructor's stop is seen.
      const timeval tv{0, 100000};
      ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      while (!stop && std::chrono::steady_clock::now() < end) {
        const ssize_t n = ::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (!flood) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      ::close(c);
    });
  }
  // A client of this server ("fake" model, no retries) with the given timeout.
  endpoint_config config(double timeout_s) const {
    endpoint_config cfg;
    cfg.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    cfg.model = "fake";
    cfg.timeout_s = timeout_s;
    cfg.max_retries = 0;
    return cfg;
  }
  ~trickle_server() {
    stop = true;
    ::shutdown(fd, SHUT_RDWR);
    th.join();
    ::close(fd);
  }
};

namespace {
// The error one request to `cfg` fails with; it must fail within `max_s` seconds.
std::string failure_within(const endpoint_config& cfg, double max_s) {
  client c(cfg, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string e = failure_of(c, ask("q"));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), max_s);
  return e;
}
}  // namespace

TEST(probe_client, the_timeout_bounds_the_whole_request_while_headers_trickle) {
  trickle_server t(20);
  // Loose bound: a 0.5 s deadline returns well within 10 s (the trickle lasts 20 s).
  const std::string e = failure_within(t.config(0.5), 10.0);
  EXPECT_NE(e.find("timed out after 0.5 s"), std::string::npos) << e;
}

// Issue 12: an endless header line grew the client to 340 MB in 5 s; the watchdog now cuts the
// connection once it has received more than max_header_bytes (+ slack) before the body.
TEST(probe_client, an_endless_header_is_cut_off_at_the_byte_limit) {
  trickle_server t(30, /*flood=*/true);
  endpoint_config cfg = t.config(60);
  cfg.max_response_bytes = 1 << 16;
  cfg.max_header_bytes = 1 << 20;
  const std::string e = failure_within(cfg, 20.0);
  EXPECT_NE(e.find("the response headers are larger than 1048576 bytes"), std::string::npos) << e;
}

// An image goes out as OpenAI's content parts (text, then image_url with a data URI): the body
// the server receives equals the recorded request (tests/probe/fixtures/chat_image_request.json,
// written in the shape of OpenAI's chat API reference for vision inputs, a 1x1 PNG data URI).
// Text endpoints refuse images.
TEST(probe_client, chat_images_are_sent_as_image_url_parts) {
  fault_server s;
  client c(test_config(s, nullptr), nullptr);
  const json recorded = json::parse(lmlab::read_text_file("tests/probe/fixtures/chat_image_request.json"));
  gen_request q = ask("Is there a circle in the image? Answer yes or no.");
  q.messages[0].image_urls = {recorded["messages"][0]["content"][1]["image_url"]["url"].get<std::string>()};
  c.generate(api::chat, q);
  ASSERT_EQ(s.attempts.size(), 1u);
  const std::string& key = s.attempts.begin()->first;  // endpoint kind, then the body
  EXPECT_EQ(json::parse(key.substr(key.find('{'))), recorded) << key;
  EXPECT_EQ(chat_message_json({"user", "hi"}), json({{"role", "user"}, {"content", "hi"}}));  // no images: a string
  EXPECT_NE(failure_of_api(c, api::completions, q).find("cannot be sent to a text completion endpoint"), std::string::npos);
}
