// GGUF <-> zoo model: see import.hpp.
#include "models/import.hpp"

#include <cstring>
#include <fstream>
#include <set>

#include "core/error.hpp"

namespace lmlab::models {

namespace {
using nn::gguf_type;
using nn::gguf_value;
using nn::ggml_type;

// Per-block tensors: GGUF suffix -> lmlab suffix (after "blocks.N."), and whether the rows
// are a rotary q/k projection.
struct block_name {
  const char* gguf;
  const char* lmlab;
  bool rotary;
};
const std::vector<block_name>& block_names() {
  static const std::vector<block_name> v = {
      {"attn_norm.weight", "ln1.weight", false},    {"attn_q.weight", "attn.w_q", true},
      {"attn_q.bias", "attn.b_q", true},            {"attn_k.weight", "attn.w_k", true},
      {"attn_k.bias", "attn.b_k", true},            {"attn_v.weight", "attn.w_v", false},
      {"attn_v.bias", "attn.b_v", false},           {"attn_output.weight", "attn.w_o", false},
      {"ffn_norm.weight", "ln2.weight", false},     {"ffn_gate.weight", "mlp.w_gate", false},
      {"ffn_down.weight", "mlp.w_out", false},      {"ffn_up.weight", "mlp.w_in", false},
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
      if (is_bias && !c.bias) continue;
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

}  // namespace lmlab::models
