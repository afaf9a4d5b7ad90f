// Rotary and sinusoidal positional encodings: RoPE inverse frequencies for every scaling rule
// Hugging Face transformers implements (default, linear/PI, dynamic NTK, NTK-aware, YaRN,
// llama3), the cos/sin cache built from them, and apply_rotary (differentiable).
// The frequency rules follow the functions `_compute_*_parameters` in transformers'
// src/transformers/modeling_rope_utils.py (v4.4x); field names follow HF's `rope_scaling`.
// Not for: attention itself (ops/attention.hpp), ALiBi/FIRE biases (ops/alibi.hpp), choosing
// an encoding per model (models/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

enum class rope_type { default_rope, linear, dynamic, ntk, yarn, llama3 };

// "default", "linear", "dynamic", "ntk", "yarn", "llama3" (HF's `rope_type`); error otherwise.
rope_type parse_rope_type(std::string_view name);
const char* rope_type_name(rope_type t);

struct rope_config {
  rope_type type = rope_type::default_rope;
  double theta = 10000.0;                      // rope_theta
  std::int64_t dim = 0;                        // rotary dims = int(head_dim * partial_rotary_factor); even
  double factor = 1.0;                         // rope_scaling.factor
  std::int64_t max_position_embeddings = 2048; // the model's trained context (HF config field)
  // rope_scaling.original_max_position_embeddings: llama3 (required) and yarn (optional; when
  // set, YaRN's correction range uses it instead of max_position_embeddings).
  std::int64_t original_max_position_embeddings = 0;
  // YaRN.
  double beta_fast = 32.0, beta_slow = 1.0;
  double attention_factor = 0.0;               // 0: derived (YaRN: 0.1 ln(factor) + 1, or the mscale ratio)
  double mscale = 0.0, mscale_all_dim = 0.0;   // DeepSeek-style attention factor (both nonzero to use)
  bool truncate = true;                        // floor/ceil the correction range (HF default)
  // llama3.
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
};

struct rope_params {
  std::vector<double> inv_freq;  // (dim/2)
  double attention_factor = 1.0; // multiplies cos and sin (HF's post-processing scaling)
};

// The inverse frequencies for `cfg`. seq_len matters only for `dynamic` (HF recomputes the
// base once the sequence exceeds max_position_embeddings); pass the current total length.
rope_params rope_parameters(const rope_config& cfg, std::int64_t seq_len = 0);

// cos/sin of position * inv_freq for positions [first, n_pos), each multiplied by
// attention_factor. A step in generation needs one row (first = its position), not all.
struct rope_cache {
  std::int64_t n_pos = 0;
  std::int64_t first = 0;    // the first position held
  std::int64_t half = 0;     // dim / 2
  std::vector<double> cos;   // (n_pos - first, half)
  std::vector<double> sin;   // (n_pos - first, half)
};
rope_cache rope_build_cache(const rope_params& p, std::int64_t n_pos, std::int64_t first = 0);

// Which pairs of a head's features rotate together.
//  half_split:  (x[i], x[i + R/2]) — HF/GPT-NeoX `rotate_half`: y = x*cos + rotate_half(x)*sin,
//               rotate_half(x) = cat(-x[R/2:], x[:R/2]).  The default, as in HF LLaMA.
//  interleaved: (x[2i], x[2i+1]) — the original RoFormer / GPT-J / Meta LLaMA complex form.
enum class rotary_layout { half_split, interleaved };

// x (B, H, T, D) -> (B, H, T, D): the first R = 2*cache.half features of each head rotate by
// the angle of position pos_offset + t; features R..D pass through (partial rotary).
// Differentiable in x (the rotation's transpose in backward).
tensor apply_rotary(const tensor& x, const rope_cache& cache, std::int64_t pos_offset = 0,
                    rotary_layout layout = rotary_layout::half_split);

// Vaswani et al. 2017 sec. 3.5 sinusoidal table (n_pos, d_model), no gradient:
// PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)).
tensor sinusoidal_table(std::int64_t n_pos, std::int64_t d_model, double base = 10000.0, dtype t = dtype::f32);

}  // namespace lmlab
