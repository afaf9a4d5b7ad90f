// Model architectures from Hugging Face config.json: see model_config.hpp.
// Parameter counts follow each architecture's modeling_*.py in Hugging Face transformers
// (weights and biases that exist there; rotary buffers are not parameters).
#include "plan/model_config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace lmlab::plan {

using json = nlohmann::json;

std::string_view mixer_name(mixer m) {
  switch (m) {
    case mixer::attention: return "attention";
    case mixer::sliding: return "sliding";
    case mixer::mla: return "mla";
    case mixer::mamba: return "mamba";
    case mixer::rwkv: return "rwkv";
    case mixer::rglru: return "rglru";
  }
  return "?";
}

namespace {

constexpr std::int64_t kMaxSize = (std::int64_t{1} << 31) - 1;
constexpr std::int64_t kMaxLayers = std::int64_t{1} << 20;

struct reader {
  const json& j;
  const std::string& origin;

  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  std::int64_t integer(const char* key) const {
    LMLAB_CHECK_HINT(has(key), "is this a Hugging Face config.json for a supported model_type?",
                     "{}: field '{}' is missing", origin, key);
    const json& v = j[key];
    LMLAB_CHECK_HINT(v.is_number_integer() && v.get<std::int64_t>() > 0, "sizes are positive integers",
                     "{}: field '{}' must be a positive integer, got {}", origin, key, v.dump());
    // Products of two sizes must fit in 64 bits; the layer list is materialised.
    const std::string_view k = key;
    const std::int64_t max = k == "num_hidden_layers" || k == "n_layer" ? kMaxLayers : kMaxSize;
    LMLAB_CHECK_HINT(v.get<std::int64_t>() <= max, "is this a real model's config.json?",
                     "{}: field '{}' is {}, more than the planner accepts ({})", origin, key, v.dump(), max);
    return v.get<std::int64_t>();
  }
  std::int64_t integer_or(const char* key, std::int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    LMLAB_CHECK_HINT(j[key].is_boolean(), "use true or false", "{}: field '{}' must be a boolean, got {}", origin,
                     key, j[key].dump());
    return j[key].get<bool>();
  }
};

void uniform_layers(model_config& m, mixer kind, bool moe) {
  m.layers.assign(static_cast<std::size_t>(m.n_layers), layer_spec{kind, moe});
}

void read_attention(model_config& m, const reader& r) {
  m.hidden = r.integer("hidden_size");
  m.n_layers = r.integer("num_hidden_layers");
  m.n_heads = r.integer("num_attention_heads");
  m.n_kv_heads = r.integer_or("num_key_value_heads", m.n_heads);
  m.head_dim = r.integer_or("head_dim", m.hidden / m.n_heads);
  m.intermediate = r.integer("intermediate_size");
  m.vocab = r.integer("vocab_size");
}

// Mixers named by the newer `layer_types` list of Hugging Face configs.
mixer mixer_from_layer_type(const std::string& s, const std::string& origin, std::size_t i) {
  if (s == "full_attention" || s == "attention") return mixer::attention;
  if (s == "sliding_attention" || s == "local_attention") return mixer::sliding;
  if (s == "mamba") return mixer::mamba;
  if (s == "recurrent") return mixer::rglru;
  throw error(fmt::format("{}: layer_types[{}] = '{}' is not a known layer type", origin, i, s),
              "known: full_attention, sliding_attention, mamba, recurrent");
}

}  // namespace

