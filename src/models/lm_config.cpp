// The zoo model's config: field table, validation, JSON and config.json: see lm_config.hpp.
#include "models/lm_config.hpp"

#include <cmath>
#include <cstdint>
#include <set>

#include "core/checked.hpp"

namespace lmlab::models {

namespace {

const std::set<std::string> kPos = {"learned", "sinusoidal", "rope", "pi", "ntk", "dynamic-ntk", "yarn",
                                    "llama3", "alibi", "fire", "none"};
const std::set<std::string> kScaling = {"none", "linear", "ntk", "dynamic", "yarn", "llama3"};


// Every size field of a config: at most 2^31 - 1 (token ids are int32, and products of two
// sizes must fit in 64 bits), so that a hostile config.json is an error, not a wrapped size.
constexpr std::int64_t kMaxSize = (std::int64_t{1} << 31) - 1;
void check_size_field(const std::string& prefix, const char* key, std::int64_t v) {
  LMLAB_CHECK_HINT(v <= kMaxSize, "sizes of lmlab models are at most 2147483647 (2^31 - 1)",
                   "{}{}: {} is too large (at most {})", prefix, key, v, kMaxSize);
}

}  // namespace

const char* field_kind_name(field_kind k) {
  switch (k) {
    case field_kind::integer: return "an integer";
    case field_kind::number: return "a number";
    case field_kind::boolean: return "true or false";
    case field_kind::string: return "a string";
  }
  return "?";
}

#define LMLAB_MF(member, key, k, doc) \
  model_field { key, field_kind::k, doc, [](lm_config& c) -> void* { return &c.member; } }

const std::vector<model_field>& model_fields() {
  static const std::vector<model_field> f = {
      LMLAB_MF(vocab_size, "vocab_size", integer, "vocabulary size; 0 = the tokenizer's"),
      LMLAB_MF(d_model, "d_model", integer, "residual width (hidden_size)"),
      LMLAB_MF(n_layers, "n_layers", integer, "blocks"),
      LMLAB_MF(n_heads, "n_heads", integer, "attention/retention heads (must divide d_model)"),
      LMLAB_MF(n_ctx, "n_ctx", integer, "context length (learned positions; RoPE's trained length)"),
      LMLAB_MF(d_mlp, "d_mlp", integer, "FFN width; 0 = 4 * d_model (swiglu: 8/3 * d_model)"),
      LMLAB_MF(tie_embeddings, "tie_embeddings", boolean, "share wte with the output head"),
      LMLAB_MF(dropout, "dropout", number, "dropout on embeddings and residual branches"),
      LMLAB_MF(layer_norm_eps, "layer_norm_eps", number, "norm epsilon"),
      LMLAB_MF(init_std, "init_std", number, "std of the normal initialisation"),
      LMLAB_MF(n_kv_heads, "n_kv_heads", integer, "key/value heads (GQA/MQA); 0 = n_heads"),
      LMLAB_MF(bias, "bias", boolean, "biases in attention projections and MLPs"),
      LMLAB_MF(pattern, "pattern", string, "mixer per block from A M R W T, repeated (e.g. MMMAMMMM, RRA)"),
      LMLAB_MF(norm, "norm", string, "layernorm | rmsnorm"),
      LMLAB_MF(ffn, "ffn", string, "gelu | swiglu | moe"),
      LMLAB_MF(pos_encoding, "pos_encoding", string,
               "learned | sinusoidal | rope | pi | ntk | dynamic-ntk | yarn | llama3 | alibi | fire | none"),
      LMLAB_MF(rope_theta, "rope_theta", number, "RoPE base"),
      LMLAB_MF(rope_scaling.type, "rope_scaling.type", string, "none | linear | ntk | dynamic | yarn | llama3"),
      LMLAB_MF(rope_scaling.factor, "rope_scaling.factor", number, "context extension factor s"),
      LMLAB_MF(rope_scaling.original_max_position_embeddings, "rope_scaling.original_max_position_embeddings", integer,
               "trained context L0 of the scaling rule; 0 = n_ctx"),
      LMLAB_MF(rope_scaling.beta_fast, "rope_scaling.beta_fast", number, "YaRN ramp start (rotations)"),
      LMLAB_MF(rope_scaling.beta_slow, "rope_scaling.beta_slow", number, "YaRN ramp end (rotations)"),
      LMLAB_MF(rope_scaling.low_freq_factor, "rope_scaling.low_freq_factor", number, "llama3 low-frequency factor"),
      LMLAB_MF(rope_scaling.high_freq_factor, "rope_scaling.high_freq_factor", number, "llama3 high-frequency factor"),
      LMLAB_MF(window, "window", integer, "sliding-window attention span; 0 = full"),
      LMLAB_MF(attn_conv, "attn_conv", integer, "short causal conv on the attention input (kernel); 0 = off"),
      LMLAB_MF(n_experts, "n_experts", integer, "MoE experts"),
      LMLAB_MF(top_k, "top_k", integer, "MoE experts per token"),
      LMLAB_MF(capacity_factor, "capacity_factor", number, "MoE capacity factor; 0 = unlimited"),
      LMLAB_MF(aux_loss_coef, "aux_loss_coef", number, "weight of the Switch load-balancing loss"),
      LMLAB_MF(mod_capacity, "mod_capacity", number, "Mixture-of-Depths capacity ratio; 0 = off"),
      LMLAB_MF(mod_every, "mod_every", integer, "MoD routes every mod_every-th block"),
      LMLAB_MF(mod_aux_loss_coef, "mod_aux_loss_coef", number,
               "weight of the MoD sampling predictor's BCE (router r > 0 vs top-k); 0 = off"),
      LMLAB_MF(d_state, "d_state", integer, "Mamba state size N"),
      LMLAB_MF(d_conv, "d_conv", integer, "Mamba/Griffin causal conv width"),
      LMLAB_MF(expand, "expand", integer, "Mamba inner width = expand * d_model"),
      LMLAB_MF(dt_rank, "dt_rank", integer, "Mamba delta rank; 0 = ceil(d_model / 16)"),
      LMLAB_MF(lru_width, "lru_width", integer, "Griffin RG-LRU width; 0 = d_model"),
  };
  return f;
}
#undef LMLAB_MF

std::int64_t lm_config::mlp_width() const {
  if (d_mlp > 0) return d_mlp;
  if (ffn == "swiglu") return ((8 * d_model / 3) + 7) / 8 * 8;
  return 4 * d_model;
}

char lm_config::mixer_of(std::int64_t layer) const {
  return pattern.empty() ? 'A' : pattern[static_cast<std::size_t>(layer) % pattern.size()];
}

bool lm_config::uses_rope() const {
  static const std::set<std::string> r = {"rope", "pi", "ntk", "dynamic-ntk", "yarn", "llama3"};
  return r.count(pos_encoding) != 0;
}

rope_config lm_config::rope() const {
  rope_config r;
  r.theta = rope_theta;
  r.dim = d_head();
  r.max_position_embeddings = n_ctx;
  std::string t = rope_scaling.type;
  if (t == "none") {
    if (pos_encoding == "pi") t = "linear";
    else if (pos_encoding == "ntk") t = "ntk";
    else if (pos_encoding == "dynamic-ntk") t = "dynamic";
    else if (pos_encoding == "yarn") t = "yarn";
    else if (pos_encoding == "llama3") t = "llama3";
  }
  r.type = t == "none" ? rope_type::default_rope : parse_rope_type(t);
  r.factor = rope_scaling.factor;
  const std::int64_t orig = rope_scaling.original_max_position_embeddings;
  if (r.type == rope_type::llama3) r.original_max_position_embeddings = orig > 0 ? orig : n_ctx;
  else r.original_max_position_embeddings = orig;
  // For linear/ntk/dynamic HF reads max_position_embeddings as the trained length; when the
  // user names the original length explicitly, that is the trained length.
  if (orig > 0 && r.type != rope_type::llama3 && r.type != rope_type::yarn) r.max_position_embeddings = orig;
  r.beta_fast = rope_scaling.beta_fast;
  r.beta_slow = rope_scaling.beta_slow;
  r.low_freq_factor = rope_scaling.low_freq_factor;
  r.high_freq_factor = rope_scaling.high_freq_factor;
  return r;
}

void validate_transformer_fields(const std::string& prefix, std::int64_t vocab_size, std::int64_t d_model,
                                 std::int64_t n_layers, std::int64_t n_heads, std::int64_t n_ctx, std::int64_t d_mlp,
                                 double dropout, double layer_norm_eps, double init_std) {
  const std::string hint = "see configs/gpt-brown.toml for a working model section";
  check_size_field(prefix, "vocab_size", vocab_size);
  check_size_field(prefix, "d_model", d_model);
  check_size_field(prefix, "n_layers", n_layers);
  check_size_field(prefix, "n_heads", n_heads);
  check_size_field(prefix, "n_ctx", n_ctx);
  check_size_field(prefix, "d_mlp", d_mlp);
  LMLAB_CHECK_HINT(vocab_size > 0, hint, "{}vocab_size: must be positive, got {}", prefix, vocab_size);
  LMLAB_CHECK_HINT(d_model > 0, hint, "{}d_model: must be positive, got {}", prefix, d_model);
  LMLAB_CHECK_HINT(n_layers > 0, hint, "{}n_layers: must be positive, got {}", prefix, n_layers);
  LMLAB_CHECK_HINT(n_heads > 0, hint, "{}n_heads: must be positive, got {}", prefix, n_heads);
  LMLAB_CHECK_HINT(d_model % n_heads == 0, "pick n_heads dividing d_model (d_head = d_model / n_heads)",
                   "{}d_model: {} is not divisible by {}n_heads = {}", prefix, d_model, prefix, n_heads);
  LMLAB_CHECK_HINT(n_ctx > 0, hint, "{}n_ctx: must be positive, got {}", prefix, n_ctx);
  LMLAB_CHECK_HINT(d_mlp >= 0, hint, "{}d_mlp: must be >= 0 (0 means 4 * d_model), got {}", prefix, d_mlp);
  LMLAB_CHECK_HINT(dropout >= 0 && dropout < 1, hint, "{}dropout: must be in [0, 1), got {}", prefix, dropout);
  LMLAB_CHECK_HINT(layer_norm_eps > 0, hint, "{}layer_norm_eps: must be positive, got {}", prefix, layer_norm_eps);
  LMLAB_CHECK_HINT(init_std > 0, hint, "{}init_std: must be positive, got {}", prefix, init_std);
  // A lower bound on the weights (embedding + per block 4 C^2 for the mixer and 2 C M for the
  // FFN), so that a model that can never fit is refused before anything is allocated.
  const double C = static_cast<double>(d_model), M = d_mlp > 0 ? static_cast<double>(d_mlp) : 4 * C;
  const double params = static_cast<double>(vocab_size) * C + static_cast<double>(n_layers) * (4 * C * C + 2 * C * M);
  const double limit = static_cast<double>(tensor_memory_limit());
  LMLAB_CHECK_HINT(4 * params <= limit, "lower n_layers, d_model, d_mlp or vocab_size",
                   "{}: the model has at least {:.3g} parameters ({} as f32), more than the memory limit of {}",
                   prefix.empty() ? "model" : prefix.substr(0, prefix.size() - 1), params, format_bytes(4 * params),
                   format_bytes(limit));
}

void lm_config::validate(const std::string& prefix) const {
  lm_config c = *this;
  for (const auto& f : model_fields())
    if (f.kind == field_kind::integer) check_size_field(prefix, f.key, *static_cast<const std::int64_t*>(f.ref(c)));
  validate_transformer_fields(prefix, vocab_size, d_model, n_layers, n_heads, n_ctx, d_mlp, dropout, layer_norm_eps,
                              init_std);
  LMLAB_CHECK_HINT(n_kv_heads >= 0 && (n_kv_heads == 0 || n_heads % n_kv_heads == 0),
                   "n_kv_heads = n_heads is MHA, 1 is MQA, a divisor in between is GQA",
                   "{}n_kv_heads: {} does not divide {}n_heads = {}", prefix, n_kv_heads, prefix, n_heads);
  LMLAB_CHECK_HINT(!pattern.empty(), "e.g. pattern = \"A\" (GPT), \"MMMAMMMM\" (Jamba 1:7), \"RRA\" (Griffin)",
                   "{}pattern: must not be empty", prefix);
  for (char ch : pattern)
    LMLAB_CHECK_HINT(std::string("AMRWT").find(ch) != std::string::npos,
                     "A attention, M Mamba, R Griffin RG-LRU, W RWKV-4, T RetNet retention",
                     "{}pattern: unknown mixer '{}' in \"{}\"", prefix, ch, pattern);
  LMLAB_CHECK_HINT(n_layers % static_cast<std::int64_t>(pattern.size()) == 0,
                   "make n_layers a multiple of the pattern's length (the pattern repeats)",
                   "{}pattern: \"{}\" has {} letters, which do not divide {}n_layers = {}", prefix, pattern,
                   pattern.size(), prefix, n_layers);
  LMLAB_CHECK_HINT(norm == "layernorm" || norm == "rmsnorm", "layernorm | rmsnorm", "{}norm: unknown norm '{}'", prefix,
                   norm);
  LMLAB_CHECK_HINT(ffn == "gelu" || ffn == "swiglu" || ffn == "moe", "gelu | swiglu | moe", "{}ffn: unknown ffn '{}'",
                   prefix, ffn);
  LMLAB_CHECK_HINT(kPos.count(pos_encoding) != 0,
                   "learned | sinusoidal | rope | pi | ntk | dynamic-ntk | yarn | llama3 | alibi | fire | none",
                   "{}pos_encoding: unknown encoding '{}'", prefix, pos_encoding);
  LMLAB_CHECK_HINT(kScaling.count(rope_scaling.type) != 0, "none | linear | ntk | dynamic | yarn | llama3",
                   "{}rope_scaling.type: unknown type '{}'", prefix, rope_scaling.type);
  LMLAB_CHECK_HINT(rope_scaling.factor >= 1, "1 means no scaling", "{}rope_scaling.factor: must be >= 1, got {}", prefix,
                   rope_scaling.factor);
  LMLAB_CHECK(rope_theta > 0, "{}rope_theta: must be positive, got {}", prefix, rope_theta);
  LMLAB_CHECK_HINT(!uses_rope() || d_head() % 2 == 0, "RoPE rotates pairs of features",
                   "{}n_heads: rope needs an even head size, got d_head = {}", prefix, d_head());
  LMLAB_CHECK(window >= 0, "{}window: must be >= 0 (0 = full attention), got {}", prefix, window);
  if (ffn == "moe") {
    LMLAB_CHECK(n_experts >= 1, "{}n_experts: must be >= 1, got {}", prefix, n_experts);
    LMLAB_CHECK_HINT(top_k >= 1 && top_k <= n_experts, "1 <= top_k <= n_experts",
                     "{}top_k: {} is not in [1, n_experts = {}]", prefix, top_k, n_experts);
  }
  LMLAB_CHECK(capacity_factor >= 0, "{}capacity_factor: must be >= 0, got {}", prefix, capacity_factor);
  LMLAB_CHECK(aux_loss_coef >= 0, "{}aux_loss_coef: must be >= 0, got {}", prefix, aux_loss_coef);
  LMLAB_CHECK_HINT(mod_capacity >= 0 && mod_capacity <= 1, "Raposo et al. use 0.125",
                   "{}mod_capacity: must be in [0, 1], got {}", prefix, mod_capacity);
  LMLAB_CHECK(mod_every >= 1, "{}mod_every: must be >= 1, got {}", prefix, mod_every);
  LMLAB_CHECK_HINT(mod_aux_loss_coef >= 0 && std::isfinite(mod_aux_loss_coef),
                   "0 turns the MoD sampling predictor's loss off; 0.01 is the default",
                   "{}mod_aux_loss_coef: must be a finite number >= 0, got {}", prefix, mod_aux_loss_coef);
  LMLAB_CHECK(d_state >= 1, "{}d_state: must be >= 1, got {}", prefix, d_state);
  LMLAB_CHECK(d_conv >= 1, "{}d_conv: must be >= 1, got {}", prefix, d_conv);
  LMLAB_CHECK_HINT(attn_conv >= 0 && attn_conv <= 64, "0 turns it off; 3 or 4 is usual",
                   "{}attn_conv: must be in [0, 64], got {}", prefix, attn_conv);
  LMLAB_CHECK(expand >= 1, "{}expand: must be >= 1, got {}", prefix, expand);
  LMLAB_CHECK(dt_rank >= 0, "{}dt_rank: must be >= 0, got {}", prefix, dt_rank);
  LMLAB_CHECK(lru_width >= 0, "{}lru_width: must be >= 0, got {}", prefix, lru_width);
}

lm_config lm_config_from_json(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object(), "{}: the model config is not a JSON object", where);
  lm_config c;
  auto set = [&](const std::string& key, const nlohmann::json& v) {
    const model_field* f = nullptr;
    for (const auto& x : model_fields())
      if (key == x.key) f = &x;
    if (!f) {
      std::string known;
      for (const auto& x : model_fields()) known += (known.empty() ? "" : ", ") + std::string(x.key);
      throw error(fmt::format("{}: unknown key '{}'", where, key), "known keys: " + known);
    }
    void* p = f->ref(c);
    const auto bad = [&] {
      return error(fmt::format("{}: {}: expected {}, got {}", where, key, field_kind_name(f->kind), v.dump()), f->doc);
    };
    switch (f->kind) {
      case field_kind::integer:
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX)) throw bad();
        *static_cast<std::int64_t*>(p) = v.get<std::int64_t>();
        break;
      case field_kind::number:
        if (!v.is_number()) throw bad();
        *static_cast<double*>(p) = v.get<double>();
        break;
      case field_kind::boolean:
        if (!v.is_boolean()) throw bad();
        *static_cast<bool*>(p) = v.get<bool>();
        break;
      case field_kind::string:
        if (!v.is_string()) throw bad();
        *static_cast<std::string*>(p) = v.get<std::string>();
        break;
    }
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "rope_scaling" && it->is_object()) {
      for (auto s = it->begin(); s != it->end(); ++s) set("rope_scaling." + s.key(), *s);
    } else if (it.key() == "rope_scaling" && it->is_null()) {
      // no scaling
    } else {
      set(it.key(), *it);
    }
  }
  c.validate(where + ".");
  return c;
}

