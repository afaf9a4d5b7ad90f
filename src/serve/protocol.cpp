// OpenAI wire format for `lmlab serve`: see protocol.hpp.
#include "serve/protocol.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "core/error.hpp"
#include "data/spm_bpe.hpp"
#include "data/utf8.hpp"
#include "serve/vlm_adapter.hpp"

namespace lmlab::serve {
namespace {

using json = nlohmann::json;

std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void bad(const std::string& param, const std::string& msg) { throw api_error(400, msg, param); }

// A present, non-null field (OpenAI treats null as "not given").
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::int64_t int_field(const json& body, const char* key, std::int64_t def, std::int64_t lo, std::int64_t hi) {
  const json* v = field(body, key);
  if (!v) return def;
  if (!v->is_number_integer())
    bad(key, fmt::format("'{}' must be an integer, got {}: {}", key, type_name(*v), v->dump()));
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, v->dump()));
  const auto x = v->get<std::int64_t>();
  if (x < lo || x > hi) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
  return x;
}

double num_field(const json& body, const char* key, double def, double lo, double hi, bool lo_open = false) {
  const json* v = field(body, key);
  if (!v) return def;
  if (!v->is_number()) bad(key, fmt::format("'{}' must be a number, got {}: {}", key, type_name(*v), v->dump()));
  const double x = v->get<double>();
  if (!(lo_open ? x > lo : x >= lo) || !(x <= hi))
    bad(key, fmt::format("'{}' must be in {}{}, {}], got {}", key, lo_open ? "(" : "[", lo, hi, x));
  return x;
}

bool bool_field(const json& body, const char* key, bool def) {
  const json* v = field(body, key);
  if (!v) return def;
  if (!v->is_boolean()) bad(key, fmt::format("'{}' must be a boolean, got {}: {}", key, type_name(*v), v->dump()));
  return v->get<bool>();
}

void check_keys(const json& body, const std::set<std::string>& known) {
  for (auto it = body.begin(); it != body.end(); ++it)
    if (!known.count(it.key())) bad(it.key(), fmt::format("Unrecognized request argument supplied: {}", it.key()));
}

void check_model(const json& body, const served_model& m) {
  const json* v = field(body, "model");
  if (!v) return;
  if (!v->is_string()) bad("model", fmt::format("'model' must be a string, got {}", type_name(*v)));
  if (v->get<std::string>() != m.name)
    throw api_error(404, fmt::format("The model '{}' does not exist (this server serves '{}')", v->get<std::string>(), m.name),
                    "model", "model_not_found");
}

// Fields accepted for compatibility that must keep their neutral value.
void check_neutral(const json& body) {
  for (const char* k : {"presence_penalty", "frequency_penalty"}) {
    const double x = num_field(body, k, 0.0, -2.0, 2.0);
    if (x != 0) bad(k, fmt::format("'{}' is not supported by lmlab serve (only 0)", k));
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) bad("logit_bias", "'logit_bias' must be an object");
    if (!v->empty()) bad("logit_bias", "'logit_bias' is not supported by lmlab serve (only {})");
  }
  if (const json* v = field(body, "user"); v && !v->is_string()) bad("user", "'user' must be a string");
}

std::vector<std::string> stop_field(const json& body) {
  const json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) out.push_back(v->get<std::string>());
  else if (v->is_array()) {
    if (v->size() > 4) bad("stop", fmt::format("'stop' may hold at most 4 sequences, got {}", v->size()));
    for (const auto& s : *v) {
      if (!s.is_string()) bad("stop", fmt::format("'stop' entries must be strings, got {}", type_name(s)));
      out.push_back(s.get<std::string>());
    }
  } else {
    bad("stop", fmt::format("'stop' must be a string or an array of strings, got {}", type_name(*v)));
  }
  for (const auto& s : out)
    if (s.empty()) bad("stop", "'stop' sequences must not be empty");
  return out;
}