namespace {
void read_llama_family(model_config& m, const reader& r) {
  const std::string& t = m.model_type;
  read_attention(m, r);
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", t == "gemma2" || t == "gemma");
  m.qkv_bias = t == "qwen2" || r.boolean_or("attention_bias", false);
  if (t == "gemma2") m.norms_per_layer = 4;
  bool sliding = false;
  if (t == "mistral" || t == "mixtral") {
    sliding = r.has("sliding_window");
  } else if (t == "qwen2") {
    sliding = r.boolean_or("use_sliding_window", false) && r.has("sliding_window");
  }
  if (sliding || t == "gemma2") m.sliding_window = r.integer("sliding_window");
  const bool moe = t == "mixtral";
  if (moe) {
    m.n_experts = r.integer("num_local_experts");
    m.n_active_experts = r.integer("num_experts_per_tok");
    m.moe_intermediate = m.intermediate;
  }
  uniform_layers(m, sliding ? mixer::sliding : mixer::attention, moe);
  if (t == "gemma2")  // ref: transformers modeling_gemma2.py: is_sliding = not bool(layer_idx % 2)
    for (std::size_t i = 0; i < m.layers.size(); ++i) m.layers[i].kind = i % 2 == 0 ? mixer::sliding : mixer::attention;
}

void read_falcon(model_config& m, const reader& r) {
  m.hidden = r.integer("hidden_size");
  m.n_layers = r.has("num_hidden_layers") ? r.integer("num_hidden_layers") : r.integer("n_layer");
  m.n_heads = r.has("num_attention_heads") ? r.integer("num_attention_heads") : r.integer("n_head");
  const bool mq = r.boolean_or("multi_query", true);
  m.n_kv_heads = r.integer_or("num_kv_heads", mq ? 1 : m.n_heads);
  if (r.boolean_or("new_decoder_architecture", false)) m.n_kv_heads = r.integer("num_kv_heads");
  m.head_dim = m.hidden / m.n_heads;
  m.intermediate = r.integer_or("ffn_hidden_size", 4 * m.hidden);
  m.vocab = r.integer("vocab_size");
  m.gated_mlp = false;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.norms_per_layer = 2;  // one LayerNorm with weight and bias (parallel attention)
  uniform_layers(m, mixer::attention, false);
}

void read_deepseek(model_config& m, const reader& r) {
  const json& j = r.j;
  m.hidden = r.integer("hidden_size");
  m.n_layers = r.integer("num_hidden_layers");
  m.n_heads = r.integer("num_attention_heads");
  m.n_kv_heads = r.integer_or("num_key_value_heads", m.n_heads);
  m.intermediate = r.integer("intermediate_size");
  m.vocab = r.integer("vocab_size");
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.q_lora_rank = r.integer_or("q_lora_rank", 0);
  m.kv_lora_rank = r.integer("kv_lora_rank");
  m.qk_nope_head_dim = r.integer("qk_nope_head_dim");
  m.qk_rope_head_dim = r.integer("qk_rope_head_dim");
  m.v_head_dim = r.integer("v_head_dim");
  m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
  m.n_experts = r.integer("n_routed_experts");
  m.n_active_experts = r.integer("num_experts_per_tok");
  m.n_shared_experts = r.integer_or("n_shared_experts", 0);
  m.moe_intermediate = r.integer("moe_intermediate_size");
  const auto first_dense = r.has("first_k_dense_replace") ? j["first_k_dense_replace"].get<std::int64_t>() : 0;
  const auto freq = r.integer_or("moe_layer_freq", 1);
  uniform_layers(m, mixer::mla, false);
  // ref: transformers modeling_deepseek_v3.py: MoE where layer_idx >= first_k_dense_replace
  // and layer_idx % moe_layer_freq == 0.
  for (std::int64_t i = 0; i < m.n_layers; ++i) m.layers[i].moe = i >= first_dense && i % freq == 0;
}

void read_mamba(model_config& m, const reader& r) {
  m.hidden = r.integer("hidden_size");
  m.n_layers = r.integer("num_hidden_layers");
  m.vocab = r.integer("vocab_size");
  m.ssm_state = r.integer("state_size");
  m.ssm_conv = r.integer("conv_kernel");
  m.ssm_inner = r.integer_or("intermediate_size", r.integer_or("expand", 2) * m.hidden);
  m.ssm_dt_rank = r.integer_or("time_step_rank", (m.hidden + 15) / 16);
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.norms_per_layer = 1;
  uniform_layers(m, mixer::mamba, false);
}

void read_jamba(model_config& m, const reader& r) {
  const json& j = r.j;
  read_attention(m, r);
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.ssm_state = r.integer("mamba_d_state");
  m.ssm_conv = r.integer("mamba_d_conv");
  m.ssm_inner = r.integer("mamba_expand") * m.hidden;
  m.ssm_dt_rank = r.integer_or("mamba_dt_rank", (m.hidden + 15) / 16);
  m.n_experts = r.integer("num_experts");
  m.n_active_experts = r.integer("num_experts_per_tok");
  m.moe_intermediate = m.intermediate;
  const auto ap = r.integer("attn_layer_period"), ep = r.integer("expert_layer_period");
  const auto ao = j.value("attn_layer_offset", 0), eo = j.value("expert_layer_offset", 0);
  uniform_layers(m, mixer::mamba, false);
  // ref: transformers configuration_jamba.py: layers_block_type / layers_num_experts
  for (std::int64_t i = 0; i < m.n_layers; ++i) {
    if (i % ap == ao) m.layers[i].kind = mixer::attention;
    m.layers[i].moe = m.n_experts > 1 && i % ep == eo;
  }
}

void read_recurrent_gemma(model_config& m, const reader& r) {
  const json& j = r.j;
  const std::string& origin = r.origin;
  read_attention(m, r);
  m.tie_embeddings = true;
  m.lru_width = r.integer_or("lru_width", m.hidden);
  m.rglru_conv = r.integer("conv1d_width");
  m.sliding_window = r.integer("attention_window_size");
  LMLAB_CHECK_HINT(j.contains("block_types") && j["block_types"].is_array() && !j["block_types"].empty(),
                   "e.g. \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]",
                   "{}: field 'block_types' must be a non-empty list", origin);
  const auto& bt = j["block_types"];
  uniform_layers(m, mixer::rglru, false);
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const auto s = bt[i % bt.size()].get<std::string>();
    m.layers[i].kind = s == "attention" ? mixer::sliding : mixer::rglru;
  }
}

