// Additive attention-bias positional encodings: ALiBi slopes (Press et al. 2022) for any head
// count, and FIRE's normalised relative distance (Li et al. 2023), the input to its learned
// bias MLP. ops/attention.hpp consumes ALiBi slopes directly (attention_options.alibi_slopes).
// Not for: rotary encodings (ops/rope.hpp), the FIRE MLP itself (built from nn layers).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

// Head h's slope m_h. Powers of two: m_h = s^(h+1) with s = 2^(-8/n). Otherwise (n not a power
// of two, c = the largest power of two below n): the c slopes for c heads followed by the
// even-indexed slopes for 2c heads, up to n in all.
// ref: Press et al. 2022 (ALiBi) sec. 3 and the authors' get_slopes.
std::vector<double> alibi_slopes(std::int64_t n_heads);
tensor alibi_slopes_tensor(std::int64_t n_heads, dtype t = dtype::f32);  // (H)

// FIRE's normalised distance, ref: Li et al. 2023 (FIRE) eq. 5 with the thresholded
// normaliser of sec. 3.3: for query position i = q_offset + r and key position j <= i,
//   out[r, j] = psi(i - j) / psi(max(L, i)),   psi(x) = log(c x + 1),
// and 0 for j > i (masked anyway) and for i == j (psi(0) = 0, avoiding 0/0 at i = 0).
// c and L are learnable scalars (tensors of one element, c > 0); differentiable in both.
// Returns (T, q_offset + T). The bias is then b = f_theta(out) with f_theta an MLP (1 -> H).
tensor fire_distance(const tensor& c, const tensor& L, std::int64_t T, std::int64_t q_offset = 0);

}  // namespace lmlab
