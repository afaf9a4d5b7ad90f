// `lmlab serve` over HTTP on 127.0.0.1 (ephemeral port) with a tiny trained checkpoint:
// completions against the model computed directly (greedy text, echoed prompt logprobs equal
// to the log-softmax at each position, top_logprobs order), chat logprobs, streaming that
// reassembles to the non-streamed answer, seed determinism (also under concurrent requests),
// stop strings, usage counts, and every 4xx path with its exact OpenAI-shaped error.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <thread>

#include "probe/client.hpp"
#include "probe/scoring.hpp"
#include "serve/server.hpp"
#include "tiny_model.hpp"

using namespace lmlab;
using namespace lmlab::serve;
using json = nlohmann::json;

namespace {

const std::string k_corpus =
    "the cat sat on the mat. the dog ran to the cat. a bird sang in the tree.\n"
    "User: where is the cat?\nAssistant: the cat is on the mat.\n"
    "User: what did the dog do?\nAssistant: the dog ran, and the bird sang.\n"
    "System notes: be brief. Answer with one line, 1 2 3 4 5 6 7 8 9 0!\n";

struct reply {
  int status = 0;
  json body;
  std::string raw;
};

class serve_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ck_ = new fixture::tiny_checkpoint;
    std::string corpus;
    for (int i = 0; i < 6; ++i) corpus += k_corpus;
    fixture::make_tiny_checkpoint(*ck_, corpus, "lmlab_serve_test");
    model_ = new served_model(load_served_model(ck_->dir));
    server_options o;
    o.port = 0;
    o.threads = 4;
    o.limits.max_tokens = 64;
    o.connections.max_body_bytes = 64 * 1024;
    srv_ = new server(*model_, o);
    srv_->start();
  }
  static void TearDownTestSuite() {
    delete srv_;
    delete model_;
    delete ck_;
  }

  static reply post_raw(const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", srv_->port());
    c.set_read_timeout(60, 0);
    auto r = c.Post(path, body, "application/json");
    reply out;
    if (!r) return out;
    out.status = r->status;
    out.raw = r->body;
    out.body = json::parse(r->body, nullptr, false);
    return out;
  }
  static reply post(const std::string& path, const json& body) { return post_raw(path, body.dump()); }

  static std::vector<std::int32_t> encode(const std::string& s) { return model_->tok->encode(s); }

  static fixture::tiny_checkpoint* ck_;
  static served_model* model_;
  static server* srv_;
};

fixture::tiny_checkpoint* serve_test::ck_ = nullptr;
served_model* serve_test::model_ = nullptr;
server* serve_test::srv_ = nullptr;

// Greedy continuation computed directly from an independent copy of the weights.
std::string direct_greedy(const std::filesystem::path& dir, const data::tokenizer& tok, std::string prompt, int n) {
  auto ids = tok.encode(prompt);
  std::string out;
  for (int i = 0; i < n; ++i) {
    const auto lsm = fixture::direct_log_softmax(dir, ids).back();
    const auto best = static_cast<std::int32_t>(std::max_element(lsm.begin(), lsm.end()) - lsm.begin());
    ids.push_back(best);
    out += tok.decode(std::span<const std::int32_t>(&best, 1));
  }
  return out;
}

TEST_F(serve_test, the_model_trained_and_models_lists_it) {
  ASSERT_EQ(ck_->losses.size(), 30u);
  EXPECT_LT(ck_->losses.back(), ck_->losses.front() - 0.5) << "the tiny model did not learn";
  httplib::Client c("127.0.0.1", srv_->port());
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const auto j = json::parse(r->body);
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tiny-gpt");
  EXPECT_EQ(j["data"][0]["max_model_len"], 96);
  EXPECT_EQ(j["data"][0]["lmlab"]["decoding"], "kv_cache");  // checkpoints load into the zoo LM, which steps
  EXPECT_EQ(j["data"][0]["lmlab"]["tokenizer"], "char");
}

