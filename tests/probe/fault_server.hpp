// A scripted OpenAI-compatible server on 127.0.0.1 (ephemeral port) for the probe tests.
// `script(request, attempt)` picks what the n-th attempt of a request (counted per request
// body) gets: a correct answer, a timeout, 429 with Retry-After, 500, malformed JSON, a
// truncated body, a slow stream, or a 400. Correct answers come from `answer(request)`.
// It counts requests per body, so tests can prove that nothing was asked twice.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "probe/client.hpp"

namespace lmlab::probe::testing {

enum class fault { ok, timeout, rate_limit, rate_limit_date, server_error, malformed, truncated, slow_stream, bad_request,
                   custom };

struct fault_server {
  using json = nlohmann::json;
  httplib::Server srv;
  std::thread th;
  int port = 0;
  std::mutex mu;
  std::map<std::string, int> attempts;  // request body (minus "stream") -> attempts seen
  std::map<std::string, int> served_ok;  // request body -> correct answers served
  std::atomic<int> total{0};
  std::function<fault(const json&, int)> script = [](const json&, int) { return fault::ok; };
  // The text the model answers; the default answers "A".
  std::function<std::string(const json&)> answer = [](const json&) { return std::string("A"); };
  std::string retry_after = "0";
  int slow_ms = 250;      // how long a timeout/slow stream takes on the server side
  bool logprobs = true;   // serve logprobs when asked
  bool echo = true;       // honour echo on /v1/completions
  std::string last_auth;
  // fault::custom: the test writes the response (a hostile body, a huge header...).
  std::function<void(const json&, httplib::Response&)> custom;

