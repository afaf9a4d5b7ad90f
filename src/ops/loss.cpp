// Fused softmax + cross-entropy with an ignore index (see loss.hpp). One pass per row computes
// the row max and log-sum-exp; the backward recomputes softmax from the saved log-sum-exp, so
// no (N, V) probability tensor is ever stored. Also the naive reference used by tests/ops.
// Not for: other losses.
#include "ops/loss.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/internal.hpp"

namespace lmlab {

using namespace detail;

// logits (N, V), targets (N) i32 -> () mean over rows whose target != ignore_index
tensor cross_entropy(const tensor& logits, const tensor& targets, std::int32_t ignore_index) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, V), got {}", shape_str(logits.shape()));
  LMLAB_CHECK(targets.type() == dtype::i32, "cross_entropy: targets must be i32, got {}", dtype_name(targets.type()));
  const std::int64_t N = logits.size(0), V = logits.size(1);
  LMLAB_CHECK(targets.dim() == 1 && targets.size(0) == N, "cross_entropy: targets must be ({}) for logits {}, got {}", N,
              shape_str(logits.shape()), shape_str(targets.shape()));
  std::vector<std::int32_t> tv = targets.values<std::int32_t>();
  std::int64_t n_valid = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const std::int32_t t = tv[static_cast<std::size_t>(i)];
    if (t == ignore_index) continue;
    LMLAB_CHECK_HINT(t >= 0 && t < V, "targets must be class ids in [0, V) or ignore_index",
                     "cross_entropy: target {} at row {} is out of range for {} classes", t, i, V);
    ++n_valid;
  }
  tensor xc = logits.contiguous_raw();
  tensor lse_t = tensor::empty({N}, logits.type());
  tensor out = tensor::empty({}, logits.type());
  dispatch_float(logits.type(), "cross_entropy", [&]<class T>() {
    const T* px = xc.data<T>();
    T* pl = lse_t.data<T>();
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (N * V > k_par_grain)
    for (std::int64_t i = 0; i < N; ++i) {
      const std::int32_t t = tv[static_cast<std::size_t>(i)];
      if (t == ignore_index) continue;
      const T* xr = px + i * V;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (std::int64_t j = 0; j < V; ++j) m = std::max(m, xr[j]);
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t j = 0; j < V; ++j) s += vexp(xr[j] - m);
      const T lse = m + std::log(s);
      pl[i] = lse;
      total += static_cast<double>(lse - xr[t]);  // -log softmax(x)_t = lse - x_t
    }
    // All targets ignored: 0/0 = NaN, as PyTorch.
    out.data<T>()[0] = static_cast<T>(n_valid == 0 ? std::numeric_limits<double>::quiet_NaN() : total / static_cast<double>(n_valid));
  });
  if (needs_grad({&logits})) {
    record("cross_entropy", out, {logits, targets},
           [xc = xc.detach(), lse_t, tv = std::move(tv), ignore_index, n_valid, N, V](const tensor& g) -> std::vector<tensor> {
             // loss = mean_i (lse_i - x_{i,t_i})  =>  dx_ij = g (softmax_ij - [j = t_i]) / n_valid
             tensor dx = tensor::empty({N, V}, g.type());
             dispatch_float(g.type(), "cross_entropy", [&]<class T>() {
               const T* px = xc.data<T>();
               const T* pl = lse_t.data<T>();
               T* pd = dx.data<T>();
               const T coef = n_valid == 0 ? T(0) : static_cast<T>(g.item() / static_cast<double>(n_valid));
#pragma omp parallel for if (N * V > k_par_grain)
               for (std::int64_t i = 0; i < N; ++i) {
                 T* dr = pd + i * V;
                 const std::int32_t t = tv[static_cast<std::size_t>(i)];
                 if (t == ignore_index) {
                   std::fill(dr, dr + V, T(0));
                   continue;
                 }
                 const T* xr = px + i * V;
                 const T lse = pl[i];
#pragma omp simd
                 for (std::int64_t j = 0; j < V; ++j) dr[j] = coef * vexp(xr[j] - lse);
                 dr[t] -= coef;
               }
             });
             return {dx, tensor()};
           });
  }
  return out;
}

}  // namespace lmlab