void read_rwkv(model_config& m, const reader& r) {
  m.hidden = r.integer("hidden_size");
  m.n_layers = r.integer("num_hidden_layers");
  m.vocab = r.integer("vocab_size");
  m.intermediate = r.integer_or("intermediate_size", 4 * m.hidden);
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.norms_per_layer = 4;  // two LayerNorms with weight and bias
  uniform_layers(m, mixer::rwkv, false);
}

// lmlab's own checkpoint config.json (model_type "lmlab-lm", written by models/lm_config): the
// layer pattern's letters A (attention; sliding when sliding_window > 0), M (Mamba), R (RG-LRU),
// W (RWKV-4) repeat over the layers; T (retention) has no planner model. Sizes of 0 mean the
// model's defaults (dt_rank ceil(d/16), lru_width d). Counts follow the planner's formulas, which
// leave out LayerNorm and MLP biases (tests/plan compares with the model's own count).
void read_lmlab(model_config& m, const reader& r) {
  read_attention(m, r);
  const json& j = r.j;
  const auto optional_size = [&](const char* key) -> std::int64_t {
    return r.has(key) && j[key].is_number_integer() && j[key].get<std::int64_t>() == 0 ? 0 : r.integer_or(key, 0);
  };
  const std::string ffn = j.contains("ffn") && j["ffn"].is_string() ? j["ffn"].get<std::string>() : "gelu";
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.qkv_bias = r.boolean_or("bias", true);
  m.gated_mlp = ffn == "swiglu";
  m.sliding_window = optional_size("sliding_window");
  const bool moe = ffn == "moe";
  if (moe) {
    m.n_experts = r.integer("num_experts");
    m.n_active_experts = r.integer("num_experts_per_tok");
    m.moe_intermediate = m.intermediate;
  }
  m.ssm_state = r.integer_or("d_state", 16);
  m.ssm_conv = r.integer_or("d_conv", 4);
  m.ssm_inner = r.integer_or("expand", 2) * m.hidden;
  m.ssm_dt_rank = optional_size("dt_rank") > 0 ? optional_size("dt_rank") : (m.hidden + 15) / 16;
  m.lru_width = optional_size("lru_width") > 0 ? optional_size("lru_width") : m.hidden;
  m.rglru_conv = m.ssm_conv;
  const std::string pattern =
      j.contains("layer_pattern") && j["layer_pattern"].is_string() ? j["layer_pattern"].get<std::string>() : "A";
  LMLAB_CHECK_HINT(!pattern.empty(), "e.g. \"layer_pattern\": \"A\"", "{}: layer_pattern is empty", r.origin);
  uniform_layers(m, mixer::attention, moe);
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    switch (pattern[i % pattern.size()]) {
      case 'A': m.layers[i].kind = m.sliding_window > 0 ? mixer::sliding : mixer::attention; break;
      case 'M': m.layers[i].kind = mixer::mamba; break;
      case 'R': m.layers[i].kind = mixer::rglru; break;
      case 'W': m.layers[i].kind = mixer::rwkv; break;
      default:
        throw error(fmt::format("{}: layer_pattern \"{}\": the planner has no model of mixer '{}'", r.origin,
                                pattern, pattern[i % pattern.size()]),
                    "it models A (attention), M (Mamba), R (RG-LRU) and W (RWKV) layers; T (retention) is not modelled");
    }
  }
}

