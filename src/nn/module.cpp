// Module tree, parameter paths and the basic layers: see module.hpp.
#include "nn/module.hpp"

#include "ops/linalg.hpp"
#include "ops/norm.hpp"

namespace lmlab::nn {

tensor module::register_parameter(std::string name, tensor t, weight_decay wd) {
  LMLAB_ASSERT(t.defined(), "register_parameter({}): undefined tensor", name);
  t.set_requires_grad(true);
  t.impl().no_weight_decay = wd == weight_decay::never;
  params_.emplace_back(std::move(name), t);
  return t;
}

void module::collect(const std::string& prefix, named_tensors& out) const {
  for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out);
}

named_tensors module::named_parameters() const {
  named_tensors out;
  collect("", out);
  return out;
}

std::vector<tensor> module::parameters() const {
  std::vector<tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

tensor module::parameter(const std::string& path) const {
  auto all = named_parameters();
  for (auto& [n, t] : all)
    if (n == path) return t;
  std::string some;
  for (std::size_t i = 0; i < all.size() && i < 4; ++i) some += (i ? ", " : "") + all[i].first;
  throw error(fmt::format("module: no parameter named '{}'", path), "parameters are named like " + some);
}

std::int64_t module::num_parameters() const {
  std::int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void module::collect_hooks(std::vector<hook_point*>& out) const {
  for (const auto& [n, h] : hooks_) out.push_back(h);
  for (const auto& [n, c] : children_) c->collect_hooks(out);
}

std::vector<hook_point*> module::hook_points() const {
  std::vector<hook_point*> out;
  collect_hooks(out);
  return out;
}

hook_point& module::find_hook(const std::string& path) const {
  auto all = hook_points();
  for (hook_point* h : all)
    if (h->name() == path) return *h;
  throw error(fmt::format("hooks: no hook point named '{}'", path),
              all.empty() ? "this model has no hook points"
                          : fmt::format("hook points are named like '{}' or '{}'", all.front()->name(),
                                        all.size() > 1 ? all[1]->name() : all.front()->name()));
}

void module::clear_hooks() {
  for (hook_point* h : hook_points()) h->clear();
}

void module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.impl().grad.reset();
}

void module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void module::finalize_names(const std::string& prefix) {
  for (auto& [n, t] : params_) t.set_name(prefix + n);
  for (auto& [n, h] : hooks_) h->set_name(prefix + n);
  for (auto& [n, c] : children_) c->finalize_names(prefix + n + ".");
}

// ---- layers -----------------------------------------------------------------------------

linear::linear(std::int64_t in, std::int64_t out, bool with_bias) {
  weight = register_parameter("weight", tensor::zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", tensor::zeros({out}));
}

tensor linear::forward(const tensor& x) const { return lmlab::linear(x, weight, bias); }

embedding::embedding(std::int64_t num, std::int64_t dim) { weight = register_parameter("weight", tensor::zeros({num, dim})); }

tensor embedding::forward(const tensor& ids) const { return lmlab::embedding(weight, ids); }

layer_norm::layer_norm(std::int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", tensor::ones({dim}));
  bias = register_parameter("bias", tensor::zeros({dim}));
}

tensor layer_norm::forward(const tensor& x) const { return lmlab::layer_norm(x, weight, bias, eps); }

}  // namespace lmlab::nn
