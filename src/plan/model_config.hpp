// A model architecture as the planner sees it: sizes, a per-layer mixer pattern (full or
// sliding attention, MLA, Mamba, RWKV, RG-LRU), MoE placement, and parameter counts. Read from a
// Hugging Face config.json (llama, mistral, mixtral, qwen2, qwen2_moe, gemma2, deepseek_v2/v3,
// falcon, phi3, mamba, jamba, recurrent_gemma, rwkv) or from the catalog in data/plan/models/.
// Not for: building or loading a runnable model (models/), or tokenizer files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::plan {

enum class mixer { attention, sliding, mla, mamba, rwkv, rglru };
std::string_view mixer_name(mixer m);

struct layer_spec {
  mixer kind = mixer::attention;
  bool moe = false;
};

struct model_config {
  std::string name, model_type, source;
  std::int64_t hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  std::int64_t intermediate = 0, vocab = 0;
  bool tie_embeddings = false, gated_mlp = true, qkv_bias = false;
  std::int64_t norms_per_layer = 2;
  std::int64_t sliding_window = 0;  // 0: none
  // MLA (DeepSeek-V2/V3)
  std::int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  // MoE
  std::int64_t n_experts = 0, n_active_experts = 0, n_shared_experts = 0, moe_intermediate = 0;
  // SSM (Mamba-1) and recurrent widths
  std::int64_t ssm_state = 0, ssm_conv = 0, ssm_inner = 0, ssm_dt_rank = 0;
  std::int64_t lru_width = 0, rglru_conv = 0;
  std::vector<layer_spec> layers;

  // Parameter counts (embeddings and head included).
  double params_total() const;
  double params_active() const;   // per token: routed experts counted n_active times
  double params_expert() const;   // routed-expert weights only (what expert parallelism shards)
  // Bytes of attention cache per sequence for `context` tokens, and recurrent state per sequence.
  double kv_cache_bytes(double context, double bytes_per_elem) const;
  double state_bytes(double bytes_per_elem) const;
  std::int64_t count(mixer m) const;
};

// Parses a Hugging Face config.json text; `origin` (a path) names the source in errors.
model_config parse_hf_config(std::string_view json_text, const std::string& origin);
model_config load_hf_config(const std::filesystem::path& path);

// Applies a layer pattern such as "M,M,M,A" or "SA" (repeated to n_layers; letters:
// A full attention, S sliding, L MLA, M mamba, R rwkv, G rg-lru; lower case = MoE layer).
void apply_layer_pattern(model_config& m, std::string_view pattern);

// The data directory for catalogs: $LMLAB_PLAN_DATA, else ./data/plan, else the source tree's.
std::filesystem::path plan_data_dir();
std::vector<std::string> catalog_model_names();
// A catalog name ("llama-3-8b") or a path to a config.json; unknown names list the known ones.
model_config load_model(std::string_view name_or_path);

}  // namespace lmlab::plan
