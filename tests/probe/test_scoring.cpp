// Scoring paths on recorded responses (OpenAI chat, OpenAI completions with echo, old and new
// llama.cpp /completion), letter extraction, verbal confidence and abstention.
#include "probe/scoring.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace lmlab::probe;
using json = nlohmann::json;

TEST(probe_scoring, extract_letter_cases) {
  EXPECT_EQ(extract_letter("B", 4), 1);
  EXPECT_EQ(extract_letter(" (C) because ...", 4), 2);
  EXPECT_EQ(extract_letter("**D**", 4), 3);
  EXPECT_EQ(extract_letter("The answer is B.", 4), 1);
  EXPECT_EQ(extract_letter("Answer: (A)", 4), 0);
  EXPECT_EQ(extract_letter("정답은 C입니다", 4), 2);
  EXPECT_EQ(extract_letter("A good choice is C", 4), 2);  // "A" the article is not a label
  EXPECT_EQ(extract_letter("A. Seoul", 4), 0);
  EXPECT_EQ(extract_letter("Either B or C", 4), -1);       // ambiguous
  EXPECT_EQ(extract_letter("E", 4), -1);                   // not a choice
  EXPECT_EQ(extract_letter("I cannot tell.", 4), -1);
}

TEST(probe_scoring, top_logprobs_path_from_recorded_chat_response) {
  // Recorded shape of an OpenAI chat completion with logprobs=true, top_logprobs=3.
  const auto body = json::parse(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"B"},
    "logprobs":{"content":[{"token":"B","logprob":-0.2231,"top_logprobs":[
      {"token":"B","logprob":-0.2231},{"token":"A","logprob":-1.8971},{"token":"Sure","logprob":-3.0}]}]},
    "finish_reason":"length"}]})");
  const auto r = parse_response(api::chat, body);
  ASSERT_EQ(r.tokens.size(), 1u);
  auto lp = choice_logprobs_from_top(r.tokens[0].top, 4);
  ASSERT_TRUE(lp);
  // Listed: B 0.8, A 0.15, "Sure" 0.0498 -> unassigned 1 - 0.9998 = 0.0002; C and D share it
  // (0.0001 each, below the smallest listed 0.0498). Normalised over the 4 letters.
  const double pb = std::exp(-0.2231), pa = std::exp(-1.8971), rest = 1 - (pb + pa + std::exp(-3.0));
  const double z = pb + pa + rest;
  EXPECT_NEAR(std::exp((*lp)[1]), pb / z, 1e-4);
  EXPECT_NEAR(std::exp((*lp)[0]), pa / z, 1e-4);
  EXPECT_NEAR(std::exp((*lp)[2]), rest / 2 / z, 1e-6);
  EXPECT_FALSE(choice_logprobs_from_top({{"Sure", -0.1}, {"The", -2.0}}, 4));
  // " B" and "B" tokens for the same letter add up.
  auto lp2 = choice_logprobs_from_top({{" B", std::log(0.5)}, {"B", std::log(0.3)}, {" A", std::log(0.2)}}, 2);
  EXPECT_NEAR(std::exp((*lp2)[1]), 0.8, 1e-12);
}

TEST(probe_scoring, echo_path_from_recorded_completion) {
  // Recorded shape of /v1/completions with echo=true, logprobs=0 and max_tokens=1:
  // the prompt "Q? Answer: B" echoed with offsets, then one generated token.
  const auto body = json::parse(R"({"choices":[{"text":"Q? Answer: B\n","index":0,"logprobs":{
    "tokens":["Q","?"," Answer",":"," B","\n"],
    "token_logprobs":[null,-1.5,-2.0,-0.1,-0.7,-0.3],
    "top_logprobs":[null,{"?":-1.5},{" Answer":-2.0},{":":-0.1},{" B":-0.7},{"\n":-0.3}],
    "text_offset":[0,1,2,9,10,12]},"finish_reason":"length"}]})");
  const auto r = parse_response(api::completions, body);
  ASSERT_EQ(r.tokens.size(), 6u);
  EXPECT_EQ(r.tokens[0].logprob, 0.0);  // null: nothing precedes the first token
  // Context "Q? Answer:" is 10 bytes; the continuation " B" ends at 12.
  EXPECT_DOUBLE_EQ(continuation_logprob(r.tokens, 10, 12), -0.7);
  EXPECT_DOUBLE_EQ(continuation_logprob(r.tokens, 2, 12), -2.8);
  // Without offsets the token lengths locate them.
  auto no_off = r.tokens;
  for (auto& t : no_off) t.offset = -1;
  EXPECT_DOUBLE_EQ(continuation_logprob(no_off, 10, 12), -0.7);
}

TEST(probe_scoring, llama_cpp_responses_old_and_new) {
  const auto old_body = json::parse(R"({"content":" C","stop":true,"completion_probabilities":[
    {"content":" C","probs":[{"tok_str":" C","prob":0.6},{"tok_str":" A","prob":0.3},{"tok_str":" B","prob":0.1}]}]})");
  const auto r = parse_response(api::llama, old_body);
  EXPECT_EQ(r.text, " C");
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_NEAR(r.tokens[0].logprob, std::log(0.6), 1e-12);
  auto lp = choice_logprobs_from_top(r.tokens[0].top, 3);
  EXPECT_NEAR(std::exp((*lp)[2]), 0.6, 1e-12);
  const auto new_body = json::parse(R"({"content":"A","completion_probabilities":[
    {"id":32,"token":"A","logprob":-0.05,"top_logprobs":[{"id":33,"token":"B","logprob":-3.2},{"id":32,"token":"A","logprob":-0.05}]}]})");
  const auto r2 = parse_response(api::llama, new_body);
  EXPECT_EQ(r2.tokens[0].top[0].first, "A");  // sorted most likely first
  EXPECT_DOUBLE_EQ(r2.tokens[0].logprob, -0.05);
}

TEST(probe_scoring, verbal_confidence_and_abstention) {
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("B\nConfidence: 80%"), 0.8);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("I am 95% sure it is C."), 0.95);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("B\n확신도: 70%"), 0.7);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("confidence 0.65"), 0.65);
  EXPECT_FALSE(parse_verbal_confidence("B, about 10 apples"));
  EXPECT_TRUE(is_abstention("The passage does not say."));
  EXPECT_TRUE(is_abstention("글에 나와 있지 않습니다."));
  EXPECT_TRUE(is_abstention("I don't know."));
  EXPECT_FALSE(is_abstention("It was completed in 1987."));
  EXPECT_EQ(normalize_answer("  The  Answer: Paris. "), "the answer: paris");
}
