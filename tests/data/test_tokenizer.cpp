// Char tokenizer, trained byte-level BPE (determinism, tie rule), JSON round trips and
// invalid-UTF-8 round trips.
#include <gtest/gtest.h>

#include <filesystem>
#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/bpe.hpp"
#include "data/tokenizer.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("data", name); }
using lmlab::testing::error_of;
// A pseudo-random text of words from a small list, deterministic (about n bytes).
std::string make_text(std::uint64_t seed, std::size_t n) {
  lmlab::rng r(seed);
  const char* words[] = {"the", "cat", "sat", "on", "mat", "and", "then", "there", "was", "a", "dog", "it's",
                         "running", "ran", "123", "!", "\n", "Über", "naïve", "théâtre"};
  std::string s;
  while (s.size() < n) {
    s += words[r.below(std::size(words))];
    s += r.below(4) ? " " : ", ";
  }
  return s;
}
}  // namespace

TEST(char_tokenizer, vocab_in_code_point_order_and_encode) {
  const std::vector<std::string_view> texts{"hello", "olé"};
  const auto t = d::char_tokenizer::build(texts);
  ASSERT_EQ(t.vocab_size(), 5);
  EXPECT_EQ(t.chars(), (std::vector<std::uint32_t>{'e', 'h', 'l', 'o', 0xE9}));
  EXPECT_EQ(t.encode("holé"), (std::vector<std::int32_t>{1, 3, 2, 4}));
  const std::vector<std::int32_t> ids{1, 0, 2, 2, 3};
  EXPECT_EQ(t.decode(ids), "hello");
}

TEST(char_tokenizer, unknown_character_error_names_it) {
  const std::vector<std::string_view> texts{"abc"};
  const auto t = d::char_tokenizer::build(texts);
  EXPECT_EQ(error_of([&] { t.encode("abz"); }),
            "char tokenizer: 'z' (U+007A) at byte 2 is not in the vocabulary (3 characters)");
  const std::vector<std::int32_t> bad{0, 7};
  EXPECT_EQ(error_of([&] { t.decode(bad); }), "char tokenizer: decode: id 7 at position 1 is outside the vocabulary [0, 3)");
}

TEST(char_tokenizer, invalid_utf8_round_trips_and_json) {
  const std::string text = std::string("a\xff") + "b\xc3" + "\xe2\x82" + "z";  // stray, truncated 2- and 3-byte
  const std::vector<std::string_view> texts{text};
  const auto t = d::char_tokenizer::build(texts);
  const auto ids = t.encode(text);
  EXPECT_EQ(ids.size(), 7u);  // a, 0xFF, b, 0xC3, 0xE2, 0x82, z
  EXPECT_EQ(t.decode(ids), text);
  const auto p = tmp("char.json");
  t.save(p);
  const auto back = d::load_tokenizer(p);
  EXPECT_EQ(back->kind(), "char");
  EXPECT_EQ(back->encode(text), ids);
}

TEST(bpe_train, first_merges_follow_count_then_smallest_pair) {
  // Words: "aaab", " aaab", " aab". (a,a) occurs 5 times -> merge 0 = a+a (id 256). Then
  // (aa,a), (a,b) and (' ',aa) tie at 2; the smallest (left, right) is (32, 256) -> " aa".
  const std::vector<std::string_view> texts{"aaab aaab aab"};
  d::bpe_train_options o;
  o.vocab_size = 256 + 2 + 1;
  const auto t = d::train_byte_bpe(texts, o);
  ASSERT_EQ(t.merges().size(), 2u);
  EXPECT_EQ(t.merges()[0].left, 'a');
  EXPECT_EQ(t.merges()[0].right, 'a');
  EXPECT_EQ(t.merges()[0].result, 256);
  EXPECT_EQ(t.merges()[1].left, ' ');
  EXPECT_EQ(t.merges()[1].right, 256);
  EXPECT_EQ(t.token_bytes(257), " aa");
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ(t.special_id("<|endoftext|>"), 258);
  EXPECT_EQ(t.encode(" aaa"), (std::vector<std::int32_t>{257, 'a'}));
}