TEST_F(serve_test, greedy_completion_matches_the_model_and_counts_usage) {
  const std::string prompt = "the cat sat on";
  auto r = post("/v1/completions", json{{"model", "tiny-gpt"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "text_completion");
  EXPECT_EQ(r.body["model"], "tiny-gpt");
  EXPECT_EQ(r.body["choices"][0]["text"], direct_greedy(ck_->dir, *model_->tok, prompt, 12));
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(r.body["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], 14);
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(r.body["usage"]["total_tokens"], 26);
  // A list of prompts: one choice per prompt, in order, each as if asked alone.
  auto two = post("/v1/completions", json{{"prompt", {prompt, "a bird"}}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(two.status, 200) << two.raw;
  ASSERT_EQ(two.body["choices"].size(), 2u);
  EXPECT_EQ(two.body["choices"][0]["text"], direct_greedy(ck_->dir, *model_->tok, prompt, 5));
  EXPECT_EQ(two.body["choices"][1]["text"], direct_greedy(ck_->dir, *model_->tok, "a bird", 5));
  EXPECT_EQ(two.body["choices"][1]["index"], 1);
  EXPECT_EQ(two.body["usage"]["prompt_tokens"], 14 + 6);
  // Token ids are accepted as the prompt.
  auto ids = post("/v1/completions", json{{"prompt", encode(prompt)}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(ids.status, 200) << ids.raw;
  EXPECT_EQ(ids.body["choices"][0]["text"], two.body["choices"][0]["text"]);
}

TEST_F(serve_test, echo_logprobs_are_the_models_log_softmax_at_each_position) {
  const std::string prompt = "the dog ran to";
  const auto ids = encode(prompt);
  auto r = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 2}, {"temperature", 0}, {"echo", true}, {"logprobs", 3}});
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto& c = r.body["choices"][0];
  const auto& lp = c["logprobs"];
  const auto expect = fixture::direct_log_softmax(ck_->dir, ids);
  ASSERT_EQ(lp["tokens"].size(), ids.size() + 2);
  EXPECT_EQ(c["text"].get<std::string>().substr(0, prompt.size()), prompt);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  double worst = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(lp["tokens"][i], prompt.substr(i, 1));
    EXPECT_EQ(lp["text_offset"][i], i);
    if (i == 0) continue;
    const double want = expect[i - 1][static_cast<std::size_t>(ids[i])];
    worst = std::max(worst, std::abs(lp["token_logprobs"][i].get<double>() - want));
    // The top 3 alternatives at this position, best first, with the model's values.
    std::vector<std::pair<double, std::int32_t>> sorted;
    for (std::size_t v = 0; v < expect[i - 1].size(); ++v) sorted.emplace_back(-expect[i - 1][v], static_cast<std::int32_t>(v));
    std::sort(sorted.begin(), sorted.end());
    const auto& top = lp["top_logprobs"][i];
    ASSERT_EQ(top.size(), 3u);
    for (int k = 0; k < 3; ++k) {
      const std::string s = model_->tok->decode(std::span<const std::int32_t>(&sorted[k].second, 1));
      ASSERT_TRUE(top.contains(s)) << "position " << i << " lacks " << s;
      EXPECT_NEAR(top[s].get<double>(), -sorted[k].first, 1e-6);
    }
  }
  EXPECT_LT(worst, 1e-6) << "echoed logprobs differ from the direct log-softmax";
  // The generated tokens follow, offsets continuing after the prompt; greedy = top-1.
  const auto n = ids.size();
  EXPECT_EQ(lp["text_offset"][n], prompt.size());
  EXPECT_EQ(lp["text_offset"][n + 1], prompt.size() + 1);
  EXPECT_EQ(c["text"].get<std::string>(), prompt + lp["tokens"][n].get<std::string>() + lp["tokens"][n + 1].get<std::string>());
  const double first_gen = lp["token_logprobs"][n].get<double>();
  EXPECT_NEAR(first_gen, *std::max_element(expect[n - 1].begin(), expect[n - 1].end()), 1e-6);
  // max_tokens 0 with echo scores the prompt only (lm-evaluation-harness' loglikelihood).
  auto z = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 0}});
  ASSERT_EQ(z.status, 200) << z.raw;
  EXPECT_EQ(z.body["choices"][0]["text"], prompt);
  EXPECT_EQ(z.body["choices"][0]["logprobs"]["tokens"].size(), ids.size());
  EXPECT_EQ(z.body["choices"][0]["logprobs"]["top_logprobs"][1], json::object());
  EXPECT_EQ(z.body["usage"]["completion_tokens"], 0);
  // The probe client reads this as echo-capable: offsets from 0, text starting with the prompt.
  const auto parsed = probe::parse_response(probe::api::completions, r.body);
  EXPECT_EQ(parsed.tokens[0].offset, 0);
  EXPECT_NEAR(probe::continuation_logprob(parsed.tokens, 4, prompt.size()),
              [&] {
                double s = 0;
                for (std::size_t i = 4; i < n; ++i) s += expect[i - 1][static_cast<std::size_t>(ids[i])];
                return s;
              }(),
              1e-6);
}

TEST_F(serve_test, chat_logprobs_list_top_alternatives_best_first) {
  const json body = {{"messages", {{{"role", "system"}, {"content", "be brief."}}, {{"role", "user"}, {"content", "where is the cat?"}}}},
                     {"max_tokens", 6}, {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 5}};
  auto r = post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "chat.completion");
  const auto& ch = r.body["choices"][0];
  EXPECT_EQ(ch["message"]["role"], "assistant");
  const auto& content = ch["logprobs"]["content"];
  ASSERT_GE(content.size(), 1u);
  std::string joined;
  for (const auto& e : content) {
    const auto& top = e["top_logprobs"];
    ASSERT_EQ(top.size(), 5u);
    for (std::size_t k = 1; k < top.size(); ++k) EXPECT_GE(top[k - 1]["logprob"].get<double>(), top[k]["logprob"].get<double>());
    // Greedy: the chosen token is the best alternative.
    EXPECT_EQ(e["token"], top[0]["token"]);
    EXPECT_DOUBLE_EQ(e["logprob"].get<double>(), top[0]["logprob"].get<double>());
    const std::string tok = e["token"];
    ASSERT_EQ(e["bytes"].size(), tok.size());
    for (std::size_t b = 0; b < tok.size(); ++b) EXPECT_EQ(e["bytes"][b], static_cast<unsigned char>(tok[b]));
    joined += tok;
  }
  EXPECT_EQ(joined, ch["message"]["content"]);
  // The prompt is the documented template; the same text through /v1/completions agrees.
  const std::string rendered = render_chat({{"system", "be brief."}, {"user", "where is the cat?"}});
  EXPECT_EQ(rendered, "be brief.\n\nUser: where is the cat?\nAssistant:");
  EXPECT_EQ(rendered, probe::render_plain({{"system", "be brief."}, {"user", "where is the cat?"}}));
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], encode(rendered).size());
  auto same = post("/v1/completions", json{{"prompt", rendered}, {"max_tokens", 6}, {"temperature", 0}, {"stop", "\nUser:"}});
  EXPECT_EQ(same.body["choices"][0]["text"], ch["message"]["content"]);
}