// The newer `layer_types` list, where present, overrides the family's layer pattern.
void apply_layer_types(model_config& m, const reader& r) {
  const json& j = r.j;
  const std::string& origin = r.origin;
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    const auto& lt = j["layer_types"];
    LMLAB_CHECK_HINT(lt.size() == m.layers.size(), "one entry per layer", "{}: layer_types has {} entries, {} layers",
                     origin, lt.size(), m.layers.size());
    for (std::size_t i = 0; i < lt.size(); ++i) {
      LMLAB_CHECK(lt[i].is_string(), "{}: layer_types[{}] must be a string", origin, i);
      m.layers[i].kind = mixer_from_layer_type(lt[i].get<std::string>(), origin, i);
    }
    if (m.count(mixer::sliding) > 0 && m.sliding_window == 0) m.sliding_window = r.integer("sliding_window");
  }
}

model_config parse_hf_config_fields(std::string_view json_text, const std::string& origin) {
  json j;
  try {
    j = json::parse(json_text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw error(fmt::format("{}: not valid JSON: {}", origin, e.what()), "a Hugging Face config.json is one JSON object");
  }
  LMLAB_CHECK_HINT(j.is_object(), "a Hugging Face config.json is one JSON object", "{}: top level is not an object",
                   origin);
  reader r{j, origin};
  model_config m;
  LMLAB_CHECK_HINT(r.has("model_type") && j["model_type"].is_string(),
                   "add \"model_type\": \"llama\" (or mistral, mixtral, qwen2, gemma2, deepseek_v3, mamba, jamba, ...)",
                   "{}: field 'model_type' is missing", origin);
  m.model_type = j["model_type"].get<std::string>();
  m.name = j.value("_name", std::filesystem::path(origin).stem().string());
  m.source = j.value("_source", std::string("user config: ") + origin);
  const std::string& t = m.model_type;

  if (t == "llama" || t == "mistral" || t == "qwen2" || t == "phi3" || t == "mixtral" || t == "gemma2" ||
      t == "gemma") {
    read_llama_family(m, r);
  } else if (t == "falcon") {
    read_falcon(m, r);
  } else if (t == "deepseek_v2" || t == "deepseek_v3") {
    read_deepseek(m, r);
  } else if (t == "mamba") {
    read_mamba(m, r);
  } else if (t == "jamba") {
    read_jamba(m, r);
  } else if (t == "recurrent_gemma") {
    read_recurrent_gemma(m, r);
  } else if (t == "rwkv") {
    read_rwkv(m, r);
  } else if (t == "lmlab-lm") {
    read_lmlab(m, r);
  } else {
    throw error(fmt::format("{}: model_type '{}' is not supported", origin, t),
                "supported: llama, mistral, mixtral, qwen2, phi3, gemma, gemma2, falcon, deepseek_v2, deepseek_v3, "
                "mamba, jamba, recurrent_gemma, rwkv, lmlab-lm (lmlab's own checkpoints); or pass --pattern to describe the layers");
  }
  LMLAB_CHECK_HINT(m.n_kv_heads <= 0 || m.n_heads % m.n_kv_heads == 0,
                   "key/value heads are shared by equal groups of query heads (GQA)",
                   "{}: num_key_value_heads {} does not divide num_attention_heads {}", origin, m.n_kv_heads, m.n_heads);
  apply_layer_types(m, r);
  return m;
}

}  // namespace

