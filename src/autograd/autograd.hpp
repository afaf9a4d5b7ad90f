// Define-by-run reverse-mode autograd. An op computes its output and, when any input needs
// a gradient and grad mode is on, records a node whose backward closure maps the output's
// gradient to the inputs' gradients (flashlight's style: forward and backward in one place).
// Nodes link to the nodes of their inputs (not to the input tensors), so an op's inputs are
// kept alive only when its backward captured them. Leaves (parameters) accumulate into
// .grad across backward calls until zeroed (gradient accumulation).
// Not for: the ops themselves (ops/), optimizers (train/).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

struct node {
  const char* op = "";                       // op name, for errors and graph dumps
  std::uint64_t seq = 0;                     // creation order: a valid reverse topological order
  std::vector<std::shared_ptr<node>> next;   // per input: its node, or nullptr (no grad needed)
  // Maps d(loss)/d(output) to d(loss)/d(input_i) for each input (undefined = no gradient).
  // Each returned gradient has its input's shape and dtype.
  std::function<std::vector<tensor>(const tensor& grad_out)> backward;
  // Optional, for a one-input op whose input gradient is grad_out placed into a part of a
  // zero tensor (narrow): adds grad_out into that part of `acc`, the input's gradient so far,
  // which the engine owns. Used instead of `backward` when that gradient already exists, so
  // a split into slices costs no zero-filled full-size gradient per slice.
  std::function<void(tensor& acc, const tensor& grad_out)> accumulate_part;
  std::weak_ptr<tensor_impl> leaf;           // set for a leaf's accumulator node
  shape_t out_shape;                         // the output's shape (checks)
  dtype out_type = dtype::f32;
};

// Grad mode, per thread. Off inside no_grad scopes.
bool grad_enabled();
class no_grad {
 public:
  no_grad();
  ~no_grad();
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  bool prev_;
};

// True when recording is on and some input requires a gradient.
bool needs_grad(std::initializer_list<const tensor*> inputs);
bool needs_grad(const std::vector<tensor>& inputs);

// Attaches a node to `out` (produced by op `name` from `inputs`). Call only when
// needs_grad(inputs). The closure must not capture `out` by value if `out` is large and
// unneeded (captures keep memory alive until backward runs).
void record(const char* name, tensor& out, const std::vector<tensor>& inputs,
            std::function<std::vector<tensor>(const tensor& grad_out)> backward);

// Runs backward from `root` (a scalar unless `grad_root` is given). Leaves accumulate into
// .grad. The graph's closures are released afterwards unless retain_graph.
void backward(const tensor& root, const tensor& grad_root = {}, bool retain_graph = false);

// grad_acc += g (shapes must match). Allocates a zero gradient on first use.
void accumulate_into(std::shared_ptr<tensor_impl>& slot, const tensor& g);

}  // namespace lmlab
