// Model catalog parameter counts, KV cache / state sizes and training memory.
// Reference parameter counts: the Hugging Face model cards / safetensors index totals
// (Llama-3-8B 8,030,261,248; Mistral-7B 7,241,732,096; Mixtral-8x7B 46,702,792,704;
// Llama-2-7B 6,738,415,616; Gemma-2-9B 9,241,705,984; DeepSeek-V3 671B total / 37B active
// (DeepSeek-V3 report, Section 1)).
#include <gtest/gtest.h>

#include <fstream>

#include "../error_of.hpp"
#include "core/error.hpp"
#include "plan/memory.hpp"
#include "plan/model_config.hpp"
#include "plan/tables.hpp"

using namespace lmlab::plan;
using lmlab::testing::error_of;

TEST(memory, catalog_parameter_counts) {
  EXPECT_EQ(load_model("llama-3-8b").params_total(), 8030261248.0);
  EXPECT_EQ(load_model("mistral-7b").params_total(), 7241732096.0);
  EXPECT_EQ(load_model("mixtral-8x7b").params_total(), 46702792704.0);
  EXPECT_EQ(load_model("llama-2-7b").params_total(), 6738415616.0);
  EXPECT_EQ(load_model("gemma-2-9b").params_total(), 9241705984.0);
  const auto ds = load_model("deepseek-v3");
  EXPECT_NEAR(ds.params_total() / 671e9, 1.0, 0.002);
  EXPECT_NEAR(ds.params_active() / 37e9, 1.0, 0.02 + 0.01);
  EXPECT_NEAR(load_model("mixtral-8x7b").params_active() / 12.9e9, 1.0, 0.005);
  EXPECT_NEAR(load_model("jamba-v0.1").params_total() / 51.6e9, 1.0, 0.01);   // AI21: 52B total, 12B active
  EXPECT_NEAR(load_model("mamba-2.8b").params_total() / 2.77e9, 1.0, 0.01);
  EXPECT_NEAR(load_model("falcon-7b").params_total() / 6.92e9, 1.0, 0.005);
  EXPECT_NEAR(load_model("rwkv-4-169m").params_total() / 169e6, 1.0, 0.01);
  EXPECT_GE(catalog_model_names().size(), 15u);
}

TEST(memory, kv_cache_per_token_by_attention_kind) {
  // GQA: 2 · 32 layers · 8 kv heads · 128 · 2 bytes = 128 KiB per token.
  EXPECT_EQ(load_model("llama-3-8b").kv_cache_bytes(1, 2), 131072.0);
  // MHA: Llama-2-7B 2 · 32 · 32 · 128 · 2 = 512 KiB.
  EXPECT_EQ(load_model("llama-2-7b").kv_cache_bytes(1, 2), 524288.0);
  // MQA: Falcon-7B 2 · 32 · 1 · 64 · 2 = 8 KiB.
  EXPECT_EQ(load_model("falcon-7b").kv_cache_bytes(1, 2), 8192.0);
  // MLA: (512 + 64) · 61 · 2 bytes (ref: DeepSeek-V2 Table 1, cached d_c + d_h^R per layer).
  EXPECT_EQ(load_model("deepseek-v3").kv_cache_bytes(1, 2), 576.0 * 61 * 2);
  // Sliding window: Mistral caps every layer at 4096 tokens.
  const auto mi = load_model("mistral-7b");
  EXPECT_EQ(mi.kv_cache_bytes(32768, 2), mi.kv_cache_bytes(4096, 2));
  // Interleaved: Gemma-2 has 21 global + 21 local(4096) layers of 2 · 8 · 256 · 2 bytes.
  const auto g = load_model("gemma-2-9b");
  EXPECT_EQ(g.count(mixer::sliding), 21);
  EXPECT_EQ(g.kv_cache_bytes(8192, 2), (21.0 * 8192 + 21.0 * 4096) * 2 * 8 * 256 * 2);
  // Hybrid: Jamba has 4 attention layers of 32.
  const auto j = load_model("jamba-v0.1");
  EXPECT_EQ(j.count(mixer::attention), 4);
  EXPECT_EQ(j.kv_cache_bytes(1, 2), 4.0 * 2 * 8 * 128 * 2);
}

TEST(memory, recurrent_state_is_constant_in_context) {
  const auto m = load_model("mamba-2.8b");
  EXPECT_EQ(m.kv_cache_bytes(1e6, 2), 0.0);
  // 64 layers · 5120 · (conv 4 + state 16) · 4 bytes
  EXPECT_EQ(m.state_bytes(4), 64.0 * 5120 * 20 * 4);
  const auto r = load_model("recurrentgemma-2b");
  EXPECT_EQ(r.count(mixer::rglru), 18);
  EXPECT_EQ(r.state_bytes(4), 18.0 * 2560 * 4 * 4);
  EXPECT_EQ(r.kv_cache_bytes(1e5, 2), r.kv_cache_bytes(2048, 2));
  EXPECT_EQ(load_model("rwkv-4-169m").state_bytes(4), 12.0 * 5 * 768 * 4);
}