model_config parse_hf_config(std::string_view json_text, const std::string& origin) {
  try {
    return parse_hf_config_fields(json_text, origin);
  } catch (const json::exception& e) {  // a field of an unexpected type deep in a model family's reader
    throw error(fmt::format("{}: {}", origin, e.what()), "is this a Hugging Face config.json for a supported model_type?");
  }
}

model_config load_hf_config(const std::filesystem::path& path) {
  return parse_hf_config(read_text_file(path), path.string());
}

void apply_layer_pattern(model_config& m, std::string_view pattern) {
  std::vector<layer_spec> specs;
  for (char c : pattern) {
    if (c == ',' || c == ' ') continue;
    layer_spec s;
    s.moe = std::islower(static_cast<unsigned char>(c)) != 0;
    switch (std::toupper(static_cast<unsigned char>(c))) {
      case 'A': s.kind = mixer::attention; break;
      case 'S': s.kind = mixer::sliding; break;
      case 'L': s.kind = mixer::mla; break;
      case 'M': s.kind = mixer::mamba; break;
      case 'R': s.kind = mixer::rwkv; break;
      case 'G': s.kind = mixer::rglru; break;
      default:
        throw error(fmt::format("--pattern: unknown layer letter '{}' in '{}'", c, pattern),
                    "letters: A attention, S sliding, L MLA, M mamba, R rwkv, G rg-lru; lower case = MoE");
    }
    specs.push_back(s);
  }
  LMLAB_CHECK_HINT(!specs.empty(), "e.g. --pattern MMMA", "--pattern: '{}' names no layers", pattern);
  m.layers.resize(static_cast<std::size_t>(m.n_layers));
  for (std::size_t i = 0; i < m.layers.size(); ++i) m.layers[i] = specs[i % specs.size()];
  for (const auto& l : m.layers) {
    if (l.kind == mixer::sliding)
      LMLAB_CHECK_HINT(m.sliding_window > 0, "pass --window or use a config with sliding_window",
                       "--pattern: sliding layers need a window size");
    if (l.kind == mixer::mamba && m.ssm_inner == 0) m.ssm_inner = 2 * m.hidden, m.ssm_state = 16, m.ssm_conv = 4,
                                                      m.ssm_dt_rank = (m.hidden + 15) / 16;
    if (l.kind == mixer::rglru && m.lru_width == 0) m.lru_width = m.hidden, m.rglru_conv = 4;
    if (l.kind == mixer::mla)
      LMLAB_CHECK_HINT(m.kv_lora_rank > 0, "MLA layers need kv_lora_rank from a DeepSeek config",
                       "--pattern: MLA layers need kv_lora_rank");
    if (l.moe)
      LMLAB_CHECK_HINT(m.n_experts > 0, "MoE layers need num_experts / num_experts_per_tok in the config",
                       "--pattern: lower-case (MoE) layers need an expert count");
  }
}

// ---- parameter counts ------------------------------------------------------------------------

