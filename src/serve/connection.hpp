// The connection layer under `lmlab serve`: cpp-httplib (Debian 12 ships 0.11.4) parses
// requests and writes responses, but its connection loop trusts the client. It bounds only
// the gap between two bytes (headers trickled a byte a second never time out), reads chunked
// bodies whole before any size check, reads request lines and headers of any length, runs
// one connection per worker thread (so `--threads` slow clients stall the server), and
// drops pipelined requests (a fresh stream per request discards bytes already read).
//
// httplib keeps one seam for this: Server::process_and_close_socket is virtual and
// process_request is protected. guarded_server overrides the former with its own loop over
// one `connection` (an httplib::Stream) per socket that
//   - keeps its read buffer across requests, so pipelined requests are answered in order;
//   - gives the request line and headers a total deadline and a byte limit, and the body a
//     total deadline and a byte limit applied while reading (chunked framing included);
//   - answers what is not HTTP (a TLS ClientHello) with 400 and closes at once;
//   - tells handlers whether the client has gone away (generation stops);
// and a task queue that gives each connection its own thread up to max_connections and
// answers connections beyond that with 503 at once, so slow clients cannot starve the
// workers that generate (server_options::threads, a separate limit).
// Not for: routes and the OpenAI protocol (server.hpp, protocol.hpp).
#pragma once

#include <httplib.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/connection_limits.hpp"

namespace lmlab::serve {

enum class conn_failure { none, header_timeout, header_too_large, body_timeout, body_too_large, bodies_in_flight };

// One client connection as an httplib::Stream (see the file comment).
class connection final : public httplib::Stream {
 public:
  // `stopping` says the server is shutting down: every wait gives up within 100 ms then.
  connection(socket_t sock, const connection_limits& lim, std::function<bool()> stopping);
  ~connection() override;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return sock_; }

  // Waits (up to the keep-alive timeout) for the next request's first bytes, skipping empty
  // lines; false when the client closed or stayed idle, or the server is stopping.
  bool wait_for_request();
  // Starts the header deadline and resets the per-request counts; end_request() gives the
  // finished request's body bytes back to the in-flight budget.
  void begin_request();
  void end_request();
  // The next buffered byte could start a request line (an upper-case method letter).
  bool looks_like_http() const;

  conn_failure failure() const { return failure_; }
  bool wrote_response() const { return wrote_; }
  // The request's body was not (fully) read: answer with Connection: close and stop.
  void close_after_response() { closing_ = true; }
  bool closing() const { return closing_ || failure_ != conn_failure::none; }
  // The client closed or reset the connection (pipelined bytes waiting mean it is there).
  bool client_gone() const;
  // Writes a complete JSON error response with Connection: close (best effort).
  void send_error(int status, std::string_view message);
  const connection_limits& limits() const { return lim_; }

 private:
  bool poll_for(short events, std::chrono::steady_clock::time_point deadline) const;
  ssize_t fill();

  socket_t sock_;
  const connection_limits& lim_;
  std::function<bool()> stopping_;
  std::vector<char> buf_;
  std::size_t off_ = 0, len_ = 0;
  bool in_headers_ = true;
  int eoh_state_ = 0;  // progress through a line that is exactly "\r\n" (the end of headers)
  std::size_t header_bytes_ = 0, body_bytes_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  conn_failure failure_ = conn_failure::none;
  bool wrote_ = false, closing_ = false;
};

// The connection the calling thread is serving, while it runs a request's handlers;
// nullptr elsewhere (e.g. a unit test calling a handler directly).
connection* current_connection();

// The HTTP status and message for a connection failure (408, 413, 431).
int failure_status(conn_failure f);
std::string failure_message(conn_failure f, const connection_limits& lim);

class guarded_server : public httplib::Server {
 public:
  explicit guarded_server(connection_limits lim);
  // listen() again on the bound socket with a longer accept queue (httplib's is 5).
  void widen_backlog(int backlog);

 private:
  bool process_and_close_socket(socket_t sock) override;
  connection_limits lim_;
  std::atomic<std::size_t> open_{0};  // connections accepted and not yet closed
};

}  // namespace lmlab::serve