nlohmann::ordered_json to_json(const lm_config& c_in) {
  lm_config c = c_in;
  nlohmann::ordered_json j, rs;
  for (const auto& f : model_fields()) {
    void* p = f.ref(c);
    nlohmann::ordered_json v;
    switch (f.kind) {
      case field_kind::integer: v = *static_cast<std::int64_t*>(p); break;
      case field_kind::number: v = *static_cast<double*>(p); break;
      case field_kind::boolean: v = *static_cast<bool*>(p); break;
      case field_kind::string: v = *static_cast<std::string*>(p); break;
    }
    const std::string k = f.key;
    if (k.starts_with("rope_scaling.")) rs[k.substr(13)] = v;
    else j[k] = v;
  }
  j["rope_scaling"] = rs;
  return j;
}

// HF name <-> lmlab key for config.json.
namespace {
const std::vector<std::pair<const char*, const char*>>& hf_names() {
  static const std::vector<std::pair<const char*, const char*>> m = {
      {"d_model", "hidden_size"},           {"n_layers", "num_hidden_layers"},
      {"n_heads", "num_attention_heads"},   {"n_kv_heads", "num_key_value_heads"},
      {"n_ctx", "max_position_embeddings"}, {"d_mlp", "intermediate_size"},
      {"tie_embeddings", "tie_word_embeddings"}, {"window", "sliding_window"},
      {"n_experts", "num_experts"},         {"top_k", "num_experts_per_tok"},
      {"init_std", "initializer_range"},    {"aux_loss_coef", "router_aux_loss_coef"},
      {"pattern", "layer_pattern"}};
  return m;
}
}  // namespace