// The sampling fields shared by both endpoints.
void sampling_fields(const json& body, job& j, const server_limits& lim) {
  j.params.temperature = num_field(body, "temperature", 1.0, 0.0, 2.0);
  j.params.top_p = num_field(body, "top_p", 1.0, 0.0, 1.0, true);
  // top_k: -1 (vLLM's "off") or 0 mean no top-k filtering.
  const std::int64_t k = int_field(body, "top_k", 0, -1, std::numeric_limits<std::int32_t>::max());
  j.params.top_k = k < 0 ? 0 : k;
  j.n = static_cast<int>(int_field(body, "n", 1, 1, lim.max_n));
  j.stream = bool_field(body, "stream", false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (!j.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    for (auto it = so->begin(); it != so->end(); ++it)
      if (it.key() != "include_usage") bad("stream_options", fmt::format("Unrecognized stream option: {}", it.key()));
    j.include_usage = bool_field(*so, "include_usage", false);
  }
  if (const json* s = field(body, "seed")) {
    if (!s->is_number_integer()) bad("seed", fmt::format("'seed' must be an integer, got {}: {}", type_name(*s), s->dump()));
    j.params.seed = s->is_number_unsigned() ? s->get<std::uint64_t>() : static_cast<std::uint64_t>(s->get<std::int64_t>());
    j.seeded = true;
  } else {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    j.params.seed = gen();
  }
  j.params.stop = stop_field(body);
}

// The start token a text prompt is fed after, as `lmlab sample` and `eval` do: BOS where the
// tokenizer adds one (GGUF tokenizer.ggml.add_bos_token, default true for llama; a Hugging Face
// post-processor that starts with it); -1 for tokenizers that add none.
std::int32_t bos_of(const served_model& m) {
  const auto* spm = dynamic_cast<const data::spm_bpe*>(m.tok.get());
  return spm && spm->add_bos() ? spm->bos_id() : -1;
}

// Token ids for one prompt, checked against the context and the vocabulary.
prompt_in prepare_prompt(prompt_in p, const served_model& m, const server_limits& lim, const std::string& param) {
  for (std::int32_t id : p.ids)
    if (id < 0 || id >= m.tok->vocab_size())
      bad(param, fmt::format("token id {} is outside the vocabulary (0..{})", id, m.tok->vocab_size() - 1));
  if (p.ids.empty()) {
    // A model with a start token conditions on it: BOS where the tokenizer adds one, else an
    // end-of-text token (GPT-2's convention); else there is nothing to predict the first token from.
    std::int32_t start = bos_of(m);
    if (start < 0) start = m.tok->special_id("<|endoftext|>");
    if (start < 0)
      bad(param, "the prompt is empty and this model has no start token to condition on; send at least one token");
    p.ids.push_back(start);
    p.hidden = 1;
    p.source_offsets.clear();
  }
  const auto ctx = static_cast<std::size_t>(m.lm->context());
  if (p.ids.size() > ctx) {
    if (!lim.truncate_prompt)
      throw api_error(400,
                      fmt::format("This model's maximum context length is {} tokens, however you requested {} tokens "
                                  "in the prompt (start the server with --truncate-prompt to keep the prompt's end)",
                                  ctx, p.ids.size()),
                      param, "context_length_exceeded");
    // The hidden start token stays first (where the context has room for anything else).
    const std::size_t keep = std::min(p.hidden, ctx - 1);
    p.truncated = p.ids.size() - ctx;
    p.ids.erase(p.ids.begin() + static_cast<std::ptrdiff_t>(keep),
                p.ids.begin() + static_cast<std::ptrdiff_t>(keep + p.truncated));
    const std::size_t visible_dropped = p.truncated - (p.hidden - keep);
    p.hidden = keep;
    if (!p.source_offsets.empty()) {  // echo what the model saw: the source from the first kept id
      const std::size_t from = p.source_offsets[visible_dropped];
      p.source_offsets.erase(p.source_offsets.begin(), p.source_offsets.begin() + static_cast<std::ptrdiff_t>(visible_dropped));
      for (auto& o : p.source_offsets) o -= from;
      p.source = p.source.substr(from);
    }
  }
  return p;
}

prompt_in encode_text_only(const std::string& text, const served_model& m, const server_limits& lim,
                           const std::string& param);

// Encodes text after the tokenizer's start token (hidden: never echoed).
prompt_in encode_text(const std::string& text, const served_model& m, const server_limits& lim,
                      const std::string& param) {
  prompt_in p = encode_text_only(text, m, lim, param);
  if (const std::int32_t bos = bos_of(m); bos >= 0) {
    p.ids.insert(p.ids.begin(), bos);
    p.hidden = 1;
  }
  return p;
}

// The ids of the text alone. With lim.unknown_char set, a character the tokenizer rejects is
// fed as that text instead, and each id remembers which character of the original it stands for.
prompt_in encode_text_only(const std::string& text, const served_model& m, const server_limits& lim,
                           const std::string& param) {
  prompt_in p;
  try {
    p.ids = m.tok->encode(text);
    return p;
  } catch (const lmlab::error& e) {
    if (lim.unknown_char.empty())
      bad(param, fmt::format("the prompt cannot be encoded by this model's {} tokenizer: {} (start the server with "
                             "--unknown-char ' ' to substitute such characters)",
                             m.tok->kind(), e.what()));
  }
  std::vector<std::int32_t> repl;
  try {
    repl = m.tok->encode(lim.unknown_char);
  } catch (const lmlab::error& e) {
    throw api_error(500, fmt::format("--unknown-char '{}' is itself not in the vocabulary: {}", lim.unknown_char, e.what()),
                    {}, {}, "server_error");
  }
  p.source = text;
  for (std::size_t i = 0; i < text.size();) {
    int len = 1;
    data::utf8_decode(text, i, len);
    std::vector<std::int32_t> ids;
    try {
      ids = m.tok->encode(std::string_view(text).substr(i, static_cast<std::size_t>(len)));
    } catch (const lmlab::error&) {
      ids = repl;
    }
    for (std::int32_t id : ids) {
      p.ids.push_back(id);
      p.source_offsets.push_back(i);
    }
    i += static_cast<std::size_t>(len);
  }
  return p;
}

std::vector<std::int32_t> ids_of(const json& arr, const std::string& param) {
  std::vector<std::int32_t> ids;
  for (const auto& t : arr) {
    if (!t.is_number_integer()) bad(param, fmt::format("'{}' token ids must be integers, got {}", param, type_name(t)));
    const auto x = t.get<std::int64_t>();
    if (x < 0 || x > std::numeric_limits<std::int32_t>::max())
      bad(param, fmt::format("token id {} is outside the vocabulary", x));
    ids.push_back(static_cast<std::int32_t>(x));
  }
  return ids;
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

std::string piece(const served_model& m, std::int32_t id) {
  return m.tok->decode(std::span<const std::int32_t>(&id, 1));
}

// Each choice prefills its prompt and then generates up to max_tokens, so a request costs up
// to n * (prompt + max_tokens) tokens per prompt; one request may not exceed the budget.
void check_token_budget(const job& j, const server_limits& lim) {
  std::int64_t prompt = 0;
  for (const auto& p : j.prompts) prompt += static_cast<std::int64_t>(p.ids.size());
  const auto n_prompts = static_cast<std::int64_t>(j.prompts.size());
  const std::int64_t cost = j.n * (prompt + n_prompts * j.params.max_tokens);
  if (cost > lim.max_request_tokens)
    throw api_error(400,
                    fmt::format("this request could cost up to {} tokens (n = {} x ({} prompt tokens + {} prompt(s) x "
                                "max_tokens {})); the server allows {} per request (--max-request-tokens): send "
                                "fewer prompts, a smaller n or max_tokens",
                                cost, j.n, prompt, n_prompts, j.params.max_tokens, lim.max_request_tokens),
                    "max_tokens", "request_too_large");
}

}  // namespace

json error_body(const api_error& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type()},
            {"param", e.param().empty() ? json(nullptr) : json(e.param())},
            {"code", e.code().empty() ? json(nullptr) : json(e.code())}}}};
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json parse_request_body(std::string_view body) {
  // The callback sees every object and array as it opens; throwing ends the parse there.
  const json::parser_callback_t depth_check = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= max_request_json_depth)
      throw api_error(400, fmt::format("the JSON body is nested deeper than {} levels", max_request_json_depth));
    return true;
  };
  return json::parse(body, depth_check, false);
}

