// GGUF <-> zoo model: see import.hpp.
#include "models/import.hpp"

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "nn/quant.hpp"
#include "nn/safetensors.hpp"

namespace lmlab::models {

namespace {
using nn::gguf_type;
using nn::gguf_value;
using nn::ggml_type;

// Per-block tensors: GGUF suffix, Hugging Face suffix (after "model.layers.N."), lmlab suffix
// (after "blocks.N."), and whether the rows are a rotary q/k projection.
struct block_name {
  const char* gguf;
  const char* hf;
  const char* lmlab;
  bool rotary;
};
const std::vector<block_name>& block_names() {
  static const std::vector<block_name> v = {
      {"attn_norm.weight", "input_layernorm.weight", "ln1.weight", false},
      {"attn_q.weight", "self_attn.q_proj.weight", "attn.w_q", true},
      {"attn_q.bias", "self_attn.q_proj.bias", "attn.b_q", true},
      {"attn_k.weight", "self_attn.k_proj.weight", "attn.w_k", true},
      {"attn_k.bias", "self_attn.k_proj.bias", "attn.b_k", true},
      {"attn_v.weight", "self_attn.v_proj.weight", "attn.w_v", false},
      {"attn_v.bias", "self_attn.v_proj.bias", "attn.b_v", false},
      {"attn_output.weight", "self_attn.o_proj.weight", "attn.w_o", false},
      {"attn_output.bias", "self_attn.o_proj.bias", "attn.b_o", false},
      {"ffn_norm.weight", "post_attention_layernorm.weight", "ln2.weight", false},
      {"ffn_gate.weight", "mlp.gate_proj.weight", "mlp.w_gate", false},
      {"ffn_down.weight", "mlp.down_proj.weight", "mlp.w_out", false},
      {"ffn_up.weight", "mlp.up_proj.weight", "mlp.w_in", false},
  };
  return v;
}

// Whether the architecture's GGUF stores q/k in the interleaved rotary layout.
bool interleaved(const std::string& arch) { return arch == "llama"; }

std::string arch_of(const nn::gguf_file& f) {
  const std::string arch = f.get_string("general.architecture");
  LMLAB_CHECK_HINT(arch == "llama" || arch == "qwen2",
                   "lmlab loads LLaMA-family GGUFs: general.architecture llama (LLaMA, Mistral, TinyLlama, SmolLM) or qwen2",
                   "{}: general.architecture = \"{}\" is not supported", f.where(), arch);
  return arch;
}
}  // namespace

tensor permute_rotary_rows(const tensor& w, std::int64_t n_heads, bool to_half) {
  const std::int64_t rows = w.size(0), cols = w.dim() == 2 ? w.size(1) : 1, D = rows / n_heads;
  LMLAB_CHECK(rows % n_heads == 0 && D % 2 == 0, "permute_rotary_rows: {} rows are not heads of an even size ({} heads)", rows, n_heads);
  tensor src = w.contiguous_raw();
  tensor out = tensor::empty(w.shape(), w.type());
  const float* s = src.data<float>();
  float* o = out.data<float>();
  for (std::int64_t h = 0; h < n_heads; ++h)
    for (std::int64_t i = 0; i < D / 2; ++i)
      for (int k = 0; k < 2; ++k) {
        const std::int64_t inter = h * D + 2 * i + k, half = h * D + k * (D / 2) + i;
        const std::int64_t from = to_half ? inter : half, to = to_half ? half : inter;
        std::memcpy(o + to * cols, s + from * cols, static_cast<std::size_t>(cols) * sizeof(float));
      }
  return out;
}

lm_config lm_config_from_gguf(const nn::gguf_file& f) {
  const std::string arch = arch_of(f);
  const std::string p = arch + ".";
  lm_config c;
  c.norm = "rmsnorm";
  c.ffn = "swiglu";
  c.pos_encoding = "rope";
  c.bias = arch == "qwen2";
  c.d_model = f.get_int(p + "embedding_length");
  c.n_layers = f.get_int(p + "block_count");
  c.n_heads = f.get_int(p + "attention.head_count");
  c.n_kv_heads = f.get_int(p + "attention.head_count_kv", c.n_heads);
  c.d_mlp = f.get_int(p + "feed_forward_length");
  c.n_ctx = f.get_int(p + "context_length");
  c.layer_norm_eps = f.get_float(p + "attention.layer_norm_rms_epsilon", 1e-5);
  c.rope_theta = f.get_float(p + "rope.freq_base", 10000.0);
  const nn::gguf_tensor_info* emb = f.find_tensor("token_embd.weight");
  LMLAB_CHECK(emb != nullptr && emb->ne.size() == 2, "{}: tensor token_embd.weight is missing or not 2-D", f.where());
  c.vocab_size = emb->ne[1];
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  LMLAB_CHECK_HINT(c.n_heads > 0 && c.d_model % c.n_heads == 0, "embedding_length must be head_count * head size",
                   "{}: {}attention.head_count = {} does not divide {}embedding_length = {}", f.where(), p, c.n_heads, p, c.d_model);
  const std::int64_t D = c.d_model / c.n_heads;
  LMLAB_CHECK_HINT(f.get_int(p + "rope.dimension_count", D) == D, "partial rotary embeddings are not supported",
                   "{}: {}rope.dimension_count = {} differs from the head size {}", f.where(), p, f.get_int(p + "rope.dimension_count"), D);
  for (const char* k : {"attention.key_length", "attention.value_length"})
    LMLAB_CHECK_HINT(f.get_int(p + k, D) == D, "heads whose size is not embedding_length / head_count are not supported",
                     "{}: {}{} = {} differs from embedding_length / head_count = {}", f.where(), p, k, f.get_int(p + k), D);
  LMLAB_CHECK_HINT(f.get_int(p + "expert_count", 0) == 0, "mixture-of-experts GGUFs are not supported", "{}: {}expert_count is set",
                   f.where(), p);
  if (const gguf_value* t = f.find(p + "rope.scaling.type")) {
    const std::string type = f.get_string(p + "rope.scaling.type");
    LMLAB_CHECK_HINT(type == "none" || type == "linear" || type == "yarn", "supported: none, linear, yarn",
                     "{}: {}rope.scaling.type = \"{}\" is not supported", f.where(), p, type);
    (void)t;
    if (type != "none") {
      c.rope_scaling.type = type;
      c.rope_scaling.factor = f.get_float(p + "rope.scaling.factor", 1.0);
      c.rope_scaling.original_max_position_embeddings = f.get_int(p + "rope.scaling.original_context_length", 0);
    }
  }
  c.validate(f.where() + ": ");
  return c;
}

std::unique_ptr<lm> lm_from_gguf(const nn::gguf_file& f) {
  const lm_config c = lm_config_from_gguf(f);
  const bool inter = interleaved(arch_of(f));
  auto m = std::make_unique<lm>(c, 0);
  m->eval();
  std::set<std::string> used;
  const auto load = [&](const std::string& gname, const std::string& lname, bool rotary, std::int64_t heads) {
    const nn::gguf_tensor_info* ti = f.find_tensor(gname);
    LMLAB_CHECK(ti != nullptr, "{}: tensor {} is missing (the model needs {})", f.where(), gname, lname);
    tensor dst = m->parameter(lname);
    tensor src = f.tensor_f32(gname);
    LMLAB_CHECK(src.shape() == dst.shape(), "{}: tensor {}: shape {} (ggml ne reversed), expected {} for {}", f.where(), gname,
                shape_str(src.shape()), shape_str(dst.shape()), lname);
    if (rotary && inter) src = permute_rotary_rows(src, heads, true);
    dst.copy_from(src);
    used.insert(gname);
  };
  load("token_embd.weight", "wte.weight", false, 0);
  load("output_norm.weight", "ln_f.weight", false, 0);
  if (!c.tie_embeddings) load("output.weight", "lm_head.weight", false, 0);
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".", b = "blocks." + std::to_string(l) + ".";
    for (const auto& n : block_names()) {
      const bool is_bias = std::string(n.gguf).ends_with(".bias");
      if (is_bias && (!c.bias || std::string(n.gguf) == "attn_output.bias")) continue;
      const std::int64_t heads = std::string(n.gguf).starts_with("attn_q") ? c.n_heads : c.kv_heads();
      load(g + n.gguf, b + n.lmlab, n.rotary, heads);
    }
    if (c.bias) m->parameter(b + "attn.b_o").copy_from(tensor::zeros({c.d_model}));  // Qwen2 has no output bias
  }
  for (const auto& t : f.tensors())
    LMLAB_CHECK_HINT(used.count(t.name) != 0 || t.name == "rope_freqs.weight", "lmlab maps the tensors of LLaMA-family GGUFs only",
                     "{}: tensor {} has no place in the model", f.where(), t.name);
  return m;
}

