// Optimisation pieces with PyTorch's exact semantics, operating on parameters' raw data:
//  - AdamW (torch.optim.AdamW): decoupled weight decay p *= 1 - lr*wd, bias-corrected moments,
//    eps added after dividing sqrt(v) by sqrt(1 - beta2^t);
//  - global gradient-norm clipping (torch.nn.utils.clip_grad_norm_, 2-norm, coef clamped at 1);
//  - linear warmup then cosine decay of the learning rate.
// Not for: the training loop (trainer.hpp), muP groups (later).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "nn/module.hpp"

namespace lmlab::train {

struct adamw_options {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;  // PyTorch's defaults
};

// Parameters with dim >= 2 (matrices, embeddings) get weight decay; biases and norm gains do
// not (nanoGPT's grouping; scripts/ref/lmlab_ref.py make_optimizer does the same), nor any
// parameter its module registered with nn::weight_decay::never (Mamba's A_log and D).
class adamw {
 public:
  adamw(nn::named_tensors params, adamw_options opt);

  // One update with learning rate `lr` from each parameter's .grad (a parameter without a
  // gradient is skipped, as in PyTorch). Increments the step count first.
  void step(double lr);
  void zero_grad();
  std::int64_t steps() const { return step_; }

  // Optimizer state as named tensors: "exp_avg.<param>", "exp_avg_sq.<param>" (checkpoints).
  nn::named_tensors state() const;
  // Restores state written by state(); errors name `where` and the tensor.
  void load_state(const std::function<const tensor&(const std::string& name, const shape_t& shape)>& get,
                  std::int64_t step);
  const adamw_options& options() const { return opt_; }

 private:
  struct slot {
    std::string name;
    tensor param, m, v;
    bool decay;
  };
  std::vector<slot> slots_;
  adamw_options opt_;
  std::int64_t step_ = 0;
};

// Scales all gradients so their global 2-norm is at most max_norm (when max_norm > 0);
// returns the norm before clipping. ref: Pascanu et al. 2013, "On the difficulty of training
// recurrent neural networks", eq. (clipping by norm).
double clip_grad_norm(const std::vector<tensor>& params, double max_norm);

struct lr_schedule {
  enum class shape { cosine, linear, wsd, constant };
  double max_lr = 1e-3, min_lr = 1e-4;
  std::int64_t warmup = 0, total = 1;
  shape kind = shape::cosine;
  double decay_fraction = 0.2;  // wsd: share of the steps after warmup spent decaying
  // Step s (0-based): max_lr*(s+1)/warmup while s < warmup; then, reaching min_lr at s = total:
  //   cosine    min + (max-min)(1 + cos(pi p))/2, p = progress after warmup.
  //             ref: Loshchilov & Hutter 2017 (SGDR), eq. 5, one cycle.
  //   linear    max + (min-max) p.
  //   wsd       max until the last decay_fraction of the steps, then linear down to min
  //             (warmup-stable-decay). ref: Hu et al. 2024 (MiniCPM) §4.1; Hägele et al. 2024.
  //   constant  max.
  double at(std::int64_t s) const;
};

// "cosine" | "linear" | "wsd" | "constant"; anything else is an error naming `key`.
lr_schedule::shape schedule_shape(const std::string& name, const std::string& key);

}  // namespace lmlab::train