TEST_F(serve_test, streaming_reassembles_to_the_non_streamed_answer) {
  for (bool chat : {false, true}) {
    json body = {{"max_tokens", 40}, {"temperature", 1.3}, {"top_k", 12}, {"top_p", 0.95}, {"seed", 7}, {"n", 2}};
    if (chat) body["messages"] = {{{"role", "user"}, {"content", "what did the dog do?"}}}, body["logprobs"] = true, body["top_logprobs"] = 2;
    else body["prompt"] = "the bird", body["logprobs"] = 2, body["stop"] = {"mat", "tree"};
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    auto plain = post(path, body);
    ASSERT_EQ(plain.status, 200) << plain.raw;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    auto streamed = post(path, body);
    ASSERT_EQ(streamed.status, 200);
    ASSERT_TRUE(streamed.raw.ends_with("data: [DONE]\n\n")) << streamed.raw.substr(streamed.raw.size() - 100);
    EXPECT_GT(std::count(streamed.raw.begin(), streamed.raw.end(), '\n'), 10) << "the answer came in one piece";
    auto whole = probe::assemble_stream(chat ? probe::api::chat : probe::api::completions, streamed.raw);
    ASSERT_TRUE(whole.has_value());
    ASSERT_EQ((*whole)["choices"].size(), 2u);
    for (int i = 0; i < 2; ++i) {
      const auto a = probe::parse_response(chat ? probe::api::chat : probe::api::completions,
                                           json{{"choices", json::array({plain.body["choices"][i]})}});
      const auto b = probe::parse_response(chat ? probe::api::chat : probe::api::completions,
                                           json{{"choices", json::array({(*whole)["choices"][i]})}});
      EXPECT_EQ(a.text, b.text) << (chat ? "chat" : "completions") << " choice " << i;
      EXPECT_EQ(a.finish_reason, b.finish_reason);
      ASSERT_EQ(a.tokens.size(), b.tokens.size());
      for (std::size_t k = 0; k < a.tokens.size(); ++k) {
        EXPECT_EQ(a.tokens[k].token, b.tokens[k].token);
        EXPECT_EQ(a.tokens[k].logprob, b.tokens[k].logprob);
        EXPECT_EQ(a.tokens[k].offset, b.tokens[k].offset);
      }
    }
    // The usage chunk comes last, with the same counts.
    const auto last = streamed.raw.rfind("data: {");
    const auto usage = json::parse(streamed.raw.substr(last + 6, streamed.raw.find('\n', last) - last - 6));
    EXPECT_EQ(usage["usage"], plain.body["usage"]);
  }
}