  fault_server() {
    srv.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "chat"); });
    srv.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "completions"); });
    srv.Post("/completion", [this](const httplib::Request& q, httplib::Response& r) { handle(q, r, "llama"); });
    port = srv.bind_to_any_port("127.0.0.1");
    th = std::thread([this] { srv.listen_after_bind(); });
    for (int i = 0; i < 500 && !srv.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~fault_server() {
    srv.stop();
    th.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
  int max_served() {
    std::lock_guard lk(mu);
    int m = 0;
    for (auto& [k, v] : served_ok) m = std::max(m, v);
    return m;
  }

  static json top_for(const std::string& ans) {
    // The answer first, then the other letters: a confident, valid distribution.
    json top = json::array({{{"token", ans}, {"logprob", -0.105}}});
    double lp = -2.5;
    for (const char* l : {"A", "B", "C", "D"})
      if (ans != l) top.push_back({{"token", l}, {"logprob", lp}}), lp -= 1.0;
    return top;
  }

  json body_for(const std::string& kind, const json& req) {
    const std::string ans = answer(req);
    if (kind == "chat") {
      json c = {{"index", 0}, {"message", {{"role", "assistant"}, {"content", ans}}}, {"finish_reason", "stop"}};
      if (logprobs && req.value("logprobs", false)) {
        json first = {{"token", ans.substr(0, 1)}, {"logprob", -0.105}, {"top_logprobs", top_for(ans.substr(0, 1))}};
        c["logprobs"] = {{"content", json::array({first})}};
      }
      json choices = json::array({c});
      for (int i = 1; i < req.value("n", 1); ++i) { c["index"] = i; choices.push_back(c); }
      return {{"id", "x"}, {"object", "chat.completion"}, {"choices", choices}};
    }
    if (kind == "completions") {
      const std::string prompt = req.value("prompt", "");
      const bool do_echo = echo && req.value("echo", false);
      const std::string text = do_echo ? prompt + " " + ans : " " + ans;
      json c = {{"index", 0}, {"text", text}, {"finish_reason", "length"}};
      if (logprobs && req.contains("logprobs")) {
        json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
        if (do_echo) {
          // Split the prompt into "words" so the last one (" X", the scored letter) is its own token.
          std::size_t pos = 0;
          while (pos < prompt.size()) {
            std::size_t nxt = prompt.find(' ', pos + 1);
            if (nxt == std::string::npos) nxt = prompt.size();
            const std::string tok = prompt.substr(pos, nxt - pos);
            // The letter the model favours gets -0.1, the others -3; prompt words -1.
            const bool last = nxt == prompt.size();
            double lp = pos == 0 ? 0.0 : -1.0;
            if (last && tok.size() == 2 && tok[0] == ' ') lp = tok.substr(1) == ans ? -0.1 : -3.0;
            toks.push_back(tok);
            lps.push_back(pos == 0 ? json(nullptr) : json(lp));
            tops.push_back(pos == 0 ? json(nullptr) : json::object({{tok, lp}}));
            offs.push_back(pos);
            pos = nxt;
          }
        }
        toks.push_back(" " + ans);
        lps.push_back(-0.105);
        json t = json::object();
        for (const auto& e : top_for(ans)) t[" " + e["token"].get<std::string>()] = e["logprob"];
        tops.push_back(t);
        offs.push_back(do_echo ? prompt.size() : 0);
        c["logprobs"] = {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
      }
      return {{"id", "x"}, {"object", "text_completion"}, {"choices", json::array({c})}};
    }
    json b = {{"content", " " + ans}, {"stop", true}};
    if (logprobs && req.contains("n_probs")) {
      json probs = json::array();
      for (const auto& e : top_for(ans)) probs.push_back({{"tok_str", " " + e["token"].get<std::string>()}, {"prob", std::exp(e["logprob"].get<double>())}});
      b["completion_probabilities"] = json::array({{{"content", " " + ans}, {"probs", probs}}});
    }
    return b;
  }

  static std::string sse_for(const std::string& kind, const json& full) {
    std::string out;
    const auto& c = full["choices"][0];
    const std::string text = kind == "chat" ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>();
    for (std::size_t i = 0; i < text.size(); i += 2) {
      json ch = kind == "chat" ? json{{"index", 0}, {"delta", {{"content", text.substr(i, 2)}}}}
                               : json{{"index", 0}, {"text", text.substr(i, 2)}};
      if (i == 0 && c.contains("logprobs")) ch["logprobs"] = c["logprobs"];
      out += "data: " + json{{"choices", json::array({ch})}}.dump() + "\n\n";
    }
    out += "data: " + json{{"choices", json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "stop"}}})}}.dump() + "\n\n";
    return out;
  }

  void handle(const httplib::Request& q, httplib::Response& r, const std::string& kind) {
    ++total;
    last_auth = q.get_header_value("Authorization");
    auto req = json::parse(q.body, nullptr, false);
    if (req.is_discarded()) {
      r.status = 400;
      r.set_content(R"({"error":{"message":"bad json"}})", "application/json");
      return;
    }
    const bool stream = req.value("stream", false);
    json key_req = req;
    key_req.erase("stream");
    int attempt = 0;
    {
      std::lock_guard lk(mu);
      attempt = attempts[kind + key_req.dump()]++;
    }
    const fault f = script(req, attempt);
    switch (f) {
      case fault::timeout:
        std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
        r.set_content("{}", "application/json");
        return;
      case fault::rate_limit:
      case fault::rate_limit_date:
        r.status = 429;
        r.set_header("Retry-After", retry_after);
        r.set_content(R"({"error":{"message":"rate limited"}})", "application/json");
        return;
      case fault::server_error:
        r.status = 500;
        r.set_content(R"({"error":{"message":"internal"}})", "application/json");
        return;
      case fault::bad_request:
        r.status = 400;
        r.set_content(R"({"error":{"message":"unsupported parameter"}})", "application/json");
        return;
      case fault::malformed:
        r.set_content(R"({"choices": [{"text": "A", )", "application/json");
        return;
      case fault::truncated: {
        const std::string full = body_for(kind, req).dump();
        r.set_content_provider(full.size(), "application/json",
                               [full](std::size_t off, std::size_t, httplib::DataSink& sink) {
                                 if (off == 0) sink.write(full.data(), full.size() / 2);
                                 return false;  // close the connection mid-body
                               });
        return;
      }
      case fault::slow_stream: {
        const int ms = slow_ms;
        r.set_chunked_content_provider("text/event-stream", [ms](std::size_t, httplib::DataSink& sink) {
          for (int i = 0; i < 10; ++i) {
            const std::string ev = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\".\"}}]}\n\n";
            if (!sink.write(ev.data(), ev.size())) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(ms / 10));
          }
          sink.done();
          return true;
        });
        return;
      }
      case fault::custom:
        custom(req, r);
        return;
      case fault::ok: break;
    }
    const json full = body_for(kind, req);
    {
      std::lock_guard lk(mu);
      ++served_ok[kind + key_req.dump()];
    }
    if (stream && kind != "llama") {
      r.set_content(sse_for(kind, full) + "data: [DONE]\n\n", "text/event-stream");
    } else {
      r.set_content(full.dump(), "application/json");
    }
  }
};

// An endpoint on `s` as the probe tests use it: provider "test", a short timeout, and waits
// between retries skipped (a test that records them sets its own `sleep`).
inline endpoint_config endpoint_for(const fault_server& s, const std::string& model = "fake", double timeout_s = 2) {
  endpoint_config c;
  c.base_url = s.base_url();
  c.provider = "test";
  c.model = model;
  c.timeout_s = timeout_s;
  c.sleep = [](double) {};
  return c;
}

}  // namespace lmlab::probe::testing
