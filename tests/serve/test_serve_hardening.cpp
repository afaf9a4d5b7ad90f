// `lmlab serve` against hostile clients on 127.0.0.1 (issue 12, items 11-13), over raw
// sockets so the bytes are exactly what an attacker sends: slowloris headers, a chunked body
// over the limit, Content-Length -5 and 2^64, TLS bytes, pipelined requests, more connections
// than allowed, a request over the token budget, and a client that disconnects mid-generation.
// Every wait is bounded; the bounds are loose (seconds) and only catch a server that hangs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "serve/server.hpp"
#include "tiny_model.hpp"

using namespace lmlab;
using namespace lmlab::serve;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;

namespace {

double since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// A blocking TCP client with bounded reads.
struct raw_conn {
  int fd = -1;
  explicit raw_conn(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect failed";
  }
  ~raw_conn() {
    if (fd >= 0) ::close(fd);
  }
  bool send(std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything until the server closes, or `seconds` pass.
  std::string read_until_close(double seconds) {
    std::string out;
    const auto end = clk::now() + std::chrono::duration<double>(seconds);
    char buf[4096];
    while (clk::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
    out += "<still open>";
    return out;
  }
  // Reads responses (status line + headers + Content-Length body) until `count` arrived.
  std::vector<std::pair<int, std::string>> read_responses(int count, double seconds) {
    std::vector<std::pair<int, std::string>> out;
    std::string data;
    const auto end = clk::now() + std::chrono::duration<double>(seconds);
    char buf[4096];
    while (static_cast<int>(out.size()) < count && clk::now() < end) {
      const auto eoh = data.find("\r\n\r\n");
      if (eoh != std::string::npos) {
        const auto cl = data.find("Content-Length: ");
        const std::size_t len = cl < eoh ? std::stoul(data.substr(cl + 16)) : 0;
        if (data.size() >= eoh + 4 + len) {
          out.emplace_back(std::stoi(data.substr(9, 3)), data.substr(eoh + 4, len));
          data.erase(0, eoh + 4 + len);
          continue;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
};

std::string post_request(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string message_of(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("message", "") : "<" + body + ">";
}

class serve_hardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ck_ = new fixture::tiny_checkpoint;
    fixture::make_tiny_checkpoint(*ck_, std::string(40, ' ') + "the cat sat on the mat. the dog ran.\n", "lmlab_serve_hard");
    model_ = new served_model(load_served_model(ck_->dir));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ck_;
  }
  static server_options small() {
    server_options o;
    o.port = 0;
    o.threads = 2;
    o.connections.max_connections = 8;
    o.connections.header_timeout_s = 1;
    o.connections.body_timeout_s = 1;
    o.connections.max_body_bytes = 64 * 1024;
    o.limits.max_tokens = 64;
    return o;
  }
  static fixture::tiny_checkpoint* ck_;
  static served_model* model_;
};
fixture::tiny_checkpoint* serve_hardening::ck_ = nullptr;
served_model* serve_hardening::model_ = nullptr;

const std::string k_complete = R"({"prompt": "the cat", "max_tokens": 4, "temperature": 0})";

// The status of a small completion asked on a fresh connection (0: no answer in 5 s).
int complete_status(int port) {
  raw_conn c(port);
  c.send(post_request("/v1/completions", k_complete));
  auto r = c.read_responses(1, 5);
  return r.empty() ? 0 : r[0].first;
}

}  // namespace

TEST_F(serve_hardening, slowloris_headers_time_out_and_do_not_starve_other_clients) {
  auto o = small();
  o.connections.header_timeout_s = 3;  // long enough that the normal request below cannot ride on it
  server srv(*model_, o);
  srv.start();
  // Four trickling clients (twice --threads): each sends a header byte every 100 ms.
  std::atomic<bool> stop{false};
  std::vector<std::string> got(4);
  std::vector<std::thread> slow;
  for (int i = 0; i < 4; ++i)
    slow.emplace_back([&, i] {
      raw_conn c(srv.port());
      c.send("GET /health HTTP/1.1\r\nX-Slow: ");
      const auto t0 = clk::now();
      while (!stop && since(t0) < 8 && c.send("a")) {
        pollfd p{c.fd, POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) break;  // the server answered (and closes)
      }
      got[static_cast<std::size_t>(i)] = c.read_until_close(6);
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Meanwhile a normal client is served at once.
  const auto t0 = clk::now();
  raw_conn c(srv.port());
  c.send(post_request("/v1/completions", k_complete));
  auto r = c.read_responses(1, 5);
  EXPECT_LT(since(t0), 2.5);  // before any trickler's header deadline (3 s) freed a thread
  stop = true;
  for (auto& t : slow) t.join();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, 200) << r[0].second;
  for (const auto& g : got) {
    EXPECT_TRUE(g.starts_with("HTTP/1.1 408 ")) << g;
    EXPECT_NE(g.find("the request line and headers did not arrive within 3 s (--header-timeout)"), std::string::npos) << g;
    EXPECT_EQ(g.find("<still open>"), std::string::npos) << g;
  }
}

TEST_F(serve_hardening, connections_beyond_the_limit_get_503_at_once) {
  auto o = small();
  o.connections.max_connections = 3;
  server srv(*model_, o);
  srv.start();
  std::vector<std::unique_ptr<raw_conn>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<raw_conn>(srv.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  raw_conn extra(srv.port());
  const std::string g = extra.read_until_close(3);
  EXPECT_TRUE(g.starts_with("HTTP/1.1 503 ")) << g;
  EXPECT_NE(g.find("the server is serving its limit of 3 connections (--max-connections); retry shortly"),
            std::string::npos)
      << g;
  idle.clear();  // the held connections close; the server has room again once it sees that
  int status = 0;
  for (const auto t0 = clk::now(); status != 200 && since(t0) < 10;
       std::this_thread::sleep_for(std::chrono::milliseconds(100)))
    status = complete_status(srv.port());
  EXPECT_EQ(status, 200);
}

TEST_F(serve_hardening, a_chunked_body_over_the_limit_is_refused_while_reading) {
  server srv(*model_, small());
  srv.start();
  // 10 MiB in 16 KiB chunks against a 64 KiB limit: refused long before the end.
  raw_conn c(srv.port());
  c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
  int sent = 0;
  while (sent < 640 && c.send(chunk)) ++sent;
  const std::string g = c.read_until_close(5);
  EXPECT_LT(sent, 640);  // the server closed the connection
  EXPECT_TRUE(g.starts_with("HTTP/1.1 413 ")) << g.substr(0, 300);
  EXPECT_NE(g.find("the request body is too large (limit 65536 bytes)"), std::string::npos) << g.substr(0, 300);
  // Just over the limit in small chunks: within the framing allowance, refused by size.
  raw_conn c2(srv.port());
  std::string body;
  for (int i = 0; i < 70; ++i) body += "400\r\n" + std::string(0x400, ' ') + "\r\n";
  c2.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body + "0\r\n\r\n");
  auto r2 = c2.read_responses(1, 5);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].first, 413);
  // A chunked body within the limit is served.
  raw_conn c3(srv.port());
  char size[16];
  std::snprintf(size, sizeof size, "%zx", k_complete.size());
  c3.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" +
          k_complete + "\r\n0\r\n\r\n");
  auto r3 = c3.read_responses(1, 5);
  ASSERT_EQ(r3.size(), 1u);
  EXPECT_EQ(r3[0].first, 200) << r3[0].second;
}

TEST_F(serve_hardening, bodies_held_by_all_requests_together_are_bounded) {
  auto o = small();
  o.connections.max_body_bytes_in_flight = 100 * 1024;
  o.connections.body_timeout_s = 20;  // a's body stays unfinished while b arrives
  server srv(*model_, o);
  srv.start();
  const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 65000\r\n\r\n";
  raw_conn a(srv.port()), b(srv.port());
  a.send(head + std::string(60000, ' '));  // 60 kB held by a request still reading
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the server has read them (loose)
  b.send(head + std::string(60000, ' '));
  const std::string g = b.read_until_close(3);
  EXPECT_TRUE(g.starts_with("HTTP/1.1 503 ")) << g;
  EXPECT_NE(g.find("the server is holding its limit of 102400 bytes of request bodies; retry shortly"), std::string::npos)
      << g;
  a.send(std::string(5000, ' '));  // a completes: a body of spaces is no JSON
  auto ra = a.read_responses(1, 3);
  ASSERT_EQ(ra.size(), 1u);
  EXPECT_EQ(ra[0].first, 400);
  EXPECT_EQ(complete_status(srv.port()), 200);  // the budget is free again
}

TEST_F(serve_hardening, bad_framing_gets_an_answer_and_a_closed_connection) {
  server srv(*model_, small());
  srv.start();
  struct bad_case {
    std::string head;
    int status;
    std::string message;
  };
  const std::vector<bad_case> cases = {
      {"Content-Length: -5\r\n", 400, "Content-Length '-5' is not a byte count"},
      {"Content-Length: 18446744073709551617\r\n", 400, "Content-Length '18446744073709551617' is not a byte count"},
      {"Content-Length: 1000000\r\n", 413, "the request body is too large (limit 65536 bytes)"},
      {"", 411, "POST needs a Content-Length (or Transfer-Encoding: chunked)"},
      {"Transfer-Encoding: gzip\r\n", 400, "Transfer-Encoding 'gzip' is not supported (only chunked)"},
      {"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400,
       "a request may not carry both Content-Length and Transfer-Encoding"},
  };
  for (const auto& bc : cases) {
    raw_conn c(srv.port());
    const auto t0 = clk::now();
    c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + bc.head + "\r\n");
    const std::string g = c.read_until_close(5);
    EXPECT_LT(since(t0), 4.0) << bc.head;
    EXPECT_TRUE(g.starts_with("HTTP/1.1 " + std::to_string(bc.status) + " ")) << bc.head << " -> " << g;
    EXPECT_NE(g.find("Connection: close"), std::string::npos) << g;
    const auto eoh = g.find("\r\n\r\n");
    ASSERT_NE(eoh, std::string::npos) << g;
    EXPECT_EQ(message_of(g.substr(eoh + 4)), bc.message) << bc.head;
  }
  // TLS: a ClientHello is not HTTP; answered and closed at once, not held.
  raw_conn tls(srv.port());
  const auto t0 = clk::now();
  tls.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
  const std::string g = tls.read_until_close(5);
  EXPECT_LT(since(t0), 4.0);
  EXPECT_TRUE(g.starts_with("HTTP/1.1 400 ")) << g;
  EXPECT_NE(g.find("a TLS client? use http://, not https://"), std::string::npos) << g;
  // Headers over the byte limit: 431, not an unbounded line in memory.
  raw_conn big(srv.port());
  big.send("GET /health HTTP/1.1\r\nX-Big: " + std::string(200 * 1024, 'a'));
  const std::string gb = big.read_until_close(5);
  EXPECT_TRUE(gb.starts_with("HTTP/1.1 431 ")) << gb.substr(0, 200);
  // A request line that never ends in time: 408.
  raw_conn slow(srv.port());
  slow.send("GET /hea");
  const std::string gs = slow.read_until_close(5);
  EXPECT_TRUE(gs.starts_with("HTTP/1.1 408 ")) << gs;
  // A body that stops arriving: 408 after the body timeout.
  raw_conn body(srv.port());
  body.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"");
  const std::string gbody = body.read_until_close(5);
  EXPECT_TRUE(gbody.starts_with("HTTP/1.1 408 ")) << gbody;
  EXPECT_NE(gbody.find("the request body did not arrive within 1 s (--body-timeout)"), std::string::npos) << gbody;
}

TEST_F(serve_hardening, pipelined_requests_are_answered_in_order) {
  server srv(*model_, small());
  srv.start();
  raw_conn c(srv.port());
  // An empty line after a body (some clients send one) is skipped, as RFC 9112 asks.
  c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post_request("/v1/completions", k_complete) +
         "\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto r = c.read_responses(3, 10);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].first, 200);
  EXPECT_EQ(r[0].second, R"({"status":"ok"})");
  EXPECT_EQ(r[1].first, 200);
  EXPECT_EQ(json::parse(r[1].second)["object"], "text_completion");
  EXPECT_EQ(r[2].first, 200);
  EXPECT_EQ(json::parse(r[2].second)["object"], "list");
}

TEST_F(serve_hardening, a_request_over_the_token_budget_is_refused) {
  auto o = small();
  o.limits.max_request_tokens = 1000;
  server srv(*model_, o);
  srv.start();
  raw_conn c(srv.port());
  c.send(post_request("/v1/completions", R"({"prompt": ["the", "cat"], "n": 8, "max_tokens": 64})"));
  auto r = c.read_responses(1, 5);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, 400);
  const auto j = json::parse(r[0].second);
  EXPECT_EQ(j["error"]["code"], "request_too_large");
  EXPECT_EQ(j["error"]["message"],
            "this request could cost up to 1072 tokens (n = 8 x (6 prompt tokens + 2 prompt(s) x max_tokens 64)); the "
            "server allows 1000 per request (--max-request-tokens): send fewer prompts, a smaller n or max_tokens");
}

TEST_F(serve_hardening, generation_stops_when_the_client_goes_away) {
  auto o = small();
  o.limits.max_tokens = 2048;
  o.limits.max_request_tokens = 1 << 30;
  server srv(*model_, o);
  srv.start();
  {
    json prompts = json::array();
    for (int i = 0; i < 64; ++i) prompts.push_back("the cat");
    raw_conn c(srv.port());
    c.send(post_request("/v1/completions", json{{"prompt", prompts}, {"n", 16}, {"max_tokens", 2048}}.dump()));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }  // the client closes: two million tokens are not generated for nobody
  const auto t0 = clk::now();
  while (srv.stats().requests.load() == 0 && since(t0) < 20) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(srv.stats().requests.load(), 1);
  EXPECT_EQ(srv.stats().errors_4xx.load(), 1);  // logged as 499
  EXPECT_EQ(srv.stats().completion_tokens.load(), 0);
  EXPECT_EQ(complete_status(srv.port()), 200);  // the server is free again at once
}
