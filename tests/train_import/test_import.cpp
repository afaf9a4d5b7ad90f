// train: any model path (GGUF file, lmlab checkpoint) loaded one way; GGUF -> lmlab
// checkpoint -> GGUF byte for byte; perplexity of stories260K on a fixed text at F32, F16,
// Q8_0 and Q4_0 (the quantised files written by lmlab).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "../shared_models.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/spm_bpe.hpp"
#include "train/import.hpp"
#include "train/trainer.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("lmlab_import_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

double story_loss(train::loaded_checkpoint& ck) {
  auto tok = data::tokenizer_from_json(*ck.tokenizer, "<json>");
  const auto ids = data::encode_for_generation(*tok, read_text_file("tests/models_real/story.txt"));
  const auto T = static_cast<std::int64_t>(ids.size()) - 1;
  return train::evaluate_split(*ck.model, ids, tok.get(), 1, T).loss;
}
}  // namespace

TEST(import, gguf_to_checkpoint_to_gguf_is_byte_identical) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  const fs::path dir = temp_dir("ck");
  train::save_as_checkpoint(train::load_model_any(path), dir);
  auto back = train::load_model_any(dir);
  const auto bytes = train::gguf_of(back, nn::ggml_type::f32).encode();
  const auto orig = read_binary_file(path);
  ASSERT_EQ(bytes.size(), orig.size());
  EXPECT_TRUE(bytes == orig);
  // Without the carried metadata the file is rebuilt from config and tokenizer, and still
  // loads to the same model.
  back.trainer_state = nlohmann::json::object();
  const auto rebuilt = train::gguf_of(back, nn::ggml_type::f32).encode();
  auto f = nn::gguf_file::parse(rebuilt, "rebuilt.gguf");
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
  auto orig_f = nn::gguf_file::parse(orig, path.string());
  for (const auto& t : orig_f.tensors()) {
    auto a = orig_f.tensor_bytes(t);
    auto b = f.tensor_bytes(*f.find_tensor(t.name));
    ASSERT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
  }
  fs::remove_all(dir);
}

// The first step's logits from BOS are the same, bit for bit, whether the model comes from the
// GGUF file or from the lmlab checkpoint converted from it.
TEST(import, first_step_logits_agree_across_f32_load_paths) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  const fs::path dir = temp_dir("ck2");
  auto a = train::load_model_any(path);
  train::save_as_checkpoint(a, dir);
  auto b = train::load_model_any(dir);
  const tensor bos = tensor::from<std::int32_t>({1}, {1});
  auto sa = a.model->new_state(1);
  auto sb = b.model->new_state(1);
  const auto la = a.model->step(*sa, bos).to_vector(), lb = b.model->step(*sb, bos).to_vector();
  ASSERT_EQ(la.size(), 512u);
  EXPECT_EQ(la, lb);
  // The most likely first token is 403 ("▁Once"), as the published greedy text starts.
  EXPECT_EQ(std::max_element(la.begin(), la.end()) - la.begin(), 403);
  fs::remove_all(dir);
}

TEST(import, quantised_perplexity_on_a_fixed_text) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto ck = train::load_model_any(path);
  const double f32 = story_loss(ck);
  // Measured with this file and text (docs/real-models.md): F32 loss 1.00666 nats/token.
  EXPECT_NEAR(f32, 1.00666, 1e-4);
  double loss[3];
  int k = 0;
  for (auto type : {nn::ggml_type::f16, nn::ggml_type::q8_0, nn::ggml_type::q4_0}) {
    const auto bytes = train::gguf_of(ck, type).encode();
    const fs::path p = temp_dir("q") ;
    write_file_atomic(p, bytes);
    auto q = train::load_model_any(p);
    loss[k++] = story_loss(q);
    fs::remove(p);
  }
  EXPECT_LE(std::fabs(loss[0] - f32), 1e-3) << "F16";
  EXPECT_LE(std::fabs(loss[1] - f32), 5e-3) << "Q8_0";
  EXPECT_LE(std::fabs(loss[2] - f32), 0.1) << "Q4_0";
  EXPECT_GT(loss[2], loss[1]) << "4-bit should lose more than 8-bit";
}

TEST(import, paths_that_are_not_models_are_named) {
  try {
    train::load_model_any("no/such/model.gguf");
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "no/such/model.gguf: no such file or folder");
  }
  EXPECT_THROW(train::parse_weight_type("q5_k"), usage_error);
}

TEST(import, hugging_face_folder_with_its_tokenizer_json) {
  const fs::path dir = temp_dir("hf");
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(fs::path("tests/golden/fixtures/hf_llama") / f, dir / f);
  // A SentencePiece-style tokenizer.json of 64 tokens (the fixture model's vocabulary size).
  nlohmann::json vocab = nlohmann::json::object();
  const char* base[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab"};
  for (int i = 0; i < 8; ++i) vocab[base[i]] = i;
  for (int i = 8; i < 64; ++i) vocab["t" + std::to_string(i)] = i;
  nlohmann::json j;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\xe2\x96\x81 a", "a b"}}, {"unk_token", "<unk>"}};
  j["added_tokens"] = {{{"id", 1}, {"content", "<s>"}, {"special", true}}, {{"id", 2}, {"content", "</s>"}, {"special", true}}};
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}};
  j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}}};
  write_file_atomic(dir / "tokenizer.json", j.dump());
  auto ck = train::load_model_any(dir);
  ASSERT_TRUE(ck.tokenizer.has_value());
  auto tok = data::tokenizer_from_json(*ck.tokenizer, "<json>");
  // "▁ab▁a": the rank-0 merge "▁ a" wins over "a b" (rank 1): <s> ▁a b ▁a.
  EXPECT_EQ(data::encode_for_generation(*tok, "ab a"), (std::vector<std::int32_t>{1, 6, 5, 6}));
  EXPECT_EQ(ck.model->vocab_size(), 64);
  fs::remove_all(dir);
}