nn::gguf_builder gguf_from_lm(const lm& m, ggml_type weight_type, const std::vector<std::pair<std::string, gguf_value>>& base) {
  const lm_config& c = m.config();
  LMLAB_CHECK_HINT(c.norm == "rmsnorm" && c.ffn == "swiglu" && c.pos_encoding == "rope" && c.pattern == "A" && c.window == 0 &&
                       c.attn_conv == 0 && c.mod_capacity == 0,
                   "GGUF export covers LLaMA-shaped models: norm rmsnorm, ffn swiglu, pos_encoding rope, pattern A",
                   "gguf export: the model (norm {}, ffn {}, pos {}, pattern {}) is not LLaMA-shaped", c.norm, c.ffn, c.pos_encoding,
                   c.pattern);
  std::string arch = "llama";
  for (const auto& [k, v] : base)
    if (k == "general.architecture" && v.type == gguf_type::string) arch = v.s;
  LMLAB_CHECK(arch == "llama" || arch == "qwen2", "gguf export: general.architecture \"{}\" is not supported", arch);
  LMLAB_CHECK_HINT(c.bias == (arch == "qwen2"), "LLaMA has no biases; Qwen2 has q/k/v biases",
                   "gguf export: a model with bias = {} cannot be written as {}", c.bias, arch);
  nn::gguf_builder b;
  for (const auto& [k, v] : base) b.set(k, v);
  const std::string p = arch + ".";
  b.set("general.architecture", gguf_value::str(arch));
  const auto u32 = [&](const std::string& k, std::int64_t v) { b.set(p + k, gguf_value::u32(static_cast<std::uint32_t>(v))); };
  u32("context_length", c.n_ctx);
  u32("embedding_length", c.d_model);
  u32("feed_forward_length", c.mlp_width());
  u32("attention.head_count", c.n_heads);
  u32("attention.head_count_kv", c.kv_heads());
  u32("block_count", c.n_layers);
  u32("rope.dimension_count", c.d_head());
  b.set(p + "attention.layer_norm_rms_epsilon", gguf_value::f32(static_cast<float>(c.layer_norm_eps)));
  if (c.rope_theta != 10000.0) b.set(p + "rope.freq_base", gguf_value::f32(static_cast<float>(c.rope_theta)));
  if (c.rope_scaling.type != "none") {
    b.set(p + "rope.scaling.type", gguf_value::str(c.rope_scaling.type));
    b.set(p + "rope.scaling.factor", gguf_value::f32(static_cast<float>(c.rope_scaling.factor)));
    if (c.rope_scaling.original_max_position_embeddings > 0)
      u32("rope.scaling.original_context_length", c.rope_scaling.original_max_position_embeddings);
  }
  const bool inter = interleaved(arch);
  const auto put = [&](const std::string& gname, const std::string& lname, bool rotary, std::int64_t heads) {
    tensor t = m.parameter(lname).contiguous_raw();
    if (t.type() != dtype::f32) t = t.to_raw(dtype::f32);
    if (rotary && inter) t = permute_rotary_rows(t, heads, false);
    std::vector<std::int64_t> ne(t.shape().rbegin(), t.shape().rend());
    ggml_type type = t.dim() == 2 ? weight_type : ggml_type::f32;
    if (ne[0] % nn::ggml_block_size(type) != 0) type = ggml_type::f32;
    b.add_tensor(gname, ne, type, nn::ggml_encode(std::span<const float>(t.data<float>(), static_cast<std::size_t>(t.numel())), type));
  };
  put("token_embd.weight", "wte.weight", false, 0);
  put("output_norm.weight", "ln_f.weight", false, 0);
  if (!c.tie_embeddings) put("output.weight", "lm_head.weight", false, 0);
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".", bl = "blocks." + std::to_string(l) + ".";
    // llama.cpp's converter order: q, k, v, output, attn_norm, gate, down, up, ffn_norm.
    for (const char* s : {"attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias",
                          "attn_output.weight", "attn_norm.weight", "ffn_gate.weight", "ffn_down.weight", "ffn_up.weight",
                          "ffn_norm.weight"}) {
      const std::string gs = s;
      if (gs.ends_with(".bias") && !c.bias) continue;
      for (const auto& n : block_names())
        if (gs == n.gguf) put(g + gs, bl + n.lmlab, n.rotary, gs.starts_with("attn_q") ? c.n_heads : c.kv_heads());
    }
  }
  return b;
}

