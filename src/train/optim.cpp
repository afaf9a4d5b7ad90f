// AdamW, clipping and the schedule: see optim.hpp.
#include "train/optim.hpp"

#include "autograd/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace lmlab::train {

adamw::adamw(nn::named_tensors params, adamw_options opt) : opt_(opt) {
  for (auto& [name, p] : params) {
    LMLAB_CHECK(p.is_contiguous(), "adamw: parameter '{}' is not contiguous", name);
    const bool decay = p.dim() >= 2 && !p.impl().no_weight_decay;  // optim.hpp: which parameters decay
    slots_.push_back({name, p, tensor::zeros(p.shape(), p.type()), tensor::zeros(p.shape(), p.type()), decay});
  }
}

void adamw::zero_grad() {
  prof::scope timed(prof::cat::optimizer);
  for (auto& s : slots_) s.param.impl().grad.reset();
}

void adamw::step(double lr) {
  prof::scope timed(prof::cat::optimizer);
  ++step_;
  // ref: Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Alg. 2, in the
  // form torch.optim.AdamW computes it (scalars in double, tensor math in the param dtype).
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(opt_.beta1, t);
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(opt_.beta2, t));
  const double step_size = lr / bc1;
  for (auto& s : slots_) {
    tensor g = s.param.grad();
    if (!g.defined()) continue;
    g = g.contiguous_raw();
    dispatch_float(s.param.type(), "adamw", [&]<class T>() {
      T* p = s.param.data<T>();
      T* m = s.m.data<T>();
      T* v = s.v.data<T>();
      const T* gp = g.data<T>();
      const T decay = static_cast<T>(1.0 - lr * (s.decay ? opt_.weight_decay : 0.0));
      const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
      const T a1 = static_cast<T>(1.0 - opt_.beta1), a2 = static_cast<T>(1.0 - opt_.beta2);
      const T c2 = static_cast<T>(bc2_sqrt), eps = static_cast<T>(opt_.eps), neg_step = static_cast<T>(-step_size);
      const std::int64_t n = s.param.numel();
      auto update = [&](std::int64_t i) {
        p[i] *= decay;
        m[i] = m[i] * b1 + gp[i] * a1;
        v[i] = v[i] * b2 + gp[i] * gp[i] * a2;
        const T denom = std::sqrt(v[i]) / c2 + eps;
        p[i] += neg_step * (m[i] / denom);
      };
      // Two loops, not one `parallel for simd if (...)`: GCC 12 compiled that form's loop to
      // scalar code (perf: vfmadd213ss), at every size.
      if (n > 65536) {
#pragma omp parallel for simd
        for (std::int64_t i = 0; i < n; ++i) update(i);
      } else {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) update(i);
      }
    });
  }
}

nn::named_tensors adamw::state() const {
  nn::named_tensors out;
  for (const auto& s : slots_) out.emplace_back("exp_avg." + s.name, s.m);
  for (const auto& s : slots_) out.emplace_back("exp_avg_sq." + s.name, s.v);
  return out;
}

void adamw::load_state(const std::function<const tensor&(const std::string&, const shape_t&)>& get, std::int64_t step) {
  for (auto& s : slots_) {
    s.m.copy_from(get("exp_avg." + s.name, s.param.shape()));
    s.v.copy_from(get("exp_avg_sq." + s.name, s.param.shape()));
  }
  step_ = step;
}

double clip_grad_norm(const std::vector<tensor>& params, double max_norm) {
  prof::scope timed(prof::cat::optimizer);
  double sq = 0;
  std::vector<tensor> grads;
  for (const auto& p : params) {
    tensor g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g);
    dispatch_float(g.type(), "clip_grad_norm", [&]<class T>() {
      tensor c = g.contiguous_raw();
      const T* d = c.data<T>();
      const std::int64_t n = c.numel();
      double acc = 0;
      // Lane-wise partial sums in double (a serial sum is one add per FP-add latency).
#pragma omp simd reduction(+ : acc)
      for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(d[i]) * d[i];
      sq += acc;
    });
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0) {
    const double coef = std::min(1.0, max_norm / (norm + 1e-6));  // PyTorch's clip_coef, clamped
    if (coef < 1.0)
      for (auto& g : grads) {
        LMLAB_ASSERT(g.is_contiguous(), "accumulated gradients are contiguous");
        dispatch_float(g.type(), "clip_grad_norm", [&]<class T>() {
          T* d = g.data<T>();
          const T c = static_cast<T>(coef);
          const std::int64_t n = g.numel();
#pragma omp simd
          for (std::int64_t i = 0; i < n; ++i) d[i] *= c;
        });
      }
  }
  return norm;
}

double lr_schedule::at(std::int64_t s) const {
  if (warmup > 0 && s < warmup) return max_lr * static_cast<double>(s + 1) / static_cast<double>(warmup);
  const double after = static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  const double progress = std::min(1.0, static_cast<double>(s - warmup) / after);
  switch (kind) {
    case shape::constant: return max_lr;
    case shape::linear: return max_lr + (min_lr - max_lr) * progress;
    case shape::wsd: {
      const double f = std::clamp(decay_fraction, 0.0, 1.0);
      if (progress <= 1.0 - f || f == 0.0) return max_lr;
      return max_lr + (min_lr - max_lr) * (progress - (1.0 - f)) / f;
    }
    case shape::cosine: break;
  }
  return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

lr_schedule::shape schedule_shape(const std::string& name, const std::string& key) {
  if (name == "cosine") return lr_schedule::shape::cosine;
  if (name == "linear") return lr_schedule::shape::linear;
  if (name == "wsd") return lr_schedule::shape::wsd;
  if (name == "constant") return lr_schedule::shape::constant;
  throw error(fmt::format("{}: unknown schedule '{}'", key, name), "use cosine, linear, wsd or constant");
}

}  // namespace lmlab::train
