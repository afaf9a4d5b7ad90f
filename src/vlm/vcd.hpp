// Visual contrastive decoding (Leng et al. 2024, "Mitigating Object Hallucinations in Large
// Vision-Language Models through Visual Contrastive Decoding", CVPR): next-token logits with the
// clean image v are contrasted with logits under a distorted image v' that keeps the language
// prior but loses visual detail, inside an adaptive plausibility set:
//   l_vcd(y) = (1 + alpha) l(y | v, x) - alpha l(y | v', x)             (ref: eq. 3)
//   V_head = { y : p(y | v, x) >= beta max_w p(w | v, x) }               (ref: eq. 4)
//   l_vcd(y) = -inf for y outside V_head                                  (ref: eq. 5)
// The distortion is the forward diffusion process q(v_t | v_0) = N(sqrt(abar_t) v_0,
// (1 - abar_t) I) (ref: VCD eq. 2; Ho et al. 2020 eq. 4) with DDPM's linear beta schedule
// (1e-4 to 0.02 over 1000 steps, Ho et al. 2020 sec. 4).
// Not for: sampling loops (we decode one answer token greedily), the model (model.hpp).
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab::vlm {

// logits, distorted (N, V) f32/f64 -> (N, V) f64 contrasted logits, -inf outside V_head.
tensor vcd_logits(const tensor& logits, const tensor& distorted, double alpha, double beta);

// abar_t of DDPM's linear schedule, t in [0, 1000] (t = 0: 1, the clean image).
double ddpm_alpha_bar(std::int64_t t);
// image (any shape, f32) -> sqrt(abar_t) image + sqrt(1 - abar_t) eps, eps ~ N(0, I) from (seed, stream).
tensor diffuse(const tensor& image, std::int64_t t, std::uint64_t seed, std::uint64_t stream);

}  // namespace lmlab::vlm
