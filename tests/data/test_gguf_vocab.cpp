// data: tokenizers read from GGUF metadata against llama.cpp's own test vectors in
// shared/models (46 texts each: empty and whitespace-only strings, tabs, newlines, digits,
// accents, CJK, emoji, Cyrillic): SentencePiece BPE (phi-3, = Llama-SPM) and GPT-2
// byte-level BPE. The .out lines are ids without BOS.
#include <gtest/gtest.h>

#include <sstream>

#include "../shared_models.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/bpe.hpp"
#include "data/gguf_tokenizer.hpp"
#include "data/spm_bpe.hpp"

using namespace lmlab;

namespace {

struct vector_case {
  std::string text;
  std::vector<std::int32_t> ids;
};

std::vector<vector_case> read_vectors(const std::filesystem::path& gguf) {
  const std::string inp = read_text_file(gguf.string() + ".inp"), out = read_text_file(gguf.string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<vector_case> cases;
  for (std::size_t a = 0, b; (b = inp.find(sep, a)) != std::string::npos; a = b + sep.size()) cases.push_back({inp.substr(a, b - a), {}});
  std::istringstream lines(out);
  std::string line;
  for (auto& c : cases) {
    EXPECT_TRUE(std::getline(lines, line)) << "fewer .out lines than texts";
    std::istringstream ids(line);
    for (std::int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

void check_vectors(const std::filesystem::path& path, const char* kind) {
  auto f = nn::gguf_file::load(path);
  auto tok = data::tokenizer_from_gguf(f);
  EXPECT_EQ(tok->kind(), kind);
  const auto cases = read_vectors(path);
  ASSERT_EQ(cases.size(), 46u);
  int pass = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok->encode(cases[i].text);
    if (got == cases[i].ids) ++pass;
    else ADD_FAILURE() << path.filename() << " case " << i << " \"" << cases[i].text << "\": got " << testing::PrintToString(got)
                       << ", expected " << testing::PrintToString(cases[i].ids);
  }
  EXPECT_EQ(pass, 46);
}

}  // namespace

TEST(gguf_vocab, phi3_spm_passes_llama_cpp_vectors) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-phi-3.gguf");
  check_vectors(path, "spm_bpe");
}

TEST(gguf_vocab, gpt2_byte_bpe_passes_llama_cpp_vectors) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-gpt-2.gguf");
  check_vectors(path, "byte_bpe");
}

TEST(gguf_vocab, spm_decode_and_json_round_trip) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-phi-3.gguf");
  auto tok = data::tokenizer_from_gguf(nn::gguf_file::load(path));
  const std::string text = "Hello world \xe2\x86\x92 \xf0\x9f\xa6\x99 caf\xc3\xa9\n\ttab";
  auto ids = data::encode_for_generation(*tok, text);
  ASSERT_EQ(ids.front(), 1);  // BOS
  EXPECT_EQ(tok->decode(ids), text);  // byte fallback tokens decode to the raw bytes
  auto again = data::tokenizer_from_json(tok->to_json(), "<json>");
  EXPECT_EQ(again->encode(text), tok->encode(text));
  EXPECT_EQ(tok->special_id("eos"), 32000);
}

TEST(gguf_vocab, stories260k_vocab) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto tok = data::tokenizer_from_gguf(nn::gguf_file::load(path));
  EXPECT_EQ(tok->vocab_size(), 512);
  // Byte fallback: characters outside the 512-token vocabulary become <0xNN> tokens (3 + byte).
  const auto ids = tok->encode("\xe4\xb8\xad");  // 中 is no token: its three bytes are
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(tok->decode(std::vector<std::int32_t>{ids[0]}), " ");  // the dummy-prefix "▁"
  EXPECT_EQ(ids[1], 3 + 0xE4);
  EXPECT_EQ(ids[2], 3 + 0xB8);
  EXPECT_EQ(ids[3], 3 + 0xAD);
  std::vector<std::int32_t> with_bos = {1};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  EXPECT_EQ(tok->decode(with_bos), "\xe4\xb8\xad");  // the space after BOS is dropped
}

TEST(gguf_vocab, unsupported_models_are_named) {
  nn::gguf_builder b;
  b.set("tokenizer.ggml.model", nn::gguf_value::str("bert"));
  b.set("tokenizer.ggml.tokens", nn::gguf_value::str_array({"a"}));
  const auto bytes = b.encode();
  try {
    data::tokenizer_from_gguf(nn::gguf_file::parse(bytes, "v.gguf"));
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "v.gguf: tokenizer.ggml.model = \"bert\" is not supported");
  }
}
