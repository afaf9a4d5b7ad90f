// Caching and patching through hook points (the mechanism is nn/hook_point.hpp), in the
// style of TransformerLens: run_with_cache(filter) returns name -> activation; a hook that
// returns a tensor replaces the activation (activation patching, ablation, steering).
// Hooks attached through a hook_scope are removed when the scope ends, even on an exception,
// so a model never keeps a stale hook.
// Not for: gradient hooks, probes (analysis/), or placing hook points (models/).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/causal_lm.hpp"
#include "nn/module.hpp"

namespace lmlab::hooks {

using activation_cache = std::map<std::string, tensor>;
using name_filter = std::function<bool(const std::string&)>;

// Keeps every hook point.
inline bool all_names(const std::string&) { return true; }
// Keeps names ending with one of `suffixes` (e.g. {"hook_resid_post", "attn.hook_pattern"}).
name_filter names_ending_with(std::vector<std::string> suffixes);

// Attaches hooks to a module's hook points for the lifetime of the scope.
class hook_scope {
 public:
  explicit hook_scope(const nn::module& m) : m_(m) {}
  ~hook_scope();
  hook_scope(const hook_scope&) = delete;
  hook_scope& operator=(const hook_scope&) = delete;
  // Error names the hook path when it does not exist.
  void add(const std::string& name, nn::hook_fn fn);
  // Adds a caching hook to every hook point the filter keeps; the activations land in `cache`
  // (detached from autograd).
  void cache_into(activation_cache& cache, const name_filter& keep);

 private:
  const nn::module& m_;
  std::vector<std::pair<nn::hook_point*, int>> added_;
};

// Runs `run` with caching hooks on the hook points `keep` selects; returns the cache and
// stores run()'s result into *out when given.
activation_cache run_with_cache(const nn::module& m, const std::function<tensor()>& run, const name_filter& keep = all_names,
                                tensor* out = nullptr);
// Model convenience: logits and the cache for ids (B, T), under no_grad.
std::pair<tensor, activation_cache> run_with_cache(models::causal_lm& model, const tensor& ids, const name_filter& keep = all_names);
// Forward with the given hooks attached (e.g. patches), under no_grad.
tensor run_with_hooks(models::causal_lm& model, const tensor& ids, const std::vector<std::pair<std::string, nn::hook_fn>>& hooks);

// Hook functions for patching:
// replaces the activation by `value` (same shape), e.g. one cached from another input;
nn::hook_fn patch_with(tensor value);
// multiplies head `head` of a (B, T, H, D) activation (hook_q/k/v/z) by zero (head ablation).
nn::hook_fn zero_head(std::int64_t head);
// adds `direction` (broadcast over leading dims) scaled by `scale` (activation steering).
nn::hook_fn add_vector(tensor direction, double scale = 1.0);

}  // namespace lmlab::hooks
