// Modules with named parameters in PyTorch-style dotted paths (`blocks.3.attn.w_q`), the one
// vocabulary that checkpoints, fixtures, optimizers and hooks share (shared/STYLE.md #4).
// A module registers its own parameters, its child modules and its hook points by short
// name; paths are assigned once by finalize_names() on the root. Parameters are listed in
// registration order, depth first, so the order is stable across runs and builds.
// Also: the basic layers (linear, embedding, layer_norm) as modules.
// Not for: the op math (ops/), optimizers (train/).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "nn/hook_point.hpp"

namespace lmlab::nn {

using named_tensors = std::vector<std::pair<std::string, tensor>>;

// Whether the optimizer may decay a parameter: `by_shape` leaves it to the optimizer's rule
// (train/optim.hpp: matrices and embeddings yes, vectors no); `never` is for parameters whose
// paper excludes them whatever their shape (Mamba's A_log and D: the reference code sets
// `_no_weight_decay` on both). The flag lives on the tensor, as PyTorch's attribute does, so
// every optimizer built from named_parameters() honours it.
enum class weight_decay { by_shape, never };

class module {
 public:
  module() = default;
  virtual ~module() = default;
  module(const module&) = delete;
  module& operator=(const module&) = delete;

  // Every parameter with its full path, in registration order (depth first).
  named_tensors named_parameters() const;
  std::vector<tensor> parameters() const;
  // The parameter at `path`; an error names the path and lists a few that exist.
  tensor parameter(const std::string& path) const;
  std::int64_t num_parameters() const;

  // Every hook point with its full path (`blocks.0.attn.hook_q`).
  std::vector<hook_point*> hook_points() const;
  hook_point& find_hook(const std::string& path) const;  // error names the path
  void clear_hooks();

  // Clears the accumulated .grad of every parameter.
  void zero_grad();

  // Training mode (dropout on) for this module and all children.
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // Assigns full paths below `prefix` to parameter tensors (tensor::name) and hook points.
  // Call once on the root after construction.
  void finalize_names(const std::string& prefix = "");

 protected:
  // Registers a parameter (marks requires_grad) and returns it.
  tensor register_parameter(std::string name, tensor t, weight_decay wd = weight_decay::by_shape);
  template <class M>
  M& register_module(std::string name, M& child) {
    children_.emplace_back(std::move(name), &child);
    return child;
  }
  void register_hook_point(std::string name, hook_point& hp) { hooks_.emplace_back(std::move(name), &hp); }

 private:
  void collect(const std::string& prefix, named_tensors& out) const;
  void collect_hooks(std::vector<hook_point*>& out) const;

  named_tensors params_;
  std::vector<std::pair<std::string, module*>> children_;
  std::vector<std::pair<std::string, hook_point*>> hooks_;
  bool training_ = true;
};

// An indexed list of child modules (PyTorch nn.ModuleList): children are named "0", "1", ...
template <class M>
class module_list : public module {
 public:
  M& push_back(std::unique_ptr<M> m) {
    items_.push_back(std::move(m));
    return register_module(std::to_string(items_.size() - 1), *items_.back());
  }
  std::size_t size() const { return items_.size(); }
  M& operator[](std::size_t i) const { return *items_[i]; }

 private:
  std::vector<std::unique_ptr<M>> items_;
};

// y = x w^T + b (PyTorch nn.Linear). Parameters: weight (out, in), bias (out) when `bias`.
class linear : public module {
 public:
  linear(std::int64_t in, std::int64_t out, bool bias = true);
  tensor forward(const tensor& x) const;  // (..., in) -> (..., out)
  tensor weight, bias;
};

// Lookup table (PyTorch nn.Embedding). Parameter: weight (num, dim).
class embedding : public module {
 public:
  embedding(std::int64_t num, std::int64_t dim);
  tensor forward(const tensor& ids) const;  // i32 (...) -> (..., dim)
  tensor weight;
};

// PyTorch nn.LayerNorm over the last dim. Parameters: weight (dim) = 1, bias (dim) = 0.
class layer_norm : public module {
 public:
  explicit layer_norm(std::int64_t dim, double eps = 1e-5);
  tensor forward(const tensor& x) const;
  tensor weight, bias;
  double eps;
};

}  // namespace lmlab::nn