TEST_F(serve_test, a_seed_makes_sampling_deterministic) {
  const json body = {{"prompt", "a bird"}, {"max_tokens", 30}, {"temperature", 1.5}, {"seed", 123}};
  auto a = post("/v1/completions", body);
  auto b = post("/v1/completions", body);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["choices"][0]["text"], b.body["choices"][0]["text"]);
  json other = body;
  other["seed"] = 124;
  EXPECT_NE(post("/v1/completions", other).body["choices"][0]["text"], a.body["choices"][0]["text"]);
  // Choice 0 of n = 3 is the n = 1 answer; the other choices are different draws.
  json three = body;
  three["n"] = 3;
  auto t = post("/v1/completions", three);
  ASSERT_EQ(t.body["choices"].size(), 3u);
  EXPECT_EQ(t.body["choices"][0]["text"], a.body["choices"][0]["text"]);
  EXPECT_NE(t.body["choices"][1]["text"], t.body["choices"][0]["text"]);
  EXPECT_EQ(t.body["usage"]["completion_tokens"], 90);
  // Concurrent requests (the model is shared under a mutex) give the same answers as sequential ones.
  std::vector<std::string> seq(8), par(8);
  for (int i = 0; i < 8; ++i) {
    json q = body;
    q["seed"] = 1000 + i;
    seq[i] = post("/v1/completions", q).body["choices"][0]["text"];
  }
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      json q = body;
      q["seed"] = 1000 + i;
      par[i] = post("/v1/completions", q).body["choices"][0]["text"];
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(par, seq);
}

