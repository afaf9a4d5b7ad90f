// One training stage of the VLM lab's runners: AdamW with warmup + cosine and gradient
// clipping over a parameter subset, with a batch rng that is a pure function of (seed, stream,
// step), so a stage is reproducible on its own. Shared by runner.cpp (the three stages) and
// real_clip.cpp (contrastive training on real images).
// Not for: the lab's generic trainer (train/), which owns data loading and checkpoints.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/module.hpp"
#include "train/optim.hpp"

namespace lmlab::vlm {

struct stage_opt {
  std::int64_t steps = 0, B = 16;
  train::optim_config oc;
  std::uint64_t seed = 0, stream = 0;
};

// Runs `steps` AdamW steps (warmup + cosine, clipping) on `params`; loss_of(step, g) builds
// the loss for a step from a batch rng that is a pure function of (seed, stream, step).
// Returns the mean loss of the last tenth of the steps.
template <class F>
double run_stage(const nn::named_tensors& params, const stage_opt& o, F&& loss_of) {
  if (o.steps <= 0) return std::nan("");
  train::adamw opt(params, {o.oc.beta1, o.oc.beta2, o.oc.eps, o.oc.weight_decay});
  train::lr_schedule sched{o.oc.lr, o.oc.final_lr(), o.oc.warmup(o.steps), o.steps, train::lr_schedule::shape::cosine};
  std::vector<tensor> ps;
  for (const auto& [n, t] : params) ps.push_back(t);
  double tail = 0;
  std::int64_t tail_n = 0;
  for (std::int64_t s = 0; s < o.steps; ++s) {
    rng g = rng(o.seed, o.stream).fork(static_cast<std::uint64_t>(s));
    opt.zero_grad();
    tensor loss = loss_of(g);
    const double lv = loss.item();
    LMLAB_CHECK_HINT(std::isfinite(lv), "lower train.lr", "vlm: loss is {} at step {}", lv, s);
    backward(loss);
    train::clip_grad_norm(ps, o.oc.grad_clip);
    opt.step(sched.at(s));
    if (s >= o.steps - std::max<std::int64_t>(1, o.steps / 10)) tail += lv, ++tail_n;
  }
  return tail / static_cast<double>(tail_n);
}

}  // namespace lmlab::vlm
