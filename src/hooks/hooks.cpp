// Caching and patching helpers: see hooks.hpp.
#include "hooks/hooks.hpp"

#include "autograd/autograd.hpp"
#include "ops/ops.hpp"

namespace lmlab::hooks {

name_filter names_ending_with(std::vector<std::string> suffixes) {
  return [s = std::move(suffixes)](const std::string& name) {
    for (const auto& x : s)
      if (name.ends_with(x)) return true;
    return false;
  };
}

hook_scope::~hook_scope() {
  for (auto& [hp, id] : added_) hp->remove(id);
}

void hook_scope::add(const std::string& name, nn::hook_fn fn) {
  nn::hook_point& hp = m_.find_hook(name);
  added_.emplace_back(&hp, hp.add(std::move(fn)));
}

void hook_scope::cache_into(activation_cache& cache, const name_filter& keep) {
  for (nn::hook_point* hp : m_.hook_points()) {
    if (!keep(hp->name())) continue;
    added_.emplace_back(hp, hp->add([&cache](const tensor& x, const nn::hook_point& where) {
      cache[where.name()] = x.detach();
      return tensor{};
    }));
  }
}

activation_cache run_with_cache(const nn::module& m, const std::function<tensor()>& run, const name_filter& keep, tensor* out) {
  activation_cache cache;
  hook_scope scope(m);
  scope.cache_into(cache, keep);
  tensor r = run();
  if (out) *out = r;
  return cache;
}

std::pair<tensor, activation_cache> run_with_cache(models::causal_lm& model, const tensor& ids, const name_filter& keep) {
  no_grad ng;
  tensor logits;
  auto cache = run_with_cache(model, [&] { return model.forward(ids); }, keep, &logits);
  return {logits, std::move(cache)};
}

tensor run_with_hooks(models::causal_lm& model, const tensor& ids, const std::vector<std::pair<std::string, nn::hook_fn>>& hooks) {
  no_grad ng;
  hook_scope scope(model);
  for (const auto& [name, fn] : hooks) scope.add(name, fn);
  return model.forward(ids);
}

nn::hook_fn patch_with(tensor value) {
  return [v = std::move(value)](const tensor& x, const nn::hook_point& where) {
    LMLAB_CHECK(v.shape() == x.shape(), "{}: patch of shape {} for an activation of shape {}", where.name(),
                shape_str(v.shape()), shape_str(x.shape()));
    return v;
  };
}

nn::hook_fn zero_head(std::int64_t head) {
  return [head](const tensor& x, const nn::hook_point& where) {
    LMLAB_CHECK(x.dim() == 4, "{}: zero_head needs a (B, T, H, D) activation, got {}", where.name(), shape_str(x.shape()));
    const std::int64_t H = x.size(2);
    LMLAB_CHECK(head >= 0 && head < H, "{}: head {} out of range (the activation has {} heads)", where.name(), head, H);
    tensor mask = tensor::ones({1, 1, H, 1}, x.type());
    mask.narrow_raw(2, head, 1).fill_(0.0);
    return mul(x, mask);
  };
}

nn::hook_fn add_vector(tensor direction, double scale) {
  return [d = std::move(direction), scale](const tensor& x, const nn::hook_point&) { return add(x, mul_scalar(d, scale)); };
}

}  // namespace lmlab::hooks