bool is_gguf_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in && in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// ---- Hugging Face ------------------------------------------------------------------------

namespace {

// Reads every tensor of one safetensors file as f32 (F32, F16 and BF16; Hugging Face
// checkpoints are usually BF16 or F16), calling put(name, tensor). nn::safetensors_file checks
// the header and that the offsets tile the data section before any read.
template <class F>
void read_hf_safetensors(const std::filesystem::path& path, F&& put) {
  const auto f = nn::safetensors_file::load(path);
  for (const auto& name : f.names()) {
    const tensor& t = f.get(name);
    LMLAB_CHECK_HINT(t.type() == dtype::f32, "lmlab reads F32, F16 and BF16 weights from Hugging Face safetensors",
                     "{}: tensor {}: dtype {} is not supported", path.string(), name, nn::safetensors_dtype_name(t.type()));
    put(name, t);
  }
}

const std::set<std::string>& hf_architectures() {
  static const std::set<std::string> a = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
  return a;
}
}  // namespace

nlohmann::json read_json_file(const std::filesystem::path& p) {
  try {
    return nlohmann::json::parse(read_text_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: invalid JSON: {}", p.string(), e.what()));
  }
}

bool is_hf_folder(const std::filesystem::path& dir) {
  const auto cfg = dir / "config.json";
  if (!std::filesystem::is_regular_file(cfg)) return false;
  const auto j = read_json_file(cfg);
  return j.is_object() && j.contains("architectures") && !j.value("model_type", std::string()).starts_with("lmlab");
}

lm_config lm_config_from_hf(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object() && j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty(),
              "{}: architectures is missing", where);
  const std::string arch = j["architectures"][0].get<std::string>();
  LMLAB_CHECK_HINT(hf_architectures().count(arch) != 0, "lmlab loads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM",
                   "{}: architectures[0] = \"{}\" is not supported", where, arch);
  const auto num = [&](const char* k, double fallback) {
    if (!j.contains(k) || j[k].is_null()) return fallback;
    LMLAB_CHECK(j[k].is_number(), "{}: {}: expected a number, got {}", where, k, j[k].dump());
    return j[k].get<double>();
  };
  const auto integer = [&](const char* k, std::int64_t fallback) {
    if (!j.contains(k) || j[k].is_null()) return fallback;
    LMLAB_CHECK(j[k].is_number_integer(), "{}: {}: expected an integer, got {}", where, k, j[k].dump());
    return j[k].get<std::int64_t>();
  };
  const auto flag = [&](const char* k, bool fallback) {
    if (!j.contains(k) || j[k].is_null()) return fallback;
    LMLAB_CHECK(j[k].is_boolean(), "{}: {}: expected true or false, got {}", where, k, j[k].dump());
    return j[k].get<bool>();
  };
  lm_config c;
  c.norm = "rmsnorm";
  c.ffn = "swiglu";
  c.pos_encoding = "rope";
  c.vocab_size = integer("vocab_size", 0);
  c.d_model = integer("hidden_size", 0);
  c.n_layers = integer("num_hidden_layers", 0);
  c.n_heads = integer("num_attention_heads", 0);
  c.n_kv_heads = integer("num_key_value_heads", c.n_heads);
  c.d_mlp = integer("intermediate_size", 0);
  c.n_ctx = integer("max_position_embeddings", 2048);
  c.layer_norm_eps = num("rms_norm_eps", 1e-6);
  c.rope_theta = num("rope_theta", 10000.0);
  c.tie_embeddings = flag("tie_word_embeddings", false);
  const bool qwen = arch == "Qwen2ForCausalLM";
  c.bias = qwen || flag("attention_bias", false);
  LMLAB_CHECK_HINT(!flag("mlp_bias", false), "SwiGLU MLPs with biases are not supported", "{}: mlp_bias is true", where);
  const std::string act = j.value("hidden_act", std::string("silu"));
  LMLAB_CHECK_HINT(act == "silu", "LLaMA-family MLPs use SiLU (SwiGLU)", "{}: hidden_act = \"{}\" is not supported", where, act);
  LMLAB_CHECK_HINT(c.n_heads > 0 && c.d_model % c.n_heads == 0 && integer("head_dim", c.d_model / c.n_heads) == c.d_model / c.n_heads,
                   "heads whose size is not hidden_size / num_attention_heads are not supported",
                   "{}: head_dim = {} differs from hidden_size / num_attention_heads", where, integer("head_dim", 0));
  // Mistral applies its sliding window always; Qwen2 only with use_sliding_window.
  const std::int64_t sw = integer("sliding_window", 0);
  if (sw > 0 && (arch == "MistralForCausalLM" || flag("use_sliding_window", false))) c.window = sw;
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    const auto& r = j["rope_scaling"];
    std::string type = r.value("rope_type", r.value("type", std::string("default")));
    if (type == "default") type = "none";
    LMLAB_CHECK_HINT(type == "none" || type == "linear" || type == "dynamic" || type == "yarn" || type == "llama3",
                     "supported: linear, dynamic, yarn, llama3", "{}: rope_scaling type \"{}\" is not supported", where, type);
    c.rope_scaling.type = type;
    c.rope_scaling.factor = r.value("factor", 1.0);
    c.rope_scaling.original_max_position_embeddings = r.value("original_max_position_embeddings", std::int64_t{0});
    c.rope_scaling.beta_fast = r.value("beta_fast", 32.0);
    c.rope_scaling.beta_slow = r.value("beta_slow", 1.0);
    c.rope_scaling.low_freq_factor = r.value("low_freq_factor", 1.0);
    c.rope_scaling.high_freq_factor = r.value("high_freq_factor", 4.0);
  }
  c.validate(where + ": ");
  return c;
}

