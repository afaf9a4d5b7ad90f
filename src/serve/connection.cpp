// The guarded connection layer of `lmlab serve`: see connection.hpp.
#include "serve/connection.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "serve/protocol.hpp"

namespace lmlab::serve {
namespace {

using clock = std::chrono::steady_clock;

thread_local connection* t_current = nullptr;
// Body bytes held by requests in progress, all connections together.
std::atomic<std::size_t> g_body_bytes{0};
// Set by connection_pool while it runs a connection over the limit on the accept thread.
thread_local bool t_over_capacity = false;

clock::time_point after(double seconds) {
  return clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
}

const char* reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string error_response(int status, std::string_view message) {
  const std::string body = dump_json(error_body(api_error(status, std::string(message), {}, {},
                                                          status >= 500 ? "server_error" : "invalid_request_error")));
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                     status, reason(status), body.size(), body);
}

void address_of(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if ((peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&a), &len)
            : ::getsockname(sock, reinterpret_cast<sockaddr*>(&a), &len)) != 0)
    return;
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// One thread per connection, started when none is idle, up to `max`; a connection beyond
// that is run at once on the accept thread with t_over_capacity set, which answers 503
// without reading (a non-blocking write) and closes. httplib's ThreadPool instead queues
// without bound behind `threads` workers, which is what let four slow clients stall it.
// `open` counts connections from accept to just before their socket closes (the server
// decrements it), so that a client reconnecting at once after a close is not refused while
// the old connection's thread is still returning.
class connection_pool final : public httplib::TaskQueue {
 public:
  connection_pool(std::size_t max, std::atomic<std::size_t>& open) : max_(max), open_(open) {}

  void enqueue(std::function<void()> fn) override {
    if (open_.load() >= max_) {
      t_over_capacity = true;
      fn();
      t_over_capacity = false;
      return;
    }
    ++open_;
    std::lock_guard lk(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ > 0) {
      --idle_;
      cv_.notify_one();
    } else {
      threads_.emplace_back([this] { work(); });
    }
  }

  void shutdown() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
      std::lock_guard lk(mu_);
      ++idle_;
    }
  }

  const std::size_t max_;
  std::atomic<std::size_t>& open_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stop_ = false;
};

}  // namespace

connection* current_connection() { return t_current; }

int failure_status(conn_failure f) {
  switch (f) {
    case conn_failure::header_timeout:
    case conn_failure::body_timeout: return 408;
    case conn_failure::header_too_large: return 431;
    case conn_failure::body_too_large: return 413;
    case conn_failure::bodies_in_flight: return 503;
    case conn_failure::none: break;
  }
  return 400;
}

std::string failure_message(conn_failure f, const connection_limits& lim) {
  switch (f) {
    case conn_failure::header_timeout:
      return fmt::format("the request line and headers did not arrive within {} s (--header-timeout)", lim.header_timeout_s);
    case conn_failure::body_timeout:
      return fmt::format("the request body did not arrive within {} s (--body-timeout)", lim.body_timeout_s);
    case conn_failure::header_too_large:
      return fmt::format("the request line and headers are larger than {} bytes", lim.max_header_bytes);
    case conn_failure::body_too_large:
      return fmt::format("the request body is too large (limit {} bytes)", lim.max_body_bytes);
    case conn_failure::bodies_in_flight:
      return fmt::format("the server is holding its limit of {} bytes of request bodies; retry shortly",
                         lim.max_body_bytes_in_flight);
    case conn_failure::none: break;
  }
  return "bad request";
}

connection::connection(socket_t sock, const connection_limits& lim, std::function<bool()> stopping)
    : sock_(sock), lim_(lim), stopping_(std::move(stopping)), buf_(16 * 1024) {
  // Responses go out as two writes (headers, body); with Nagle's algorithm the second waited
  // for the client's delayed ACK: 40 ms per request.
  const int one = 1;
  ::setsockopt(sock_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

connection::~connection() { end_request(); }

void connection::end_request() {
  g_body_bytes -= body_bytes_;
  // Large bodies were freed in this thread's malloc arena, which glibc keeps: give the
  // memory back so that RSS falls after an upload.
  if (body_bytes_ > (1u << 20)) ::malloc_trim(0);
  body_bytes_ = 0;
}

bool connection::poll_for(short events, clock::time_point deadline) const {
  // Slices of at most 100 ms, so that stopping the server does not wait out a deadline.
  for (;;) {
    if (stopping_ && stopping_()) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    pollfd p{sock_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 0, 100)));
    if (r < 0 && errno == EINTR) continue;
    if (r != 0 || left <= 100) return r > 0;
  }
}

bool connection::wait_for_request() {
  const auto idle_end = after(lim_.keep_alive_timeout_s);
  for (;;) {
    // Empty lines before a request line are skipped (RFC 9112 section 2.2): some clients
    // send a CRLF after a POST body.
    while (off_ < len_ && (buf_[off_] == '\r' || buf_[off_] == '\n')) ++off_;
    if (off_ < len_) return true;
    if (!poll_for(POLLIN, idle_end) || fill() <= 0) return false;
  }
}

ssize_t connection::fill() {
  const ssize_t n = ::recv(sock_, buf_.data(), buf_.size(), 0);
  off_ = 0;
  len_ = n > 0 ? static_cast<std::size_t>(n) : 0;
  return n;
}

