// LoRA-style fine-tuning (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
// §4.1): a frozen weight W0 (out, in) is adapted as W = W0 + (alpha / r) · B A with B (out, r)
// and A (r, in) the only trained tensors; A starts Gaussian (std 1/√in), B at zero, so the
// phase starts from the pretrained model. Allen-Zhu & Li (Physics of LMs 3.1, §2.1) fine-tune
// the QA this way on the query/value matrices and the embedding layer.
// The adapters here work on the merged weight: the model's forward and backward run unchanged
// on W (which keeps requires_grad, so backward leaves G = ∂L/∂W), and `backward` turns G into
// the adapters' gradients by the chain rule,
//   ∂L/∂B = s · G Aᵀ,   ∂L/∂A = s · Bᵀ G,   s = alpha / r,
// then clears G; after the optimizer moves A and B, `merge` writes W = W0 + s · B A again.
// This is LoRA's function and gradients exactly (the forward differs from x W0ᵀ + s (x Aᵀ) Bᵀ
// only by rounding), at full fine-tuning's cost per step: a lab model is small, and no op or
// model changes. tests/knowledge/test_lora.cpp checks the gradients against central finite
// differences in f64.
// Not for: serving several adapters on one base model, or adapters that stay unmerged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace lmlab::knowledge {

// True when one of `targets` is a dot-separated component of the parameter `name`
// ("w_q" matches blocks.0.attn.w_q, "wte" matches wte.weight).
bool lora_matches(const std::string& name, const std::vector<std::string>& targets);
// "w_q+w_v+wte" (or with commas) -> {"w_q", "w_v", "wte"}; blanks are dropped. A spec or --set
// reads a comma list as a sweep axis, so a list of targets in one run is written with '+'.
std::vector<std::string> split_targets(const std::string& list);

class lora_adapters {
 public:
  // Adapters for each 2-D tensor of `weights` (f32 or f64; W0 is copied from them now).
  lora_adapters(const nn::named_tensors& weights, std::int64_t rank, double alpha, std::uint64_t seed);

  // "lora_A.<name>" (r, in) and "lora_B.<name>" (out, r), the tensors an optimizer trains.
  nn::named_tensors parameters() const;
  std::vector<tensor> tensors() const;
  std::int64_t num_parameters() const;
  double scale() const { return scale_; }

  // W = W0 + s · B A for every adapted weight.
  void merge();
  // From each W's gradient G (none: no gradient), A's and B's gradients (replacing them); G is
  // cleared so nothing else applies it.
  void backward();
  // W = W0 (the adapters dropped).
  void restore();

 private:
  struct slot {
    std::string name;
    tensor w, w0, a, b;
  };
  std::vector<slot> slots_;
  std::int64_t rank_;
  double scale_;
};

}  // namespace lmlab::knowledge
