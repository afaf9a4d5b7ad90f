// `lmlab serve` HTTP server: see server.hpp.
#include "serve/server.hpp"

#include <httplib.h>

#include <chrono>
#include <ctime>
#include <ostream>

#include "core/error.hpp"
#include "serve/connection.hpp"

namespace lmlab::serve {
namespace {

using json = nlohmann::json;

void send_error(httplib::Response& res, const api_error& e) {
  res.status = e.status();
  res.set_content(dump_json(error_body(e)), "application/json");
}

std::string sse(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

// 499 (nginx's "client closed request"): only the log sees it, the client is gone.
api_error client_went_away() { return api_error(499, "the client closed the connection; generation stopped"); }

// A generation slot, waited for while the client is still there.
struct slot {
  std::counting_semaphore<>& sem;
  explicit slot(std::counting_semaphore<>& s) : sem(s) {
    const connection* c = current_connection();
    while (!sem.try_acquire_for(std::chrono::milliseconds(100)))
      if (c && c->client_gone()) throw client_went_away();
  }
  ~slot() { sem.release(); }
};

bool client_gone() {
  const connection* c = current_connection();
  return c && c->client_gone();
}

// Framing the connection layer cannot read safely is refused before any body is read, and
// the connection is closed after the answer (its unread body would be taken for the next
// request): a Content-Length that is not a byte count (-5, 2^64) or over the limit, a body
// without a length, an unknown Transfer-Encoding, or both headers at once (smuggling).
void install_framing_guards(httplib::Server& s, std::size_t max_body) {
  s.set_pre_routing_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    connection* conn = current_connection();
    const auto refuse = [&](int status, const std::string& msg) {
      send_error(res, api_error(status, msg));
      if (conn) conn->close_after_response();
      return httplib::Server::HandlerResponse::Handled;
    };
    const bool has_te = req.has_header("Transfer-Encoding"), has_cl = req.has_header("Content-Length");
    const bool with_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (has_te) {
      const std::string te = req.get_header_value("Transfer-Encoding");
      if (te != "chunked") return refuse(400, fmt::format("Transfer-Encoding '{}' is not supported (only chunked)", te));
      if (has_cl) return refuse(400, "a request may not carry both Content-Length and Transfer-Encoding");
    }
    if (has_cl) {
      const std::string cl = req.get_header_value("Content-Length");
      const bool number = !cl.empty() && cl.size() <= 19 && cl.find_first_not_of("0123456789") == std::string::npos;
      if (!number || req.get_header_value_count("Content-Length") > 1)
        return refuse(400, fmt::format("Content-Length '{}' is not a byte count", cl));
      if (std::stoull(cl) > max_body)
        return refuse(413, fmt::format("the request body is too large (limit {} bytes)", max_body));
    } else if (with_body && !has_te) {
      return refuse(411, fmt::format("{} needs a Content-Length (or Transfer-Encoding: chunked)", req.method));
    }
    if (!with_body && (has_te || (has_cl && req.get_header_value("Content-Length") != "0")) && conn)
      conn->close_after_response();  // httplib does not read a GET's body
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    const connection* conn = current_connection();
    if (conn && conn->closing()) {
      res.headers.erase("Keep-Alive");
      res.set_header("Connection", "close");
    }
  });
}

// Every error without a body (404 route, 413 too large, 400 from the HTTP parser) gets one
// in OpenAI's shape; bodies our handlers set are kept. A failure of the connection layer
// (a deadline, a size limit) replaces httplib's plain 400.
void install_error_bodies(httplib::Server& s, std::size_t max_body) {
  s.set_error_handler(httplib::Server::HandlerWithResponse([max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (const connection* conn = current_connection(); conn && conn->failure() != conn_failure::none) {
      res.status = failure_status(conn->failure());
      res.set_content(dump_json(error_body(api_error(res.status, failure_message(conn->failure(), conn->limits())))),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    std::string msg = res.status == 404   ? fmt::format("Unknown route: {} {} (this server has GET /v1/models, "
                                                        "POST /v1/completions and POST /v1/chat/completions)",
                                                        req.method, req.path)
                      : res.status == 413 ? fmt::format("the request body is too large (limit {} bytes)", max_body)
                                          : fmt::format("HTTP {}", res.status);
    res.set_content(dump_json(error_body(api_error(res.status, msg, {}, res.status == 404 ? "unknown_url" : ""))),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
}

}  // namespace

server::server(served_model& model, server_options opt)
    : model_(model), opt_(std::move(opt)), generating_(std::max(opt_.threads, 1)) {
  LMLAB_CHECK_HINT(opt_.threads >= 1, "e.g. --threads 4", "serve: --threads must be at least 1, got {}", opt_.threads);
  const connection_limits& lim = opt_.connections;
  LMLAB_CHECK_HINT(lim.max_connections >= 1, "e.g. --max-connections 256",
                   "serve: --max-connections must be at least 1, got {}", lim.max_connections);
  LMLAB_CHECK_HINT(lim.header_timeout_s > 0 && lim.body_timeout_s > 0, "e.g. --header-timeout 10 --body-timeout 30",
                   "serve: timeouts must be positive, got --header-timeout {} --body-timeout {}", lim.header_timeout_s,
                   lim.body_timeout_s);
  http_ = std::make_unique<guarded_server>(lim);
  LMLAB_CHECK_HINT(opt_.port >= 0 && opt_.port <= 65535, "e.g. --port 8080", "serve: --port {} is not a TCP port", opt_.port);
  routes();
}

server::~server() { stop(); }

std::string server::base_url() const { return fmt::format("http://{}:{}/v1", opt_.host, port_); }

int server::bind() {
  const int p = opt_.port == 0 ? http_->bind_to_any_port(opt_.host) : (http_->bind_to_port(opt_.host, opt_.port) ? opt_.port : -1);
  LMLAB_CHECK_HINT(p > 0, "is another server using the port? pick another with --port, or check --host",
                   "serve: cannot listen on {}:{}", opt_.host, opt_.port);
  // httplib listens with a backlog of 5: under 256 connecting clients the kernel dropped SYNs
  // and clients waited for their 1 s and 3 s retransmits (wrk's p99 was 3 s).
  static_cast<guarded_server&>(*http_).widen_backlog(1024);
  port_ = p;
  return p;
}

void server::listen() { http_->listen_after_bind(); }

int server::start() {
  bind();
  thread_ = std::thread([this] { listen(); });
  for (int i = 0; i < 5000 && !http_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port_;
}

void server::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void server::routes() {
  auto& s = *http_;
  s.set_payload_max_length(opt_.connections.max_body_bytes);
  install_framing_guards(s, opt_.connections.max_body_bytes);
  install_error_bodies(s, opt_.connections.max_body_bytes);
  s.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const api_error& e) {
      send_error(res, e);
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, api_error(500, "internal error in lmlab serve: " + what, {}, {}, "server_error"));
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    ++stats_.requests;
    if (res.status >= 400 && res.status < 500) ++stats_.errors_4xx;
    if (res.status >= 500) ++stats_.errors_5xx;
    if (!opt_.log) return;
    std::lock_guard lk(log_mu_);
    *opt_.log << req.method << " " << req.path << " " << res.status << "\n" << std::flush;
  });

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json m = {{"id", model_.name},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "lmlab"},
                    {"max_model_len", model_.lm->context()},
                    {"lmlab", {{"architecture", model_.lm->architecture()},
                               {"parameters", model_.num_parameters},
                               {"vocab_size", model_.lm->vocab_size()},
                               {"tokenizer", model_.tok->kind()},
                               {"decoding", model_.lm->has_kv_cache() ? "kv_cache" : "recompute"},
                               {"checkpoint", model_.dir.string()}}}};
    res.set_content(dump_json({{"object", "list"}, {"data", json::array({m})}}), "application/json");
  });

  s.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_completion(false, q, r); });
  s.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_completion(true, q, r); });
  // Aliases without the /v1 prefix (some clients are configured with the bare host).
  s.Post("/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_completion(false, q, r); });
  s.Post("/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_completion(true, q, r); });
  s.Get("/models", [this](const httplib::Request& q, httplib::Response& r) {
    r.set_redirect("/v1/models");
  });
  for (const char* path : {"/v1/completions", "/v1/chat/completions"})
    s.Get(path, [](const httplib::Request& req, httplib::Response& res) {
      send_error(res, api_error(405, fmt::format("{} needs POST with a JSON body", req.path), {}, "method_not_allowed"));
    });
}

// POST /v1/completions and /v1/chat/completions: parse the request into a job, then answer it
// whole or as a server-sent event stream.
void server::handle_completion(bool chat, const httplib::Request& req, httplib::Response& res) {
  // The exact limit for a chunked body (the connection layer bounded it while reading).
  if (req.body.size() > opt_.connections.max_body_bytes) {
    send_error(res,
               api_error(413, fmt::format("the request body is too large (limit {} bytes)", opt_.connections.max_body_bytes)));
    return;
  }
  json body = parse_request_body(req.body);
  if (body.is_discarded()) {
    send_error(res, api_error(400, "We could not parse the JSON body of your request: it is not valid JSON"));
    return;
  }
  job j;
  try {
    j = chat ? parse_chat_request(body, model_, opt_.limits) : parse_completion_request(body, model_, opt_.limits);
  } catch (const api_error& e) {
    send_error(res, e);
    return;
  }
  response_meta meta;
  meta.id = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl", next_id_.fetch_add(1));
  meta.model = model_.name;
  meta.created = static_cast<std::int64_t>(std::time(nullptr));
  meta.fingerprint = fmt::format("{}-{}", model_.lm->architecture(), model_.lm->has_kv_cache() ? "kv" : "recompute");
  if (j.stream)
    respond_stream(chat, std::make_shared<job>(std::move(j)), meta, res);
  else
    respond_whole(chat, j, meta, res);
}

void server::count_usage(const job& j, const std::vector<choice_result>& choices) {
  const auto u = usage_json(j, choices);
  stats_.prompt_tokens += u["prompt_tokens"].get<std::int64_t>();
  stats_.completion_tokens += u["completion_tokens"].get<std::int64_t>();
}

void server::respond_whole(bool chat, const job& j, const response_meta& meta, httplib::Response& res) {
  const slot turn(generating_);
  // Checked at every token: a client that went away stops the generation.
  const delta_fn watch = [](std::string_view, std::span<const token_info>) { return !client_gone(); };
  std::vector<choice_result> choices;
  for (const auto& p : j.prompts)
    for (int k = 0; k < j.n; ++k) {
      choices.push_back(run_choice(model_, p, j.params, static_cast<std::uint64_t>(k), watch));
      if (client_gone()) throw client_went_away();
    }
  count_usage(j, choices);
  res.set_content(dump_json(chat ? chat_response(j, choices, model_, meta) : completion_response(j, choices, model_, meta)),
                  "application/json");
}

// The headers (200) are sent before generation starts, so a failure inside it can only be
// reported as an error event; the stream then ends without [DONE] (clients retry).
void server::respond_stream(bool chat, std::shared_ptr<const job> shared, const response_meta& meta, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  const auto stream_body = [this, chat, shared, meta](httplib::DataSink& sink) -> bool {
    const slot turn(generating_);
    const auto put = [&](const json& chunk) {
      const std::string e = sse(chunk);
      return sink.write(e.data(), e.size());
    };
    return stream_choices(chat, *shared, meta, put, sink);
  };
  res.set_chunked_content_provider("text/event-stream", [stream_body](std::size_t, httplib::DataSink& sink) {
    try {
      return stream_body(sink);
    } catch (const std::exception& e) {
      const std::string ev =
          sse(error_body(api_error(500, std::string("internal error in lmlab serve: ") + e.what(), {}, {}, "server_error")));
      sink.write(ev.data(), ev.size());
      return false;
    }
  });
}

// Streams every choice of the job as chunks, then the usage chunk (if asked) and [DONE];
// false as soon as the client is gone.
bool server::stream_choices(bool chat, const job& jj, const response_meta& meta, const std::function<bool(const json&)>& put,
                            httplib::DataSink& sink) {
  const bool lp = jj.params.logprobs >= 0;
  std::vector<choice_result> choices;
  int index = 0;
  for (const auto& p : jj.prompts) {
    for (int k = 0; k < jj.n; ++k, ++index) {
      if (chat && !put(chat_chunk(meta, index, {{"role", "assistant"}, {"content", ""}}, {}, model_, false, "")))
        return false;
      bool alive = true;
      const delta_fn on_delta = [&](std::string_view text, std::span<const token_info> toks) {
        alive = put(chat ? chat_chunk(meta, index, {{"content", std::string(text)}}, toks, model_, lp, "")
                         : completion_chunk(meta, index, text, toks, model_, lp, ""));
        return alive;
      };
      choices.push_back(run_choice(model_, p, jj.params, static_cast<std::uint64_t>(k), on_delta));
      if (!alive) return false;  // the client went away: stop generating
      const auto& fin = choices.back().finish_reason;
      if (!put(chat ? chat_chunk(meta, index, json::object(), {}, model_, false, fin)
                    : completion_chunk(meta, index, "", {}, model_, false, fin)))
        return false;
    }
  }
  count_usage(jj, choices);
  if (jj.include_usage) {
    json u = {{"id", meta.id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", meta.created},
              {"model", meta.model}, {"choices", json::array()}, {"usage", usage_json(jj, choices)}};
    if (!put(u)) return false;
  }
  const std::string done = "data: [DONE]\n\n";
  sink.write(done.data(), done.size());
  sink.done();
  return true;
}

}  // namespace lmlab::serve