void connection::begin_request() {
  end_request();
  in_headers_ = true;
  eoh_state_ = 0;
  header_bytes_ = body_bytes_ = 0;
  deadline_ = after(lim_.header_timeout_s);
  wrote_ = false;
}

bool connection::looks_like_http() const { return off_ < len_ && buf_[off_] >= 'A' && buf_[off_] <= 'Z'; }

bool connection::is_readable() const { return off_ < len_ || poll_for(POLLIN, deadline_); }

bool connection::is_writable() const { return poll_for(POLLOUT, after(lim_.write_timeout_s)) && !client_gone(); }

ssize_t connection::read(char* ptr, size_t size) {
  if (failure_ != conn_failure::none) return -1;
  if (off_ == len_) {
    if (!poll_for(POLLIN, deadline_)) {
      failure_ = in_headers_ ? conn_failure::header_timeout : conn_failure::body_timeout;
      return -1;
    }
    if (const ssize_t n = fill(); n <= 0) return n;
  }
  std::size_t n = std::min(size, len_ - off_);
  if (in_headers_) {
    // httplib's line reader takes one byte at a time; the headers end at a line that is
    // exactly "\r\n" (a line ending in a bare "\n" is skipped by httplib, not an end).
    for (std::size_t i = 0; i < n; ++i) {
      const char c = buf_[off_ + i];
      eoh_state_ = c == '\n' ? (eoh_state_ == 2 ? 3 : 1) : (c == '\r' && eoh_state_ == 1 ? 2 : 0);
      if (++header_bytes_ > lim_.max_header_bytes) {
        failure_ = conn_failure::header_too_large;
        return -1;
      }
      if (eoh_state_ == 3) {
        in_headers_ = false;
        deadline_ = after(lim_.body_timeout_s);
        n = i + 1;
        break;
      }
    }
  } else {
    // The body limit applies to the bytes on the wire, before httplib decodes a chunked body
    // into memory: the decoded body is at most this large, and the handler then checks the
    // exact limit. Chunk framing may add a quarter on top.
    if (body_bytes_ + n > lim_.max_body_bytes + lim_.max_body_bytes / 4 + 4096) {
      failure_ = conn_failure::body_too_large;
      return -1;
    }
    body_bytes_ += n;  // counted in g_body_bytes too until end_request()
    if (g_body_bytes.fetch_add(n) + n > lim_.max_body_bytes_in_flight) {
      failure_ = conn_failure::bodies_in_flight;
      return -1;
    }
  }
  std::memcpy(ptr, buf_.data() + off_, n);
  off_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t connection::write(const char* ptr, size_t size) {
  if (!poll_for(POLLOUT, after(lim_.write_timeout_s))) return -1;
  const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
  if (n > 0) wrote_ = true;
  return n;
}

void connection::get_remote_ip_and_port(std::string& ip, int& port) const { address_of(sock_, true, ip, port); }
void connection::get_local_ip_and_port(std::string& ip, int& port) const { address_of(sock_, false, ip, port); }

bool connection::client_gone() const {
  if (off_ < len_) return false;
  char c;
  const ssize_t n = ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // an orderly close (FIN): nobody will read the answer
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

void connection::send_error(int status, std::string_view message) {
  const std::string r = error_response(status, message);
  std::size_t sent = 0;
  while (sent < r.size()) {
    const ssize_t n = write(r.data() + sent, r.size() - sent);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  closing_ = true;
}

void guarded_server::widen_backlog(int backlog) { ::listen(svr_sock_, backlog); }

guarded_server::guarded_server(connection_limits lim) : lim_(lim) {
  const std::size_t max = lim_.max_connections;
  new_task_queue = [this, max] { return new connection_pool(max, open_); };
  // Only for the Keep-Alive header httplib writes: the loop below applies them.
  set_keep_alive_max_count(lim_.max_requests_per_connection);
  set_keep_alive_timeout(static_cast<time_t>(lim_.keep_alive_timeout_s));
}

bool guarded_server::process_and_close_socket(socket_t sock) {
  if (t_over_capacity) {
    // Runs on the accept thread: one non-blocking write, no read, then close.
    const std::string r = error_response(
        503, fmt::format("the server is serving its limit of {} connections (--max-connections); retry shortly",
                         lim_.max_connections));
    (void)::send(sock, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  connection conn(sock, lim_, [this] { return svr_sock_ == INVALID_SOCKET; });
  t_current = &conn;
  for (std::size_t k = 0; k < lim_.max_requests_per_connection; ++k) {
    if (!conn.wait_for_request()) break;
    if (!conn.looks_like_http()) {
      conn.send_error(400, "this port serves plain HTTP/1.1 and the request does not start with an HTTP method "
                           "(a TLS client? use http://, not https://)");
      break;
    }
    conn.begin_request();
    bool closed = false;
    const bool ok = process_request(conn, k + 1 == lim_.max_requests_per_connection, closed, nullptr);
    // A failure while reading the request line leaves httplib nothing to answer: we do.
    if (conn.failure() != conn_failure::none && !conn.wrote_response())
      conn.send_error(failure_status(conn.failure()), failure_message(conn.failure(), lim_));
    conn.end_request();
    if (!ok || closed || conn.closing()) break;
  }
  t_current = nullptr;
  --open_;  // before the client can see the close and reconnect
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

}  // namespace lmlab::serve