TEST(memory, inference_sharding_and_training) {
  inference_memory_options o;
  o.context = 8192, o.batch = 4, o.tp = 8;
  const auto m = load_model("llama-3-70b");
  const auto r = estimate_inference_memory(m, o);
  EXPECT_EQ(r.kv_cache, 4.0 * 8192 * 2 * 80 * 8 * 128 * 2);
  EXPECT_NEAR(r.per_device, (r.weights + r.kv_cache) / 8, 1);
  training_memory_options t;
  t.recomp = recompute::full;
  const auto tm = estimate_training_memory(load_model("llama-3-8b"), t);
  EXPECT_EQ(tm.params + tm.grads + tm.optimizer, 16.0 * 8030261248.0);  // ZeRO Section 3.1
  EXPECT_EQ(tm.activations, 32.0 * 2 * 4096 * 4096);                    // 2sbh per layer (Korthikanti Table 2)
  t.recomp = recompute::none, t.zero_stage = 3, t.dp = 8;
  const auto t3 = estimate_training_memory(load_model("llama-3-8b"), t);
  EXPECT_EQ(t3.optimizer, 12.0 * 8030261248.0 / 8);
  EXPECT_EQ(t3.activations, 32.0 * 4096 * 4096 * (34 + 5.0 * 32 * 4096 / 4096));
}

TEST(memory, hybrid_pattern_override) {
  auto m = load_model("llama-3-8b");
  apply_layer_pattern(m, "MMMA");
  EXPECT_EQ(m.count(mixer::mamba), 24);
  EXPECT_EQ(m.kv_cache_bytes(1, 2), 8.0 * 2 * 8 * 128 * 2);
  EXPECT_THROW(apply_layer_pattern(m, "MXA"), lmlab::error);
}

TEST(memory, errors_name_field_and_known_models) {
  try {
    load_model("llama-9");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--model: unknown model 'llama-9'");
    EXPECT_NE(e.hint().find("llama-3-8b"), std::string::npos);
    EXPECT_NE(e.hint().find("deepseek-v3"), std::string::npos);
  }
  try {
    parse_hf_config(R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32})", "cfg.json");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "cfg.json: field 'num_attention_heads' is missing");
  }
  try {
    parse_hf_config(R"({"model_type": "llama", "hidden_size": "big"})", "cfg.json");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "cfg.json: field 'hidden_size' must be a positive integer, got \"big\"");
  }
  EXPECT_THROW(parse_hf_config("{not json", "x.json"), lmlab::error);
  try {
    parse_hf_config(R"({"model_type": "bert"})", "b.json");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "b.json: model_type 'bert' is not supported");
  }
  memory_args a;
  a.context = "0";
  EXPECT_THROW(memory_table(a), lmlab::error);
}

TEST(memory, table_sweeps_context_with_binary_suffix) {
  memory_args a;
  a.model = "llama-3-8b,mamba-2.8b";
  a.context = "8k,128k";
  a.batch = "1,2";
  const auto t = memory_table(a);
  ASSERT_EQ(t.rows().size(), 8u);
  EXPECT_EQ(*t.rows()[2][1].number, 131072.0);
}

TEST(memory, counts_out_of_range_are_errors_not_wrapped_integers) {
  // 1e19 tokens used to print as context -9223372036854775808 (a double cast to int64).
  memory_args a;
  a.context = "1e19";
  EXPECT_EQ(error_of([&] { memory_table(a); }),
            "--context: 1e+19 is out of range [1, 9007199254740992]");
  a.context = "8k";
  a.tp = "1e10";
  EXPECT_EQ(error_of([&] { memory_table(a); }),
            "--tp: 10000000000 is out of range [1, 2147483647]");
  a.tp = "1.5";
  EXPECT_EQ(error_of([&] { memory_table(a); }),
            "--tp: 1.5 is not a whole number");
}

TEST(memory, tp_must_divide_the_heads) {
  memory_args a;
  a.tp = "3";
  EXPECT_EQ(error_of([&] { memory_table(a); }),
            "--tp: 3 does not divide the 32 attention heads of llama-3-8b");
  a.mode = "training";
  EXPECT_THROW(memory_table(a), lmlab::error);
  a.tp = "4";
  EXPECT_NO_THROW(memory_table(a));
}

TEST(memory, hf_config_kv_heads_must_divide_heads_and_sizes_are_bounded) {
  const std::string base = R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "intermediate_size": 14336, "vocab_size": 128256, )";
  EXPECT_EQ(error_of([&] { parse_hf_config(base + R"("num_hidden_layers": 32, "num_key_value_heads": 5})", "cfg.json"); }),
            "cfg.json: num_key_value_heads 5 does not divide num_attention_heads 32");
  EXPECT_EQ(error_of([&] { parse_hf_config(base + R"("num_hidden_layers": 9223372036854775807})", "cfg.json"); }),
            "cfg.json: field 'num_hidden_layers' is 9223372036854775807, more than the planner accepts (1048576)");
  EXPECT_NO_THROW(parse_hf_config(base + R"("num_hidden_layers": 32, "num_key_value_heads": 8})", "cfg.json"));
  // A field of the wrong type deep in a family's reader escaped as a bare nlohmann type_error.
  EXPECT_EQ(error_of([&] { parse_hf_config(base + R"("num_hidden_layers": 32, "_name": 5})", "cfg.json"); })
                .rfind("cfg.json: [json.exception.type_error.302] type must be string, but is number", 0),
            0u);
}