job parse_completion_request(const json& body, const served_model& m, const server_limits& lim) {
  if (!body.is_object()) throw api_error(400, fmt::format("the request body must be a JSON object, got {}", type_name(body)));
  check_keys(body, {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n", "stream", "stream_options",
                    "logprobs", "echo", "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "user",
                    "suffix", "best_of"});
  check_model(body, m);
  check_neutral(body);
  if (const json* s = field(body, "suffix"); s && !(s->is_string() && s->get<std::string>().empty()))
    bad("suffix", "'suffix' (insertion) is not supported by lmlab serve");
  job j;
  sampling_fields(body, j, lim);
  if (field(body, "best_of") && int_field(body, "best_of", 1, 1, lim.max_n) != j.n)
    bad("best_of", "'best_of' other than n is not supported by lmlab serve");
  j.params.max_tokens = int_field(body, "max_tokens", 16, 0, lim.max_tokens);
  j.params.echo = bool_field(body, "echo", false);
  j.params.logprobs = static_cast<int>(int_field(body, "logprobs", -1, 0, lim.max_logprobs));
  if (j.params.max_tokens == 0 && !j.params.echo)
    bad("max_tokens", "'max_tokens' = 0 only makes sense with 'echo' (scoring the prompt)");
  const json* pr = field(body, "prompt");
  if (!pr) bad("prompt", "'prompt' is required");
  // string | [string] | [int] | [[int]]
  if (pr->is_string()) {
    j.prompts.push_back(prepare_prompt(encode_text(pr->get<std::string>(), m, lim, "prompt"), m, lim, "prompt"));
  } else if (pr->is_array() && !pr->empty()) {
    if ((*pr)[0].is_number_integer()) {
      j.prompts.push_back(prepare_prompt({ids_of(*pr, "prompt")}, m, lim, "prompt"));
    } else {
      if (static_cast<int>(pr->size()) > lim.max_prompts)
        bad("prompt", fmt::format("at most {} prompts per request, got {}", lim.max_prompts, pr->size()));
      for (std::size_t i = 0; i < pr->size(); ++i) {
        const json& e = (*pr)[i];
        const std::string param = fmt::format("prompt[{}]", i);
        if (e.is_string()) j.prompts.push_back(prepare_prompt(encode_text(e.get<std::string>(), m, lim, param), m, lim, param));
        else if (e.is_array()) j.prompts.push_back(prepare_prompt({ids_of(e, param)}, m, lim, param));
        else bad(param, fmt::format("'{}' must be a string or an array of token ids, got {}", param, type_name(e)));
      }
    }
  } else {
    bad("prompt", fmt::format("'prompt' must be a string, an array of strings or an array of token ids, got {}",
                              pr->is_array() ? "an empty array" : type_name(*pr)));
  }
  if (j.stream && j.n * static_cast<int>(j.prompts.size()) > lim.max_n)
    bad("n", fmt::format("streaming supports at most {} choices in all", lim.max_n));
  check_token_budget(j, lim);
  return j;
}