namespace {

struct layer_params {
  double dense = 0;   // always used
  double expert = 0;  // routed experts (all of them)
  double active_expert = 0;
};

double mixer_params(const model_config& m, mixer k) {
  const double h = static_cast<double>(m.hidden);
  switch (k) {
    case mixer::attention:
    case mixer::sliding: {
      const double q = static_cast<double>(m.n_heads * m.head_dim), kv = static_cast<double>(m.n_kv_heads * m.head_dim);
      double p = h * q + 2 * h * kv + q * h;
      if (m.qkv_bias) p += q + 2 * kv;
      if (m.model_type == "recurrent_gemma") p += h;  // o_proj has a bias
      return p;
    }
    case mixer::mla: {
      // ref: DeepSeek-V2 (arXiv:2405.04434) Section 2.1.2; transformers modeling_deepseek_v3.py
      const double nh = static_cast<double>(m.n_heads);
      const double qk = static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim);
      double p = 0;
      if (m.q_lora_rank > 0)
        p += h * m.q_lora_rank + m.q_lora_rank + static_cast<double>(m.q_lora_rank) * nh * qk;
      else
        p += h * nh * qk;
      p += h * static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank;
      p += static_cast<double>(m.kv_lora_rank) * nh * static_cast<double>(m.qk_nope_head_dim + m.v_head_dim);
      p += nh * m.v_head_dim * h;
      return p;
    }
    case mixer::mamba: {
      // ref: Gu & Dao 2023 (Mamba); transformers modeling_mamba.py (in_proj, conv1d, x_proj,
      // dt_proj, A_log, D, out_proj)
      const double di = static_cast<double>(m.ssm_inner), ds = static_cast<double>(m.ssm_state);
      const double r = static_cast<double>(m.ssm_dt_rank);
      double p = h * 2 * di + di * m.ssm_conv + di + di * (r + 2 * ds) + r * di + di + di * ds + di + di * h;
      if (m.model_type == "jamba") p += r + 2 * ds;  // dt/B/C RMSNorms
      return p;
    }
    case mixer::rwkv: {
      // ref: transformers modeling_rwkv.py RwkvSelfAttention: key/value/receptance/output + 5 vectors
      return 4 * h * h + 5 * h;
    }
    case mixer::rglru: {
      // ref: transformers modeling_recurrent_gemma.py RecurrentGemmaRecurrentBlock
      const double w = static_cast<double>(m.lru_width);
      // lmlab's RG-LRU (models/mixers_recurrent.cpp) has full w x w gates, not per-head blocks.
      const double heads = m.model_type == "lmlab-lm" ? 1.0 : static_cast<double>(m.n_heads), bw = w / heads;
      return 2 * (h * w + w) + (w * h + h) + w * m.rglru_conv + w + 2 * (heads * bw * bw + w) + w;
    }
  }
  return 0;
}

double mlp_params(const model_config& m, double inter) {
  const double h = static_cast<double>(m.hidden);
  if (m.model_type == "rwkv") return h * inter + inter * h + h * h + 2 * h;  // key, value, receptance, 2 mixes
  if (m.model_type == "recurrent_gemma") return 3 * h * (inter / 2) + 2 * (inter / 2) + h;  // biased, width/2
  return (m.gated_mlp ? 3.0 : 2.0) * h * inter;
}

layer_params params_of(const model_config& m, const layer_spec& l) {
  layer_params p;
  const double h = static_cast<double>(m.hidden);
  p.dense = mixer_params(m, l.kind) + m.norms_per_layer * h;
  const bool pure_mamba = l.kind == mixer::mamba && m.model_type == "mamba";
  if (pure_mamba) return p;  // Mamba blocks have no MLP
  if (l.moe) {
    const double e = mlp_params(m, static_cast<double>(m.moe_intermediate));
    p.expert = e * m.n_experts;
    p.active_expert = e * m.n_active_experts;
    p.dense += h * m.n_experts + e * m.n_shared_experts;  // router + shared experts
    if (m.model_type == "deepseek_v3") p.dense += m.n_experts;  // e_score_correction_bias
  } else {
    const double inter = static_cast<double>(m.intermediate);
    if (m.model_type == "lmlab-lm" && l.kind == mixer::rwkv)  // lmlab's W blocks use RWKV's channel mix as FFN
      p.dense += h * inter + inter * h + h * h + 2 * h;
    else if (m.model_type == "rwkv" || m.intermediate > 0)
      p.dense += mlp_params(m, inter);
  }
  return p;
}

double embedding_params(const model_config& m) {
  const double e = static_cast<double>(m.vocab) * m.hidden;
  double p = e * (m.tie_embeddings ? 1 : 2) + m.hidden;  // + final norm
  if (m.model_type == "falcon" || m.model_type == "rwkv") p += m.hidden;  // LayerNorm bias
  if (m.model_type == "rwkv") p += 2.0 * m.hidden;                       // pre-LN on layer 0
  return p;
}