TEST_F(serve_test, stop_strings_cut_the_text) {
  const json base = {{"prompt", "the cat"}, {"max_tokens", 40}, {"temperature", 0}};
  const std::string full = post("/v1/completions", base).body["choices"][0]["text"];
  ASSERT_GE(full.size(), 10u);
  const std::string stop = full.substr(5, 2);  // occurs at byte 5 at the latest
  const auto at = full.find(stop);
  json q = base;
  q["stop"] = {stop};
  q["logprobs"] = 0;
  auto r = post("/v1/completions", q);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["choices"][0]["text"], full.substr(0, at));
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "stop");
  // Tokens reported are those that start before the cut (char tokens: exactly the text).
  EXPECT_EQ(r.body["choices"][0]["logprobs"]["tokens"].size(), at);
  EXPECT_EQ(r.body["usage"]["completion_tokens"], at + stop.size());
}

TEST_F(serve_test, bad_requests_get_openai_shaped_4xx_errors) {
  struct bad_case {
    std::string path, body;
    int status;
    std::string param, message;
  };
  const std::string long_prompt(97, 'a');
  const std::vector<bad_case> cases = {
      {"/v1/completions", "{\"prompt\": \"the", 400, "", "We could not parse the JSON body of your request: it is not valid JSON"},
      {"/v1/completions", "[1, 2]", 400, "", "the request body must be a JSON object, got an array"},
      {"/v1/completions", "{\"max_tokens\": " + std::string(30000, '[') + std::string(30000, ']') + "}", 400, "",
       "the JSON body is nested deeper than 64 levels"},
      {"/v1/completions", "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}", 400, "a",
       "Unrecognized request argument supplied: a"},
      {"/v1/completions", R"({"max_tokens": 4})", 400, "prompt", "'prompt' is required"},
      {"/v1/completions", R"({"prompt": 5})", 400, "prompt",
       "'prompt' must be a string, an array of strings or an array of token ids, got an integer"},
      {"/v1/completions", R"({"prompt": []})", 400, "prompt",
       "'prompt' must be a string, an array of strings or an array of token ids, got an empty array"},
      {"/v1/completions", R"({"prompt": "the", "max_tokens": "4"})", 400, "max_tokens",
       "'max_tokens' must be an integer, got a string: \"4\""},
      {"/v1/completions", R"({"prompt": "the", "max_tokens": 65})", 400, "max_tokens", "'max_tokens' must be between 0 and 64, got 65"},
      {"/v1/completions", R"({"prompt": "the", "max_tokens": -1})", 400, "max_tokens", "'max_tokens' must be between 0 and 64, got -1"},
      {"/v1/completions", R"({"prompt": "the", "max_tokens": 0})", 400, "max_tokens",
       "'max_tokens' = 0 only makes sense with 'echo' (scoring the prompt)"},
      {"/v1/completions", R"({"prompt": "the", "temperature": 2.5})", 400, "temperature", "'temperature' must be in [0, 2], got 2.5"},
      {"/v1/completions", R"({"prompt": "the", "top_p": 0})", 400, "top_p", "'top_p' must be in (0, 1], got 0"},
      {"/v1/completions", R"({"prompt": "the", "n": 0})", 400, "n", "'n' must be between 1 and 16, got 0"},
      {"/v1/completions", R"({"prompt": "the", "logprobs": 21})", 400, "logprobs", "'logprobs' must be between 0 and 20, got 21"},
      {"/v1/completions", R"({"prompt": "the", "logprobs": true})", 400, "logprobs", "'logprobs' must be an integer, got a boolean: true"},
      {"/v1/completions", R"({"prompt": "the", "echo": "yes"})", 400, "echo", "'echo' must be a boolean, got a string: \"yes\""},
      {"/v1/completions", R"({"prompt": "the", "stop": 3})", 400, "stop", "'stop' must be a string or an array of strings, got an integer"},
      {"/v1/completions", R"({"prompt": "the", "stop": ""})", 400, "stop", "'stop' sequences must not be empty"},
      {"/v1/completions", R"({"prompt": "the", "seed": 1.5})", 400, "seed", "'seed' must be an integer, got a number: 1.5"},
      {"/v1/completions", R"({"prompt": "the", "stream_options": {"include_usage": true}})", 400, "stream_options",
       "'stream_options' is only allowed when 'stream' is true"},
      {"/v1/completions", R"({"prompt": "the", "frobnicate": 1})", 400, "frobnicate", "Unrecognized request argument supplied: frobnicate"},
      {"/v1/completions", R"({"prompt": "the", "presence_penalty": 0.5})", 400, "presence_penalty",
       "'presence_penalty' is not supported by lmlab serve (only 0)"},
      {"/v1/completions", R"({"prompt": [3, 999]})", 400, "prompt", "token id 999 is outside the vocabulary (0..VMAX)"},
      {"/v1/completions", R"({"prompt": ["the", 4]})", 400, "prompt[1]",
       "'prompt[1]' must be a string or an array of token ids, got an integer"},
      {"/v1/completions", R"({"prompt": "ZZ top"})", 400, "prompt",
       "the prompt cannot be encoded by this model's char tokenizer: CHARMSG (start the server with --unknown-char ' ' "
       "to substitute such characters)"},
      {"/v1/completions", json{{"prompt", long_prompt}}.dump(), 400, "prompt",
       "This model's maximum context length is 96 tokens, however you requested 97 tokens in the prompt (start the "
       "server with --truncate-prompt to keep the prompt's end)"},
      {"/v1/completions", R"({"model": "gpt-4", "prompt": "the"})", 404, "model",
       "The model 'gpt-4' does not exist (this server serves 'tiny-gpt')"},
      {"/v1/completions", R"({"model": 3, "prompt": "the"})", 400, "model", "'model' must be a string, got an integer"},
      {"/v1/chat/completions", R"({"max_tokens": 4})", 400, "messages", "'messages' is required"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages", "'messages' must be a non-empty array, got an empty array"},
      {"/v1/chat/completions", R"({"messages": ["hi"]})", 400, "messages[0]", "'messages[0]' must be an object, got a string"},
      {"/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "hi"}]})", 400, "messages[0].role",
       "'messages[0].role' must be system, user or assistant, got 'robot'"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400, "messages[0].content",
       "'messages[0].content' must be a string or an array of text parts"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": 5, "text": "the"}]}]})", 400,
       "messages[0].content", "'messages[0].content' parts must be {\"type\": \"text\", \"text\": ...}"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "the"}], "top_logprobs": 3})", 400, "top_logprobs",
       "'top_logprobs' requires 'logprobs' to be true"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "the"}], "max_tokens": 0})", 400, "max_tokens",
       "'max_tokens' must be between 1 and 64, got 0"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "the"}], "echo": true})", 400, "echo",
       "Unrecognized request argument supplied: echo"},
  };
  std::string char_msg;
  try {
    model_->tok->encode("ZZ top");
  } catch (const lmlab::error& e) {
    char_msg = e.what();
  }
  ASSERT_FALSE(char_msg.empty());
  for (const auto& c : cases) {
    auto r = post_raw(c.path, c.body);
    std::string want = c.message;
    if (auto p = want.find("VMAX"); p != std::string::npos) want.replace(p, 4, std::to_string(model_->tok->vocab_size() - 1));
    if (auto p = want.find("CHARMSG"); p != std::string::npos) want.replace(p, 7, char_msg);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.raw;
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << c.body << " -> " << r.raw;
    EXPECT_EQ(r.body["error"]["message"], want) << c.body;
    EXPECT_EQ(r.body["error"]["type"], "invalid_request_error") << c.body;
    if (c.param.empty()) EXPECT_TRUE(r.body["error"]["param"].is_null()) << c.body;
    else EXPECT_EQ(r.body["error"]["param"], c.param) << c.body;
  }
  EXPECT_EQ(post_raw("/v1/completions", R"({"model": "gpt-4", "prompt": "the"})").body["error"]["code"], "model_not_found");
  EXPECT_EQ(post("/v1/completions", json{{"prompt", long_prompt}}).body["error"]["code"], "context_length_exceeded");
  // Routes: unknown path, wrong method, an oversized body.
  auto nf = post_raw("/v1/embeddings", R"({"input": "x"})");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body["error"]["code"], "unknown_url");
  httplib::Client c("127.0.0.1", srv_->port());
  auto get = c.Get("/v1/completions");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(json::parse(get->body)["error"]["message"], "/v1/completions needs POST with a JSON body");
  auto big = post("/v1/completions", json{{"prompt", std::string(70 * 1024, 'a')}});
  EXPECT_EQ(big.status, 413);
  ASSERT_TRUE(big.body.contains("error")) << big.raw;
  EXPECT_EQ(big.body["error"]["message"], "the request body is too large (limit 65536 bytes)");
  // Still serving, and nothing failed on the server side.
  EXPECT_EQ(post("/v1/completions", json{{"prompt", "the"}, {"max_tokens", 1}}).status, 200);
  EXPECT_EQ(srv_->stats().errors_5xx.load(), 0);
}

