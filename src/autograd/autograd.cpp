// The tape and the backward engine: see autograd.hpp.
#include "autograd/autograd.hpp"

#include "autograd/grad_hook.hpp"
#include "autograd/profile.hpp"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <unordered_set>

namespace lmlab {

namespace {
thread_local bool g_grad_enabled = true;
thread_local leaf_ready_fn g_leaf_ready;
std::atomic<std::uint64_t> g_seq{0};

std::shared_ptr<node> node_of(const tensor& t) {
  auto& im = t.impl();
  if (im.grad_fn) return im.grad_fn;
  if (!im.requires_grad) return nullptr;
  if (!im.grad_acc) {
    auto n = std::make_shared<node>();
    n->op = "accumulate_grad";
    n->seq = g_seq.fetch_add(1);
    n->leaf = t.impl_ptr();
    n->out_shape = im.shape;
    n->out_type = im.type;
    im.grad_acc = n;
  }
  return im.grad_acc;
}

// In-place a += b for same-shape contiguous floating tensors.
void add_inplace(tensor& a, const tensor& b) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_ASSERT(a.shape() == b.shape(), "gradient shape {} vs {}", shape_str(a.shape()), shape_str(b.shape()));
  tensor bc = b.type() == a.type() ? b.contiguous_raw() : b.to_raw(a.type());
  dispatch_float(a.type(), "backward", [&]<class T>() {
    T* pa = a.data<T>();
    const T* pb = bc.data<T>();
    const std::int64_t n = a.numel();
    if (n > 65536) {
#pragma omp parallel for simd
      for (std::int64_t i = 0; i < n; ++i) pa[i] += pb[i];
    } else {  // GCC 12 compiled the `parallel for simd if (...)` form's loop to scalar adds
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) pa[i] += pb[i];
    }
  });
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
no_grad::no_grad() : prev_(g_grad_enabled) { g_grad_enabled = false; }
no_grad::~no_grad() { g_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, tensor& out, const std::vector<tensor>& inputs,
            std::function<std::vector<tensor>(const tensor&)> backward) {
  auto n = std::make_shared<node>();
  n->op = name;
  n->next.reserve(inputs.size());
  for (const tensor& t : inputs) n->next.push_back(t.defined() ? node_of(t) : nullptr);
  n->backward = std::move(backward);
  n->out_shape = out.shape();
  n->out_type = out.type();
  n->seq = g_seq.fetch_add(1);
  out.impl().grad_fn = std::move(n);
}

void accumulate_into(std::shared_ptr<tensor_impl>& slot, const tensor& g) {
  if (!slot) {
    tensor z = g.type() == dtype::i32 ? g : g.clone_raw();
    slot = z.impl_ptr();
    return;
  }
  tensor s(slot);
  add_inplace(s, g);
}

namespace {
// n's accumulate_part, when n has one and its input's gradient is pending and held by nothing
// else (a later add may not write into memory another tensor can see).
bool accumulate_part_into_pending(node& n, const tensor& g, std::unordered_map<node*, tensor>& pending) {
  if (!n.accumulate_part || n.next.size() != 1 || !n.next[0]) return false;
  auto it = pending.find(n.next[0].get());
  if (it == pending.end()) return false;
  tensor& acc = it->second;
  if (acc.impl_ptr().use_count() > 1 || acc.impl().store.use_count() > 1 || !acc.is_contiguous() || acc.type() != g.type())
    return false;
  prof::scope timed(prof::enabled() ? prof::category_of(n.op) : prof::cat::elementwise);
  n.accumulate_part(acc, g);
  return true;
}
}  // namespace

leaf_ready_scope::leaf_ready_scope(leaf_ready_fn fn) : prev_(std::move(g_leaf_ready)) { g_leaf_ready = std::move(fn); }
leaf_ready_scope::~leaf_ready_scope() { g_leaf_ready = std::move(prev_); }

void backward(const tensor& root, const tensor& grad_root, bool retain_graph) {
  LMLAB_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no parameter reaches it, or it was made under no_grad)");
  tensor g0 = grad_root;
  if (!g0.defined()) {
    LMLAB_CHECK(root.numel() == 1, "backward: root of shape {} is not a scalar; pass its gradient", shape_str(root.shape()));
    g0 = tensor::ones(root.shape(), root.type());
  }
  LMLAB_CHECK(g0.shape() == root.shape(), "backward: gradient shape {} for root of shape {}", shape_str(g0.shape()),
              shape_str(root.shape()));
  std::shared_ptr<node> start = node_of(root);
  // Collect the reachable graph.
  std::vector<node*> order;
  std::unordered_set<node*> seen;
  std::vector<node*> stack{start.get()};
  seen.insert(start.get());
  while (!stack.empty()) {
    node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (auto& nx : n->next)
      if (nx && seen.insert(nx.get()).second) stack.push_back(nx.get());
  }
  std::sort(order.begin(), order.end(), [](node* a, node* b) { return a->seq > b->seq; });
  std::unordered_map<node*, tensor> pending;
  pending[start.get()] = g0.clone_raw();
  no_grad guard;  // backward closures build no graph
  for (node* n : order) {
    auto it = pending.find(n);
    if (it == pending.end()) continue;
    tensor g = std::move(it->second);
    pending.erase(it);
    if (auto leaf = n->leaf.lock()) {
      // First gradient of a leaf: adopt the buffer when nothing else can see it (saves a copy).
      if (!leaf->grad && g.impl_ptr().use_count() == 1 && g.impl().store.use_count() == 1 && g.is_contiguous() &&
          g.offset() == 0 && g.type() == leaf->type) {
        leaf->grad = g.impl_ptr();
      } else {
        accumulate_into(leaf->grad, g);
      }
      if (g_leaf_ready) g_leaf_ready(*leaf);  // its gradient is final: grad_hook.hpp
      continue;
    }
    LMLAB_CHECK(n->backward != nullptr, "backward: the graph through '{}' was already freed; pass retain_graph=true to backward twice", n->op);
    if (accumulate_part_into_pending(*n, g, pending)) {
      if (!retain_graph) n->backward = nullptr;
      continue;
    }
    std::vector<tensor> grads;
    {
      prof::scope timed(prof::enabled() ? prof::category_of(n->op) : prof::cat::elementwise);
      grads = n->backward(g);
    }
    LMLAB_ASSERT(grads.size() == n->next.size(), "{}: backward returned {} gradients for {} inputs", n->op, grads.size(), n->next.size());
    for (std::size_t i = 0; i < grads.size(); ++i) {
      node* nx = n->next[i].get();
      if (!nx || !grads[i].defined()) continue;
      LMLAB_ASSERT(grads[i].shape() == nx->out_shape, "{}: gradient {} has shape {}, input has {}", n->op, i,
                   shape_str(grads[i].shape()), shape_str(nx->out_shape));
      auto [pit, inserted] = pending.try_emplace(nx, tensor());
      if (inserted) {
        pit->second = grads[i].is_contiguous() ? grads[i] : grads[i].contiguous_raw();
      } else {
        // Never add into memory anything else may still hold (a gradient returned to two
        // inputs, a view of a saved tensor): copy it first. The same tensor returned twice
        // shares one impl (and so one storage reference), hence both counts are checked.
        if (pit->second.impl_ptr().use_count() > 1 || pit->second.impl().store.use_count() > 1)
          pit->second = pit->second.clone_raw();
        add_inplace(pit->second, grads[i]);
      }
    }
    if (!retain_graph) n->backward = nullptr;
  }
}

}  // namespace lmlab
