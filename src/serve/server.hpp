// `lmlab serve`: an OpenAI-compatible HTTP server for one lab checkpoint.
//   GET  /v1/models             the served model (and /health for scripts)
//   POST /v1/completions        prompt (string | [string] | [ids] | [[ids]]), echo, logprobs, stream
//   POST /v1/chat/completions   messages through the chat template (generate.hpp), logprobs, stream
// Each connection gets its own thread up to `connections.max_connections` (connection.hpp: deadlines and
// size limits while reading, pipelining, 503 beyond the limit); at most `threads` requests
// generate at once, the others wait their turn; the model runs one forward at a time
// (model_adapter.hpp), so concurrent requests interleave token by token. A request whose
// client goes away stops generating. A bad request
// gets a 4xx JSON error in OpenAI's shape (protocol.hpp); an unexpected failure a 500 JSON
// error; the process never exits on input. Binds 127.0.0.1 unless told otherwise.
// Not for: request parsing (protocol.hpp), sampling (generate.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "serve/connection_limits.hpp"
#include "serve/model_adapter.hpp"
#include "serve/protocol.hpp"

namespace httplib {
class Server;
class DataSink;
struct Request;
struct Response;
}

namespace lmlab::serve {

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: an ephemeral port (tests)
  int threads = 4;                        // requests generating at once (the rest wait)
  // Connections served at once (more get 503), header and body deadlines (408), body size
  // (413, checked while reading) and all bodies in flight together (503).
  connection_limits connections;
  server_limits limits;
  std::ostream* log = nullptr;            // one line per request
};

struct server_stats {
  std::atomic<std::int64_t> requests{0}, errors_4xx{0}, errors_5xx{0};
  std::atomic<std::int64_t> prompt_tokens{0}, completion_tokens{0};
};

class server {
 public:
  server(served_model& model, server_options opt);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds host:port (port 0 picks a free one) and returns the port; errors name the address.
  int bind();
  // Serves until stop() (blocking). bind() first.
  void listen();
  // bind() + listen() on a background thread; returns the port once it accepts connections.
  int start();
  void stop();
  int port() const { return port_; }
  std::string base_url() const;  // http://host:port/v1
  const server_stats& stats() const { return stats_; }

 private:
  void routes();
  void handle_completion(bool chat, const httplib::Request& req, httplib::Response& res);
  void respond_whole(bool chat, const job& j, const response_meta& meta, httplib::Response& res);
  void respond_stream(bool chat, std::shared_ptr<const job> j, const response_meta& meta, httplib::Response& res);
  bool stream_choices(bool chat, const job& j, const response_meta& meta,
                      const std::function<bool(const nlohmann::json&)>& put, httplib::DataSink& sink);
  void count_usage(const job& j, const std::vector<choice_result>& choices);
  served_model& model_;
  server_options opt_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<std::int64_t> next_id_{1};
  std::counting_semaphore<> generating_;  // `threads` slots
  server_stats stats_;
  std::mutex log_mu_;
};

}  // namespace lmlab::serve