job parse_chat_request(const json& body, const served_model& m, const server_limits& lim) {
  if (!body.is_object()) throw api_error(400, fmt::format("the request body must be a JSON object, got {}", type_name(body)));
  check_keys(body, {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "n",
                    "stream", "stream_options", "logprobs", "top_logprobs", "stop", "seed", "presence_penalty",
                    "frequency_penalty", "logit_bias", "user"});
  check_model(body, m);
  check_neutral(body);
  job j;
  j.chat = true;
  sampling_fields(body, j, lim);
  const std::int64_t def = std::min(lim.default_chat_max_tokens, lim.max_tokens);
  j.params.max_tokens = field(body, "max_completion_tokens") ? int_field(body, "max_completion_tokens", def, 1, lim.max_tokens)
                                                              : int_field(body, "max_tokens", def, 1, lim.max_tokens);
  const bool lp = bool_field(body, "logprobs", false);
  const int top = static_cast<int>(int_field(body, "top_logprobs", 0, 0, lim.max_logprobs));
  if (field(body, "top_logprobs") && !lp) bad("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
  j.params.logprobs = lp ? top : -1;
  const json* msgs = field(body, "messages");
  if (!msgs) bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty())
    bad("messages", fmt::format("'messages' must be a non-empty array, got {}", msgs->is_array() ? "an empty array" : type_name(*msgs)));
  std::vector<chat_turn> turns;
  std::vector<tensor> images;
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const json& mm = (*msgs)[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!mm.is_object()) bad(at, fmt::format("'{}' must be an object, got {}", at, type_name(mm)));
    const json* role = field(mm, "role");
    if (!role || !role->is_string()) bad(at + ".role", fmt::format("'{}.role' must be a string", at));
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant")
      bad(at + ".role", fmt::format("'{}.role' must be system, user or assistant, got '{}'", at, r));
    const json* content = field(mm, "content");
    std::string text;
    if (content && content->is_string()) {
      text = content->get<std::string>();
    } else if (content && content->is_array()) {
      for (std::size_t k = 0; k < content->size(); ++k) {  // [{"type": "text", "text": "..."}, {"type": "image_url", ...}]
        const json& part = (*content)[k];
        if (part.is_object() && part.contains("type") && part["type"] == "image_url") {  // serve/vlm_adapter.hpp
          images.push_back(decode_image_part(part, fmt::format("{}.content[{}]", at, k), m, lim));
          continue;
        }
        // Every field is type-checked before use: a non-string "type" is a 400, not a 500.
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
            !part["text"].is_string())
          bad(at + ".content", fmt::format("'{}.content' parts must be {{\"type\": \"text\", \"text\": ...}}{}", at,
                                           m.lm->max_images() > 0 ? " or {\"type\": \"image_url\", \"image_url\": {\"url\": ...}}" : ""));
        text += part["text"].get<std::string>();
      }
    } else {
      bad(at + ".content", fmt::format("'{}.content' must be a string or an array of text parts", at));
    }
    turns.push_back({r, text});
  }
  j.params.stop.push_back(chat_turn_stop);
  if (static_cast<int>(images.size()) > m.lm->max_images())
    bad("messages", fmt::format("this model reads at most {} image(s) per request, got {}", m.lm->max_images(), images.size()));
  // A model with its own template (the lab VLM) renders the turns itself.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& t : turns) pairs.emplace_back(t.role, t.content);
  const std::optional<std::string> own = m.lm->chat_prompt(pairs);
  j.prompts.push_back(prepare_prompt(encode_text(own ? *own : render_chat(turns), m, lim, "messages"), m, lim, "messages"));
  j.prompts.back().images = std::move(images);
  check_token_budget(j, lim);
  return j;
}

