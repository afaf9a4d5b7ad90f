// data: tokenizers read from GGUF metadata against llama.cpp's own test vectors in
// shared/models (46 texts each: empty and whitespace-only strings, tabs, newlines, digits,
// accents, CJK, emoji, Cyrillic): SentencePiece BPE (phi-3, = Llama-SPM) and GPT-2
// byte-level BPE. The .out lines are ids without BOS.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <tuple>

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

// ---- Hugging Face tokenizer.json ---------------------------------------------------------

namespace {
// A tokenizer.json in Hugging Face's layout made from a GGUF vocabulary: GPT-2 as
// Hugging Face ships it (ByteLevel pre-tokeniser, "a b" merges, <|endoftext|> added); the
// SentencePiece one as Hugging Face's LlamaConverter writes it (Prepend + Replace normaliser,
// byte_fallback, merges of every two-piece split of each token, highest score first).
nlohmann::json hf_json_from_gguf(const nn::gguf_file& f) {
  const auto& toks = f.get_array("tokenizer.ggml.tokens", nn::gguf_type::string).strs;
  const auto& types = f.get_array("tokenizer.ggml.token_type", nn::gguf_type::i32).ints;
  nlohmann::json j, vocab = nlohmann::json::object(), added = nlohmann::json::array();
  for (std::size_t i = 0; i < toks.size(); ++i) {
    if (types[i] == 3) added.push_back({{"id", i}, {"content", toks[i]}, {"special", true}});
    vocab[toks[i]] = i;
  }
  j["added_tokens"] = added;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}};
  if (f.get_string("tokenizer.ggml.model") == "gpt2") {
    j["model"]["merges"] = f.get_array("tokenizer.ggml.merges", nn::gguf_type::string).strs;
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    return j;
  }
  const auto& scores = f.get_array("tokenizer.ggml.scores", nn::gguf_type::f32).floats;
  std::unordered_map<std::string, std::size_t> id;
  for (std::size_t i = 0; i < toks.size(); ++i) id[toks[i]] = i;
  std::vector<std::tuple<double, std::size_t, std::string, std::string>> merges;
  for (std::size_t i = 0; i < toks.size(); ++i) {
    if (types[i] != 1) continue;
    const std::string& t = toks[i];
    for (std::size_t k = 1; k < t.size(); ++k) {
      if ((static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) continue;  // split at characters only
      if (id.count(t.substr(0, k)) && id.count(t.substr(k))) merges.emplace_back(-scores[i], i, t.substr(0, k), t.substr(k));
    }
  }
  std::sort(merges.begin(), merges.end());
  nlohmann::json ml = nlohmann::json::array();
  for (const auto& [s, i, l, r] : merges) ml.push_back(l + " " + r);
  j["model"]["merges"] = ml;
  j["model"]["byte_fallback"] = true;
  j["model"]["unk_token"] = "<unk>";
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}},
                                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}}}}};
  j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}}};
  return j;
}

void check_hf_vectors(const std::filesystem::path& path, const char* kind) {
  auto f = nn::gguf_file::load(path);
  auto tok = data::tokenizer_from_hf_json(hf_json_from_gguf(f), "tokenizer.json");
  EXPECT_EQ(tok->kind(), kind);
  int pass = 0;
  const auto cases = read_vectors(path);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (tok->encode(cases[i].text) == cases[i].ids) ++pass;
    else ADD_FAILURE() << "case " << i << " \"" << cases[i].text << "\": got " << testing::PrintToString(tok->encode(cases[i].text));
  }
  EXPECT_EQ(pass, 46);
}
}  // namespace

TEST(hf_tokenizer_json, gpt2_byte_level_passes_llama_cpp_vectors) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-gpt-2.gguf");
  check_hf_vectors(path, "byte_bpe");
}

TEST(hf_tokenizer_json, sentencepiece_bpe_passes_llama_cpp_vectors) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-phi-3.gguf");
  check_hf_vectors(path, "spm_bpe");
  auto tok = data::tokenizer_from_hf_json(hf_json_from_gguf(nn::gguf_file::load(path)), "tokenizer.json");
  EXPECT_EQ(data::encode_for_generation(*tok, "Hi").front(), 1);  // BOS from the template
}

TEST(hf_tokenizer_json, unsupported_pre_tokenizers_are_named) {
  nlohmann::json j;
  j["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Split"}}, {{"type", "ByteLevel"}}}}};
  try {
    data::tokenizer_from_hf_json(j, "tokenizer.json");
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: this pre_tokenizer/normalizer combination is not supported"), std::string::npos)
        << e.what();
  }
  j["model"]["type"] = "Unigram";
  EXPECT_THROW(data::tokenizer_from_hf_json(j, "t"), error);
}
