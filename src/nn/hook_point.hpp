// Hook points (TransformerLens's HookPoint): a named identity placed on an activation inside a
// module's forward. With no hooks attached it returns its input; each attached hook sees the
// activation and may return a replacement (patching) or an undefined tensor (observe only,
// e.g. caching). Names come from the module path: `blocks.3.attn.hook_pattern`.
// The mechanism lives in nn so models can place hook points; run_with_cache and patching
// helpers live in hooks/ (hooks/hooks.hpp).
// Not for: autograd hooks on gradients.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::nn {

class hook_point;
// Returns a replacement of the same shape, or tensor{} to keep the activation.
using hook_fn = std::function<tensor(const tensor& activation, const hook_point& where)>;

class hook_point {
 public:
  hook_point() = default;
  hook_point(const hook_point&) = delete;
  hook_point& operator=(const hook_point&) = delete;

  // Applies the hooks in the order they were added.
  tensor operator()(tensor x) const {
    for (const auto& h : hooks_) {
      tensor r = h.fn(x, *this);
      if (!r.defined()) continue;
      LMLAB_CHECK(r.shape() == x.shape(), "{}: a hook returned shape {} for an activation of shape {}", name_,
                  shape_str(r.shape()), shape_str(x.shape()));
      x = std::move(r);
    }
    return x;
  }

  // Returns a handle for remove().
  int add(hook_fn fn) {
    hooks_.push_back({next_id_, std::move(fn)});
    return next_id_++;
  }
  void remove(int handle) {
    std::erase_if(hooks_, [&](const entry& e) { return e.id == handle; });
  }
  void clear() { hooks_.clear(); }
  bool active() const { return !hooks_.empty(); }

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

 private:
  struct entry {
    int id;
    hook_fn fn;
  };
  std::string name_;
  std::vector<entry> hooks_;
  int next_id_ = 0;
};

}  // namespace lmlab::nn
