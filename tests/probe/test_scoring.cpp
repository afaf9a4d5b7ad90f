// Scoring paths on recorded responses (OpenAI chat, OpenAI completions with echo, old and new
// llama.cpp /completion), letter extraction, verbal confidence and abstention.
#include "probe/scoring.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <regex>

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

TEST(probe_scoring, offsets_that_are_not_character_indices_are_unknown) {
  // Found by the probe_response fuzzer: a float offset of 8.9e49 was converted to an integer
  // (undefined behaviour). Floats, negatives and numbers past INT64_MAX now read as unknown (-1).
  const auto body = json::parse(R"({"choices":[{"text":"Q: A","logprobs":{"tokens":["Q:"," A","!","?"],
    "token_logprobs":[null,-0.5,-0.1,-0.2],"text_offset":[8.888e49,2,-7,18446744073709551615]}}]})");
  const auto r = parse_response(api::completions, body);
  ASSERT_EQ(r.tokens.size(), 4u);
  EXPECT_EQ(r.tokens[0].offset, -1);
  EXPECT_EQ(r.tokens[1].offset, 2);
  EXPECT_EQ(r.tokens[2].offset, -1);
  EXPECT_EQ(r.tokens[3].offset, -1);
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

// Issue 12: replies built to blow std::regex's recursion (one stack frame per character)
// must be scanned in linear time without crashing.
TEST(probe_scoring, hostile_replies_do_not_overflow_the_stack) {
  EXPECT_EQ(extract_letter("The answer is" + std::string(40000, ' ') + "B", 4), 1);
  EXPECT_EQ(extract_letter(std::string(300000, ' ') + "C", 4), 2);
  EXPECT_EQ(extract_letter(std::string(300000, '(') + "D)", 4), 3);
  EXPECT_EQ(extract_letter(std::string(300000, 'x'), 4), -1);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("Confidence: 1." + std::string(300000, '7')), 1.0);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("I am 50." + std::string(300000, '0') + "% sure"), 0.5);
  EXPECT_FALSE(parse_verbal_confidence("Confidence:" + std::string(300000, ' ') + "80%"));
  EXPECT_FALSE(parse_verbal_confidence(std::string(300000, '9') + "%"));
  // Numbers that underflow a double are tiny, not an out_of_range exception.
  EXPECT_EQ(*parse_verbal_confidence("Confidence: 0." + std::string(400, '0') + "1"), 0.0);
  EXPECT_DOUBLE_EQ(*parse_verbal_confidence("sure 5." + std::string(400, '0') + "1%"), 0.05);
}

namespace {
// The patterns the scanners replaced, kept here as the reference on short texts only.
struct letter_regexes {
  std::regex expl, lead, paren, iso;
};
const letter_regexes& regexes_for(int n_choices) {
  static std::map<int, letter_regexes> cache;
  auto it = cache.find(n_choices);
  if (it != cache.end()) return it->second;
  const std::string cls = fmt::format("[A-{}]", static_cast<char>('A' + n_choices - 1));
  const std::regex expl("(?:answer|Answer|ANSWER|정답|답)\\s*(?:is|:|은|는|=)?\\s*(?:is|:)?\\s*[\\(\\[\\*\"']*(" + cls +
                        ")(?![A-Za-z])");
  const std::regex lead("^\\s*[\\(\\[\\*\"']*(" + cls + ")(?![A-Za-z'])");
  const std::regex paren("\\((" + cls + ")\\)");
  const std::regex iso("(?:^|[^A-Za-z])(" + cls + ")(?![A-Za-z])");
  return cache.emplace(n_choices, letter_regexes{expl, lead, paren, iso}).first->second;
}

int extract_letter_regex(const std::string& t, int n_choices) {
  const auto& [expl, lead, paren, iso] = regexes_for(n_choices);
  const auto idx = [](const std::string& m) { return m[0] - 'A'; };
  std::smatch m;
  if (std::regex_search(t, m, expl)) return idx(m[1]);
  if (std::regex_search(t, m, lead)) {
    const std::size_t after = static_cast<std::size_t>(m.position(0) + m.length(0));
    const bool article = m[1] == "A" && after + 1 < t.size() && t[after] == ' ' &&
                         std::islower(static_cast<unsigned char>(t[after + 1]));
    if (!article) return idx(m[1]);
  }
  if (std::regex_search(t, m, paren)) return idx(m[1]);
  int found = -1;
  for (auto it = std::sregex_iterator(t.begin(), t.end(), iso); it != std::sregex_iterator(); ++it) {
    const auto& mm = *it;
    const std::size_t after = static_cast<std::size_t>(mm.position(1) + 1);
    if (mm[1] == "A" && after + 1 < t.size() && t[after] == ' ' && std::islower(static_cast<unsigned char>(t[after + 1])))
      continue;
    const int k = idx(mm[1]);
    if (found >= 0 && found != k) return -1;
    found = k;
  }
  return found;
}

std::optional<double> verbal_confidence_regex(const std::string& t) {
  std::smatch m;
  static const std::regex pct_kw("(?:[Cc]onfidence|[Cc]onfident|[Ss]ure|[Cc]ertain|확신도|확신|신뢰도)[^0-9%\\n]{0,20}?(\\d{1,3}(?:\\.\\d+)?)\\s*%");
  static const std::regex pct_before("(\\d{1,3}(?:\\.\\d+)?)\\s*%\\s*(?:confident|sure|certain|확신|확실)");
  static const std::regex frac("(?:[Cc]onfidence|확신도|신뢰도)\\s*(?:level|score)?\\s*[:=]?\\s*(0?\\.\\d+|1\\.0+|[01])(?![0-9%])");
  if (std::regex_search(t, m, pct_kw) || std::regex_search(t, m, pct_before)) {
    const double v = std::stod(m[1]);
    if (v >= 0 && v <= 100) return v / 100.0;
  }
  if (std::regex_search(t, m, frac)) return std::stod(m[1]);
  return std::nullopt;
}
}  // namespace

// The scanners agree with the regular expressions they replaced on 50,000 random short
// replies assembled from the pieces those patterns look for.
TEST(probe_scoring, scanners_match_the_replaced_regexes) {
  const std::vector<std::string> pieces = {
      "answer", "Answer", "ANSWER", "정답", "답", "is", ":", "은", "는", "=", " ", "  ", "\n", "\t", "(", ")", "[", "*",
      "\"", "'", "A", "B", "C", "D", "E", "a", "x", "A good", "A b", ".", ",", "Confidence", "confidence", "Confident",
      "confident", "Sure", "sure", "certain", "Certain", "확신도", "확신", "확실", "신뢰도", "level", "score", "%", "0",
      "1", "5", "9", "50", "100", "1234", "0.", ".5", "1.0", "1.00", "0.7", "12345678901234567890", "_"};
  std::mt19937 gen(12);
  for (int trial = 0; trial < 50000; ++trial) {
    std::string t;
    const int k = 1 + static_cast<int>(gen() % 10);
    for (int i = 0; i < k; ++i) t += pieces[gen() % pieces.size()];
    const int n = 2 + static_cast<int>(gen() % 4);
    ASSERT_EQ(extract_letter(t, n), extract_letter_regex(t, n)) << "'" << t << "' n=" << n;
    ASSERT_EQ(parse_verbal_confidence(t), verbal_confidence_regex(t)) << "'" << t << "'";
  }
}
