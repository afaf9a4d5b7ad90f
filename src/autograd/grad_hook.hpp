// A hook that backward calls with each leaf (parameter) the moment its gradient for this
// backward is final: the leaf's accumulator node runs after every op that uses the leaf (nodes
// run in reverse creation order), so nothing adds to that gradient afterwards. Data-parallel
// training (train/data_parallel.hpp) starts the all-reduce of a bucket of gradients there, so
// communication overlaps the rest of backward, as PyTorch DDP does (Li et al. 2020, VLDB, 3.2.3).
// The hook is per thread and scoped: it is active while a leaf_ready_scope lives.
// Not for: changing gradients (the hook sees them only; modify them after backward).
#pragma once

#include <functional>

#include "core/tensor.hpp"

namespace lmlab {

using leaf_ready_fn = std::function<void(tensor_impl& leaf)>;

class leaf_ready_scope {
 public:
  explicit leaf_ready_scope(leaf_ready_fn fn);
  ~leaf_ready_scope();
  leaf_ready_scope(const leaf_ready_scope&) = delete;
  leaf_ready_scope& operator=(const leaf_ready_scope&) = delete;

 private:
  leaf_ready_fn prev_;
};

}  // namespace lmlab
