// models: Hugging Face LLaMA-family folders (config.json + safetensors, BF16/F16, sharded
// index, GQA/MQA, Qwen2 biases, tied and untied heads, linear RoPE scaling) against the
// logits of the plain-PyTorch LLaMA of scripts/ref/hf_llama_ref.py (fixtures committed under
// tests/golden/fixtures/hf_*), and their errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/import.hpp"
#include "nn/safetensors.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

const fs::path k_fixtures = fs::path("tests") / "golden" / "fixtures";

// |a - b| <= atol + rtol*|b| everywhere; prints the worst element.
void expect_close(const tensor& a, const tensor& b, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto x = a.to_vector(), y = b.to_vector();
  double worst = -1;
  std::size_t at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double excess = std::fabs(x[i] - y[i]) - (atol + rtol * std::fabs(y[i]));
    if (excess > worst || i == 0) {
      worst = excess;
      at = i;
    }
  }
  EXPECT_LE(worst, 0.0) << what << ": worst element " << at << ": lmlab " << x[at] << " vs torch " << y[at];
}

}  // namespace

class hf_golden : public testing::TestWithParam<const char*> {};

// Tolerance 1e-4 + 1e-4*|b|: both sides run an f32 forward on the same (BF16/F16-rounded) weights.
TEST_P(hf_golden, logits_match_the_pytorch_reference) {
  const fs::path dir = k_fixtures / (std::string("hf_") + GetParam());
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " is missing: run scripts/ref/hf_llama_ref.py";
  auto m = models::lm_from_hf_folder(dir);
  auto ids = nn::safetensors_file::load(dir / "golden.safetensors").get("ids");
  auto want = nn::safetensors_file::load(dir / "golden_logits.safetensors").get("logits");
  expect_close(m->forward(ids), want, 1e-4, 1e-4, GetParam());
  // The KV-cache step path gives the same logits.
  auto st = m->new_state(1);
  const std::int64_t T = ids.size(1), V = m->vocab_size();
  for (std::int64_t t = 0; t < T; ++t) {
    tensor l = m->step(*st, ids.narrow_raw(1, t, 1).contiguous_raw().view_raw({1}));
    expect_close(l.view_raw({1, 1, V}), want.narrow_raw(1, t, 1).contiguous_raw(), 1e-4, 1e-4, std::string(GetParam()) + " step");
  }
}

INSTANTIATE_TEST_SUITE_P(models, hf_golden, testing::Values("llama", "qwen2", "mistral"));

TEST(hf_llama, config_fields_map_to_the_zoo) {
  auto c = models::lm_config_from_hf(nlohmann::json::parse(read_text_file(k_fixtures / "hf_qwen2" / "config.json")), "q");
  EXPECT_TRUE(c.bias);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.kv_heads(), 2);
  EXPECT_EQ(c.rope_theta, 1e6);
  c = models::lm_config_from_hf(nlohmann::json::parse(read_text_file(k_fixtures / "hf_mistral" / "config.json")), "m");
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.kv_heads(), 1);
  EXPECT_FALSE(c.bias);
}

TEST(hf_llama, errors_name_the_file_and_field) {
  const fs::path dir = fs::temp_directory_path() / ("lmlab_hf_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto cfg = nlohmann::json::parse(read_text_file(k_fixtures / "hf_llama" / "config.json"));
  const auto write_cfg = [&] { write_file_atomic(dir / "config.json", cfg.dump()); };
  const auto message = [&] {
    try {
      models::lm_from_hf_folder(dir);
    } catch (const error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  cfg["architectures"] = {"GPTNeoXForCausalLM"};
  write_cfg();
  EXPECT_NE(message().find("architectures[0] = \"GPTNeoXForCausalLM\" is not supported"), std::string::npos) << message();
  cfg["architectures"] = {"LlamaForCausalLM"};
  write_cfg();
  EXPECT_NE(message().find("neither model.safetensors nor model.safetensors.index.json"), std::string::npos) << message();
  // A truncated weights file: every cut names the file.
  const auto full = read_binary_file(k_fixtures / "hf_llama" / "model.safetensors");
  for (std::size_t n : {std::size_t{0}, std::size_t{7}, std::size_t{100}, full.size() / 2, full.size() - 1}) {
    write_file_atomic(dir / "model.safetensors", std::span<const std::uint8_t>(full.data(), n));
    const std::string e = message();
    EXPECT_NE(e.find("model.safetensors: "), std::string::npos) << n << ": " << e;
  }
  // A config that disagrees with the weights.
  write_file_atomic(dir / "model.safetensors", full);
  cfg["intermediate_size"] = 40;
  write_cfg();
  EXPECT_NE(message().find("mlp.down_proj.weight: shape [32, 48], expected [32, 40]"), std::string::npos) << message();
  fs::remove_all(dir);
}

// HF -> GGUF (F32) -> model keeps every logit bit for bit: the rotary permutation of llama
// GGUFs is undone exactly on load, and Qwen2's biases travel as attn_{q,k,v}.bias.
TEST_P(hf_golden, gguf_round_trip_keeps_the_logits) {
  const fs::path dir = k_fixtures / (std::string("hf_") + GetParam());
  auto m = models::lm_from_hf_folder(dir);
  const std::string arch = m->config().bias ? "qwen2" : "llama";
  const auto bytes = models::gguf_from_lm(*m, nn::ggml_type::f32, {{"general.architecture", nn::gguf_value::str(arch)}}).encode();
  auto back = models::lm_from_gguf(nn::gguf_file::parse(bytes, "x.gguf"));
  auto ids = nn::safetensors_file::load(dir / "golden.safetensors").get("ids");
  expect_close(back->forward(ids), m->forward(ids), 0, 0, GetParam());
}