nlohmann::ordered_json to_hf_json(const lm_config& c) {
  nlohmann::ordered_json src = to_json(c), j;
  j["model_type"] = "lmlab-lm";
  j["architectures"] = {"LmlabLM"};
  src["n_kv_heads"] = c.kv_heads();
  src["d_mlp"] = c.mlp_width();
  for (auto it = src.begin(); it != src.end(); ++it) {
    std::string k = it.key();
    for (const auto& [a, b] : hf_names())
      if (k == a) k = b;
    if (k == "rope_scaling") {
      if (c.rope_scaling.type == "none") {
        j[k] = nullptr;
      } else {
        nlohmann::ordered_json r = *it;
        r["rope_type"] = r["type"];
        r.erase("type");
        j[k] = r;
      }
    } else {
      j[k] = *it;
    }
  }
  j["torch_dtype"] = "float32";
  return j;
}

// Checkpoints written before lmlab had one model class (model_type "lmlab-gpt", the fixed
// GPT-2 that lm's default config reproduces): the same parameter names (wte, wpe,
// blocks.N.{ln1,attn,ln2,mlp}.*, ln_f, lm_head), so only config.json's keys need mapping.
// tests/golden/test_gpt_golden.cpp loads one (tests/golden/fixtures/gpt_v1_checkpoint).
namespace {
lm_config lm_config_from_gpt_json(const nlohmann::json& j, const std::string& where) {
  static const std::set<std::string> known = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                               "max_position_embeddings", "intermediate_size", "tie_word_embeddings",
                                               "layer_norm_eps", "initializer_range", "dropout"};
  std::set<std::string> required = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                    "max_position_embeddings"};
  nlohmann::json k = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = it.key();
    required.erase(key);
    if (key == "model_type" || key == "architectures" || key == "torch_dtype") continue;
    if (key == "hidden_act") {
      LMLAB_CHECK(*it == "gelu", "{}: hidden_act {} is not supported (lmlab-gpt uses gelu)", where, it->dump());
      continue;
    }
    if (!known.count(key))
      throw error(fmt::format("{}: unknown key '{}'", where, key), fmt::format("known keys: {}", fmt::join(known, ", ")));
    for (const auto& [a, b] : hf_names())
      if (key == b) key = a;
    k[key] = *it;
  }
  LMLAB_CHECK(required.empty(), "{}: missing key '{}'", where, required.empty() ? "" : *required.begin());
  lm_config c = lm_config_from_json(k, where);
  if (c.d_mlp == 4 * c.d_model) c.d_mlp = 0;  // the default width, as written
  return c;
}
}  // namespace