json usage_json(const job& j, const std::vector<choice_result>& choices) {
  std::int64_t prompt = 0, completion = 0;
  for (const auto& p : j.prompts) prompt += static_cast<std::int64_t>(p.ids.size());
  for (const auto& c : choices) completion += c.completion_tokens;
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json completion_logprobs(std::span<const token_info> tokens, const served_model& m) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const auto& t : tokens) {
    toks.push_back(t.text);
    lps.push_back(t.logprob ? json(*t.logprob) : json(nullptr));
    if (!t.logprob) {
      tops.push_back(nullptr);
    } else {
      json o = json::object();
      for (const auto& [id, lp] : t.top) {
        const std::string s = piece(m, id);
        if (!o.contains(s)) o[s] = lp;  // two ids with one spelling: the likelier one is listed
      }
      tops.push_back(std::move(o));
    }
    offs.push_back(t.offset);
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json chat_logprobs_content(std::span<const token_info> tokens, const served_model& m) {
  json out = json::array();
  for (const auto& t : tokens) {
    json top = json::array();
    for (const auto& [id, lp] : t.top) {
      const std::string s = piece(m, id);
      top.push_back({{"token", s}, {"logprob", lp}, {"bytes", bytes_of(s)}});
    }
    out.push_back({{"token", t.text}, {"logprob", t.logprob.value_or(0.0)}, {"bytes", bytes_of(t.text)}, {"top_logprobs", top}});
  }
  return out;
}

json completion_response(const job& j, const std::vector<choice_result>& choices, const served_model& m,
                         const response_meta& meta) {
  json cs = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    std::string text = j.params.echo ? c.echo_text : "";
    text += c.text;
    json lp = nullptr;
    if (j.params.logprobs >= 0) {
      std::vector<token_info> all = c.prompt_tokens;
      all.insert(all.end(), c.tokens.begin(), c.tokens.end());
      lp = completion_logprobs(all, m);
    }
    cs.push_back({{"index", i}, {"text", text}, {"logprobs", lp}, {"finish_reason", c.finish_reason}});
  }
  return {{"id", meta.id}, {"object", "text_completion"}, {"created", meta.created}, {"model", meta.model},
          {"system_fingerprint", meta.fingerprint}, {"choices", cs}, {"usage", usage_json(j, choices)}};
}