TEST(bpe_train, deterministic_and_round_trips) {
  const std::string text = make_text(7, 20000);
  const std::vector<std::string_view> texts{text};
  d::bpe_train_options o;
  o.vocab_size = 400;
  const auto a = d::train_byte_bpe(texts, o);
  const auto b = d::train_byte_bpe(texts, o);
  ASSERT_EQ(a.merges().size(), b.merges().size());
  ASSERT_GT(a.merges().size(), 40u);  // stops early: every word of the list is one token
  for (std::size_t i = 0; i < a.merges().size(); ++i) {
    EXPECT_EQ(a.merges()[i].left, b.merges()[i].left) << "merge " << i;
    EXPECT_EQ(a.merges()[i].right, b.merges()[i].right) << "merge " << i;
  }
  EXPECT_EQ(a.to_json().dump(), b.to_json().dump());
  const auto ids = a.encode(text);
  EXPECT_LT(ids.size(), text.size() / 3);  // words become single tokens
  EXPECT_EQ(a.decode(ids), text);
  // Save / load keeps the encoding.
  const auto p = tmp("bpe.json");
  a.save(p);
  const auto back = d::load_tokenizer(p);
  EXPECT_EQ(back->encode(text), ids);
  EXPECT_EQ(back->vocab_size(), a.vocab_size());
}

TEST(bpe_train, invalid_utf8_round_trips) {
  const std::vector<std::string_view> texts{"hello hello world"};
  d::bpe_train_options o;
  o.vocab_size = 300;
  const auto t = d::train_byte_bpe(texts, o);
  const std::string weird = std::string("hello\xff\xfe wor\xc0\x80ld \xed\xa0\x80!") + std::string(1, '\0') + "end";
  EXPECT_EQ(t.decode(t.encode(weird)), weird);
}

TEST(bpe_train, bad_options_and_bad_json_name_the_problem) {
  const std::vector<std::string_view> texts{"x"};
  d::bpe_train_options o;
  o.vocab_size = 100;
  EXPECT_EQ(error_of([&] { d::train_byte_bpe(texts, o); }),
            "bpe train: vocab_size 100 is below 256 byte tokens + 1 special tokens");
  nlohmann::json j = {{"type", "byte_bpe"}, {"pre_tokenizer", "gpt2"}, {"vocab", nlohmann::json::array()}};
  EXPECT_EQ(error_of([&] { d::tokenizer_from_json(j, "t.json"); }),
            "t.json: byte_bpe tokenizer: field \"merges\" must be an array of \"left right\" strings");
  EXPECT_EQ(error_of([&] { d::tokenizer_from_json({{"type", "wordpiece"}}, "t.json"); }),
            "t.json: unknown tokenizer type \"wordpiece\"");
}

TEST(char_tokenizer, surrogates_and_out_of_range_code_points_are_rejected) {
  // U+D800 was accepted as a character; U+DC80..U+DCFF stay valid (they stand for raw bytes).
  auto chars = [](const char* list) { return nlohmann::json::parse(std::string(R"({"type": "char", "chars": [)") + list + "]}"); };
  EXPECT_EQ(error_of([&] { d::tokenizer_from_json(chars("97, 55296"), "t.json"); }),
            "t.json: char tokenizer: id 1: U+D800 is a lone surrogate, not a character");
  // U+DC41 would be a surrogate escape of byte 0x41, which is valid ASCII.
  EXPECT_EQ(error_of([&] { d::tokenizer_from_json(chars("97, 56385"), "t.json"); }),
            "t.json: char tokenizer: id 1: U+DC41 is a lone surrogate, not a character");
  EXPECT_NO_THROW(d::tokenizer_from_json(chars("97, 56575"), "t.json"));  // U+DCFF: raw byte 0xFF
  // 2^32 + 97 used to wrap to 'a'.
  EXPECT_EQ(error_of([&] { d::tokenizer_from_json(chars("98, 4294967393"), "t.json"); }),
            "t.json: char tokenizer: id 1: 4294967393 is not a code point");
}

TEST(bpe_train, duplicate_merges_and_tokens_in_json_are_rejected) {
  const std::string text = make_text(3, 5000);
  const std::vector<std::string_view> texts{text};
  d::bpe_train_options o;
  o.vocab_size = 300;
  auto j = d::train_byte_bpe(texts, o).to_json();
  ASSERT_GT(j["merges"].size(), 2u);
  auto dup_merge = j;
  dup_merge["merges"].push_back(j["merges"][0]);  // accepted before, silently ignored
  const std::string e = error_of([&] { d::tokenizer_from_json(dup_merge, "t.json"); });
  EXPECT_EQ(e.rfind("t.json: byte_bpe: merge " + std::to_string(j["merges"].size()) + " (", 0), 0u) << e;
  EXPECT_NE(e.find(") repeats merge 0"), std::string::npos) << e;
  auto dup_token = j;
  dup_token["vocab"].push_back(j["vocab"][j["vocab"].size() - 1]);
  EXPECT_NE(error_of([&] { d::tokenizer_from_json(dup_token, "t.json"); }).find("appears twice (ids"), std::string::npos);
  EXPECT_NO_THROW(d::tokenizer_from_json(j, "t.json"));
}
