// `lmlab serve CHECKPOINT`: serve a lab checkpoint over an OpenAI-compatible HTTP API
// (docs/probe.md "lmlab serve"). The logic lives in src/serve/; this file only maps flags.
// Not for: evaluating served models (`lmlab probe`).
#include <csignal>
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "serve/server.hpp"

namespace {

lmlab::serve::server* g_server = nullptr;
extern "C" void on_stop_signal(int) {
  // httplib's stop() only flips a flag and shuts the listening socket: safe enough here.
  if (g_server) g_server->stop();
}

struct serve_args {
  std::string checkpoint, host = "127.0.0.1", model_name, unknown_char;
  int port = 8080, threads = 4;
  std::size_t max_connections = 256;
  double header_timeout = 10, body_timeout = 30;
  std::int64_t max_tokens = 2048, max_request_tokens = 65536, max_image_pixels = std::int64_t{1} << 22;
  bool truncate_prompt = false, quiet = false, recompute = false;
};

void add_serve(CLI::App& app) {
  auto a = std::make_shared<serve_args>();
  auto* s = app.add_subcommand("serve", "Serve a checkpoint over an OpenAI-compatible API (completions with echo "
                                        "logprobs, chat, streaming)");
  s->add_option("CHECKPOINT", a->checkpoint, "checkpoint folder (config.json, model.safetensors, tokenizer.json), .gguf file or Hugging Face folder")
      ->required();
  s->add_option("--host", a->host, "address to bind; anything but 127.0.0.1 exposes the model to the network")
      ->capture_default_str();
  s->add_option("--port", a->port, "TCP port (0: any free port, printed at start)")->capture_default_str();
  s->add_option("--threads", a->threads,
                "requests that generate at once; the rest wait their turn (the model runs one forward at a time)")
      ->capture_default_str();
  s->add_option("--max-connections", a->max_connections,
                "connections served at once (one thread each, separate from --threads); more get 503")
      ->capture_default_str();
  s->add_option("--header-timeout", a->header_timeout,
                "seconds for a request line and headers to arrive, from their first byte (else 408)")
      ->capture_default_str();
  s->add_option("--body-timeout", a->body_timeout, "seconds for a request body to arrive after its headers (else 408)")
      ->capture_default_str();
  s->add_option("--max-request-tokens", a->max_request_tokens,
                "per-request budget: sum over prompts of n * (prompt tokens + max_tokens); larger requests get 400")
      ->capture_default_str();
  s->add_option("--model-name", a->model_name, "name requests send as \"model\" (default: the run folder's name)");
  s->add_option("--max-tokens", a->max_tokens, "largest max_tokens a request may ask for")->capture_default_str();
  s->add_option("--max-image-pixels", a->max_image_pixels,
                "largest image (width x height) a chat image_url part may carry, for models that read images (else 400)")
      ->capture_default_str();
  s->add_flag("--truncate-prompt", a->truncate_prompt,
              "keep the end of a prompt longer than the context (default: 400 context_length_exceeded)");
  s->add_option("--unknown-char", a->unknown_char,
                 "feed characters the tokenizer lacks as this text (e.g. ' '); default: such a prompt is a 400");
  s->add_flag("--recompute", a->recompute,
              "decode by recomputing the whole window every token, not with the model's KV cache / step mode "
              "(the reference the step path is tested against; slower)");
  s->add_flag("-q,--quiet", a->quiet, "no per-request log lines");
  s->footer("Example:\n  lmlab serve runs/gpt-brown/checkpoint --port 8080\n"
            "  lmlab probe run --model lmlab/gpt-brown --base-url http://127.0.0.1:8080/v1 --suite calibration --lang en");
  s->callback([a] {
    LMLAB_CHECK_HINT(a->max_tokens >= 1, "e.g. --max-tokens 2048", "serve: --max-tokens must be at least 1, got {}",
                     a->max_tokens);
    LMLAB_CHECK_HINT(a->max_request_tokens >= 1, "e.g. --max-request-tokens 65536",
                     "serve: --max-request-tokens must be at least 1, got {}", a->max_request_tokens);
    auto model = lmlab::serve::load_served_model(
        a->checkpoint, a->model_name, a->recompute ? lmlab::serve::decode_mode::recompute : lmlab::serve::decode_mode::step);
    lmlab::serve::server_options o;
    o.host = a->host;
    o.port = a->port;
    o.threads = a->threads;
    o.connections.max_connections = a->max_connections;
    o.connections.header_timeout_s = a->header_timeout;
    o.connections.body_timeout_s = a->body_timeout;
    o.limits.max_tokens = a->max_tokens;
    o.limits.max_request_tokens = a->max_request_tokens;
    o.limits.truncate_prompt = a->truncate_prompt;
    o.limits.max_image_pixels = a->max_image_pixels;
    if (!a->unknown_char.empty()) {
      try {
        (void)model.tok->encode(a->unknown_char);
      } catch (const lmlab::error& e) {
        throw lmlab::usage_error(fmt::format("--unknown-char '{}': {}", a->unknown_char, e.what()),
                                 "pick a character the model was trained on, e.g. ' '");
      }
      o.limits.unknown_char = a->unknown_char;
    }
    o.log = a->quiet ? nullptr : &std::cerr;
    lmlab::serve::server srv(model, o);
    const int port = srv.bind();
    std::cerr << "serving '" << model.name << "' (" << model.lm->architecture() << ", " << model.num_parameters
              << " parameters, context " << model.lm->context() << ", "
              << (model.lm->has_kv_cache() ? "KV-cached decoding" : "full recompute per token") << ") at http://"
              << a->host << ":" << port << "/v1\n";
    if (a->host != "127.0.0.1" && a->host != "localhost" && a->host != "::1")
      std::cerr << "warning: listening on " << a->host << ": anyone who can reach this address can use the model\n";
    g_server = &srv;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    srv.listen();
    g_server = nullptr;
  });
}

}  // namespace

LMLAB_COMMAND("serve", 55, add_serve);
