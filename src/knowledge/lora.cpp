// LoRA adapters on merged weights: see lora.hpp.
#include "knowledge/lora.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "ops/gemm.hpp"

namespace lmlab::knowledge {

bool lora_matches(const std::string& name, const std::vector<std::string>& targets) {
  for (const auto& t : targets) {
    if (t.empty()) continue;
    for (std::size_t at = name.find(t); at != std::string::npos; at = name.find(t, at + 1)) {
      const bool starts = at == 0 || name[at - 1] == '.';
      const bool ends = at + t.size() == name.size() || name[at + t.size()] == '.';
      if (starts && ends) return true;
    }
  }
  return false;
}

std::vector<std::string> split_targets(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find_first_of(",+", start), list.size());
    std::string item = list.substr(start, comma - start);
    const auto first = item.find_first_not_of(' ');
    item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(' ') - first + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

lora_adapters::lora_adapters(const nn::named_tensors& weights, std::int64_t rank, double alpha, std::uint64_t seed)
    : rank_(rank), scale_(alpha / static_cast<double>(rank)) {
  LMLAB_CHECK(rank >= 1, "lora: rank must be >= 1, got {}", rank);
  LMLAB_CHECK(!weights.empty(), "lora: no weight to adapt");
  std::uint64_t stream = 0;
  for (const auto& [name, w] : weights) {
    LMLAB_CHECK(w.dim() == 2 && w.is_contiguous(), "lora: '{}' must be a contiguous 2-D weight", name);
    const std::int64_t out = w.size(0), in = w.size(1);
    slot s{name, w, w.clone_raw(), tensor::zeros({rank, in}, w.type()), tensor::zeros({out, rank}, w.type())};
    rng r(seed ^ 0x4c6f5241ull, stream++);
    const double sd = 1.0 / std::sqrt(static_cast<double>(in));
    dispatch_float(w.type(), "lora", [&]<class T>() {
      T* a = s.a.data<T>();
      for (std::int64_t i = 0; i < s.a.numel(); ++i) a[i] = static_cast<T>(sd * r.normal());
    });
    s.a.set_requires_grad(true);
    s.b.set_requires_grad(true);
    slots_.push_back(std::move(s));
  }
}

nn::named_tensors lora_adapters::parameters() const {
  nn::named_tensors out;
  for (const auto& s : slots_) {
    out.emplace_back("lora_A." + s.name, s.a);
    out.emplace_back("lora_B." + s.name, s.b);
  }
  return out;
}

std::vector<tensor> lora_adapters::tensors() const {
  std::vector<tensor> out;
  for (const auto& [name, t] : parameters()) out.push_back(t);
  return out;
}

std::int64_t lora_adapters::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& s : slots_) n += s.a.numel() + s.b.numel();
  return n;
}

void lora_adapters::merge() {
  for (auto& s : slots_) {
    const std::int64_t out = s.w.size(0), in = s.w.size(1);
    dispatch_float(s.w.type(), "lora merge", [&]<class T>() {
      T* w = s.w.data<T>();
      const T* w0 = s.w0.data<T>();
      for (std::int64_t i = 0; i < out * in; ++i) w[i] = w0[i];
      // W += s · B (out, r) A (r, in)
      gemm(false, false, out, in, rank_, static_cast<T>(scale_), s.b.data<T>(), rank_, s.a.data<T>(), in, T(1), w, in);
    });
  }
}

void lora_adapters::backward() {
  for (auto& s : slots_) {
    const tensor g_t = s.w.grad();
    s.a.impl().grad.reset();
    s.b.impl().grad.reset();
    if (!g_t.defined()) continue;
    const tensor g = g_t.contiguous_raw();
    const std::int64_t out = s.w.size(0), in = s.w.size(1);
    tensor ga = tensor::zeros(s.a.shape(), s.a.type()), gb = tensor::zeros(s.b.shape(), s.b.type());
    dispatch_float(s.w.type(), "lora backward", [&]<class T>() {
      const T sc = static_cast<T>(scale_);
      // ∂L/∂A (r, in) = s · Bᵀ (r, out) G (out, in)
      gemm(true, false, rank_, in, out, sc, s.b.data<T>(), rank_, g.data<T>(), in, T(0), ga.data<T>(), in);
      // ∂L/∂B (out, r) = s · G (out, in) Aᵀ (in, r)
      gemm(false, true, out, rank_, in, sc, g.data<T>(), in, s.a.data<T>(), in, T(0), gb.data<T>(), rank_);
    });
    s.a.set_grad(ga);
    s.b.set_grad(gb);
    s.w.impl().grad.reset();
  }
}

void lora_adapters::restore() {
  for (auto& s : slots_) s.w.copy_from(s.w0);
}

}  // namespace lmlab::knowledge