// start + the sum over the layers of f(the layer's parameter counts), added in layer order.
template <class F>
double sum_over_layers(const model_config& m, double start, F f) {
  double p = start;
  for (const auto& l : m.layers) p += f(params_of(m, l));
  return p;
}

}  // namespace

double model_config::params_total() const {
  return sum_over_layers(*this, embedding_params(*this), [](const auto& lp) { return lp.dense + lp.expert; });
}

double model_config::params_active() const {
  return sum_over_layers(*this, embedding_params(*this), [](const auto& lp) { return lp.dense + lp.active_expert; });
}

double model_config::params_expert() const {
  return sum_over_layers(*this, 0, [](const auto& lp) { return lp.expert; });
}

std::int64_t model_config::count(mixer k) const {
  return std::count_if(layers.begin(), layers.end(), [&](const layer_spec& l) { return l.kind == k; });
}

double model_config::kv_cache_bytes(double context, double bytes) const {
  double elems = 0;
  const double kv = 2.0 * static_cast<double>(n_kv_heads * head_dim);  // K and V
  for (const auto& l : layers) {
    switch (l.kind) {
      case mixer::attention: elems += kv * context; break;
      case mixer::sliding: elems += kv * std::min(context, static_cast<double>(sliding_window)); break;
      // ref: DeepSeek-V2 Table 1: MLA caches (d_c + d_h^R) elements per token per layer
      case mixer::mla: elems += static_cast<double>(kv_lora_rank + qk_rope_head_dim) * context; break;
      default: break;
    }
  }
  return elems * bytes;
}

double model_config::state_bytes(double bytes) const {
  double elems = 0;
  for (const auto& l : layers) {
    switch (l.kind) {
      // transformers MambaCache: conv_states (d_inner, d_conv) + ssm_states (d_inner, d_state)
      case mixer::mamba: elems += static_cast<double>(ssm_inner) * static_cast<double>(ssm_conv + ssm_state); break;
      // transformers modeling_rwkv.py: 5 state vectors of hidden_size per layer
      case mixer::rwkv: elems += 5.0 * static_cast<double>(hidden); break;
      // transformers modeling_recurrent_gemma.py: conv1d_state (lru_width, conv1d_width-1) + rg_lru state
      case mixer::rglru: elems += static_cast<double>(lru_width) * static_cast<double>(rglru_conv); break;
      default: break;
    }
  }
  return elems * bytes;
}

// ---- catalog ------------------------------------------------------------------------------------

std::filesystem::path plan_data_dir() {
  if (const char* env = std::getenv("LMLAB_PLAN_DATA"); env && *env) return env;
  if (std::filesystem::exists("data/plan/models")) return "data/plan";
#ifdef LMLAB_PLAN_DATA_DIR
  return LMLAB_PLAN_DATA_DIR;
#else
  return "data/plan";
#endif
}

std::vector<std::string> catalog_model_names() {
  std::vector<std::string> names;
  const auto dir = plan_data_dir() / "models";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

model_config load_model(std::string_view name_or_path) {
  const std::filesystem::path p(name_or_path);
  if (p.extension() == ".json" || name_or_path.find('/') != std::string_view::npos) {
    LMLAB_CHECK_HINT(std::filesystem::exists(p), "pass a catalog name (lmlab plan memory --list) or a config.json path",
                     "--model: file '{}' does not exist", name_or_path);
    return load_hf_config(p);
  }
  const auto file = plan_data_dir() / "models" / (std::string(name_or_path) + ".json");
  if (!std::filesystem::exists(file)) {
    std::string known;
    for (const auto& n : catalog_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw error(fmt::format("--model: unknown model '{}'", name_or_path),
                fmt::format("known models: {} (or a path to a config.json)", known.empty() ? "(catalog not found)" : known));
  }
  return load_hf_config(file);
}

}  // namespace lmlab::plan