lm_config lm_config_from_hf_json(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object(), "{}: the model config is not a JSON object", where);
  LMLAB_CHECK(!j.contains("model_type") || j["model_type"].is_string(), "{}: model_type must be a string, got {}", where,
              j.contains("model_type") ? j["model_type"].dump() : "");
  const std::string type = j.value("model_type", std::string("lmlab-gpt"));
  if (type == "lmlab-gpt") return lm_config_from_gpt_json(j, where);
  LMLAB_CHECK_HINT(type == "lmlab-lm", "lmlab reads checkpoints written by lmlab train (lmlab-lm, lmlab-gpt)",
                   "{}: model_type {} is not lmlab-lm", where, type);
  nlohmann::json k = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = it.key();
    if (key == "model_type" || key == "architectures" || key == "torch_dtype") continue;
    for (const auto& [a, b] : hf_names())
      if (key == b) key = a;
    if (key == "rope_scaling" && it->is_object()) {
      nlohmann::json r = *it;
      if (r.contains("rope_type")) {
        r["type"] = r["rope_type"];
        r.erase("rope_type");
      }
      k[key] = r;
    } else {
      k[key] = *it;
    }
  }
  lm_config c = lm_config_from_json(k, where);
  if (c.d_mlp == c.mlp_width() && c.d_mlp == (c.ffn == "swiglu" ? ((8 * c.d_model / 3) + 7) / 8 * 8 : 4 * c.d_model))
    c.d_mlp = 0;  // the default width, as written
  if (c.n_kv_heads == c.n_heads) c.n_kv_heads = 0;
  return c;
}

}  // namespace lmlab::models