TEST_F(serve_test, unknown_characters_can_be_substituted_keeping_echo_offsets) {
  server_options o;
  o.port = 0;
  o.limits.unknown_char = " ";
  server s(*model_, o);
  s.start();
  const std::string prompt = "the \u00b0C cat";  // U+00B0 (2 bytes) and C are not in the vocabulary
  httplib::Client c("127.0.0.1", s.port());
  auto r = c.Post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 1}, {"echo", true}, {"logprobs", 0}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = json::parse(r->body);
  const auto& lp = j["choices"][0]["logprobs"];
  // The model saw "the    cat"; the echo is the request's text, offsets point into it.
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().substr(0, prompt.size()), prompt);
  ASSERT_EQ(lp["tokens"].size(), 10u + 1u);
  EXPECT_EQ(lp["text_offset"], json({0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(lp["tokens"][4], " ");
  EXPECT_EQ(lp["tokens"][5], " ");
  const auto ids = encode("the    cat");
  const auto expect = fixture::direct_log_softmax(ck_->dir, ids);
  for (std::size_t i = 1; i < ids.size(); ++i)
    EXPECT_NEAR(lp["token_logprobs"][i].get<double>(), expect[i - 1][static_cast<std::size_t>(ids[i])], 1e-6) << i;
  // The probe client's echo scoring finds the continuation by these offsets.
  const auto parsed = probe::parse_response(probe::api::completions, j);
  EXPECT_NEAR(probe::continuation_logprob(parsed.tokens, prompt.size() - 3, prompt.size()),
              expect[6][static_cast<std::size_t>(ids[7])] + expect[7][static_cast<std::size_t>(ids[8])] +
                  expect[8][static_cast<std::size_t>(ids[9])],
              1e-6);
  s.stop();
}

TEST(serve_truncate, a_long_prompt_keeps_its_end_when_asked) {
  fixture::tiny_checkpoint ck;
  fixture::make_tiny_checkpoint(ck, std::string(200, 'a') + "the cat sat on the mat. " + std::string(200, 'b'), "lmlab_serve_trunc",
                                "checkpoint", 16, 2);
  auto m = load_served_model(ck.dir);
  EXPECT_EQ(m.name, "lmlab_serve_trunc_" + std::to_string(::getpid()));  // ".../<run>/checkpoint" is named after <run>
  server_options o;
  o.port = 0;
  o.limits.truncate_prompt = true;
  server s(m, o);
  s.start();
  httplib::Client c("127.0.0.1", s.port());
  auto r = c.Post("/v1/completions", json{{"prompt", "the cat sat on the mat. the cat"}, {"max_tokens", 3}, {"echo", true}, {"logprobs", 0}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = json::parse(r->body);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 16);
  // Echo covers what the model saw: the last 16 characters.
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().substr(0, 16), "the mat. the cat");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"].size(), 16u + 3u);
  s.stop();
}

}  // namespace