json chat_response(const job& j, const std::vector<choice_result>& choices, const served_model& m,
                   const response_meta& meta) {
  json cs = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    json lp = nullptr;
    if (j.params.logprobs >= 0) lp = {{"content", chat_logprobs_content(c.tokens, m)}};
    cs.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", c.text}}}, {"logprobs", lp},
                  {"finish_reason", c.finish_reason}});
  }
  return {{"id", meta.id}, {"object", "chat.completion"}, {"created", meta.created}, {"model", meta.model},
          {"system_fingerprint", meta.fingerprint}, {"choices", cs}, {"usage", usage_json(j, choices)}};
}

json completion_chunk(const response_meta& meta, int index, std::string_view text, std::span<const token_info> tokens,
                      const served_model& m, bool with_logprobs, const std::string& finish_reason) {
  json c = {{"index", index}, {"text", std::string(text)},
            {"logprobs", with_logprobs ? completion_logprobs(tokens, m) : json(nullptr)},
            {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  return {{"id", meta.id}, {"object", "text_completion"}, {"created", meta.created}, {"model", meta.model},
          {"system_fingerprint", meta.fingerprint}, {"choices", json::array({c})}};
}

json chat_chunk(const response_meta& meta, int index, const json& delta, std::span<const token_info> tokens,
                const served_model& m, bool with_logprobs, const std::string& finish_reason) {
  json c = {{"index", index}, {"delta", delta},
            {"logprobs", with_logprobs ? json{{"content", chat_logprobs_content(tokens, m)}} : json(nullptr)},
            {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  return {{"id", meta.id}, {"object", "chat.completion.chunk"}, {"created", meta.created}, {"model", meta.model},
          {"system_fingerprint", meta.fingerprint}, {"choices", json::array({c})}};
}

}  // namespace lmlab::serve