std::unique_ptr<lm> lm_from_hf_folder(const std::filesystem::path& dir) {
  const auto cfg_path = dir / "config.json";
  LMLAB_CHECK_HINT(std::filesystem::is_regular_file(cfg_path), "a Hugging Face model folder holds config.json and *.safetensors",
                   "{}: config.json is missing", dir.string());
  const lm_config c = lm_config_from_hf(read_json_file(cfg_path), cfg_path.string());
  // The files: model.safetensors, or the shards that model.safetensors.index.json names.
  std::vector<std::filesystem::path> files;
  const auto index = dir / "model.safetensors.index.json";
  if (std::filesystem::is_regular_file(index)) {
    const auto j = read_json_file(index);
    LMLAB_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "{}: weight_map is missing", index.string());
    std::set<std::string> seen;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      LMLAB_CHECK(it->is_string() && it->get<std::string>().find('/') == std::string::npos,
                  "{}: weight_map.{}: expected a file name in the folder", index.string(), it.key());
      if (seen.insert(it->get<std::string>()).second) files.push_back(dir / it->get<std::string>());
    }
  } else {
    LMLAB_CHECK_HINT(std::filesystem::is_regular_file(dir / "model.safetensors"), "PyTorch .bin checkpoints are not read; convert to safetensors",
                     "{}: neither model.safetensors nor model.safetensors.index.json", dir.string());
    files.push_back(dir / "model.safetensors");
  }
  auto m = std::make_unique<lm>(c, 0);
  m->eval();
  // HF name -> lmlab name.
  std::map<std::string, std::string> names = {{"model.embed_tokens.weight", "wte.weight"}, {"model.norm.weight", "ln_f.weight"}};
  if (!c.tie_embeddings) names["lm_head.weight"] = "lm_head.weight";
  for (std::int64_t l = 0; l < c.n_layers; ++l)
    for (const auto& n : block_names()) {
      const std::string lname = "blocks." + std::to_string(l) + "." + n.lmlab;
      if (std::string(n.lmlab).starts_with("attn.b_") && !c.bias) continue;
      names["model.layers." + std::to_string(l) + "." + n.hf] = lname;
    }
  std::set<std::string> loaded;
  for (const auto& file : files)
    read_hf_safetensors(file, [&](const std::string& name, tensor t) {
      auto it = names.find(name);
      if (it == names.end()) {
        // Tied checkpoints may still carry lm_head.weight; old ones carry rotary tables.
        if ((name == "lm_head.weight" && c.tie_embeddings) || name.ends_with("rotary_emb.inv_freq")) return;
        throw error(fmt::format("{}: tensor {} has no place in a {}-layer LLaMA-family model", file.string(), name, c.n_layers));
      }
      tensor dst = m->parameter(it->second);
      LMLAB_CHECK(t.shape() == dst.shape(), "{}: tensor {}: shape {}, expected {} (config.json)", file.string(), name,
                  shape_str(t.shape()), shape_str(dst.shape()));
      dst.copy_from(t);
      loaded.insert(name);
    });
  for (const auto& [hf, lname] : names) {
    if (loaded.count(hf)) continue;
    // Qwen2 and attention_bias models without an o_proj bias keep it zero.
    if (hf.ends_with("o_proj.bias")) {
      m->parameter(lname).copy_from(tensor::zeros(m->parameter(lname).shape()));
      continue;
    }
    throw error(fmt::format("{}: tensor {} is missing", dir.string(), hf), "the safetensors files do not match config.json");
  }
  return m;
}

}  // namespace lmlab::models
