// The op table (shared/STYLE.md "Examples" 1-2; llama.cpp's test-backend-ops): one row per op
// and case. Each row is checked three ways:
//  1. forward in f32 against the naive f64 reference (tests/ops/naive.hpp), tolerance in the row;
//  2. forward in f64 against the same reference at 1e-9;
//  3. backward: f64 analytic gradients against central finite differences (gradcheck), and
//     f32 analytic gradients against the f64 ones (catches f32-only backward kernels).
// Kinks (relu at 0) are skipped by the row's `kink` predicate.
// The zoo kernels (selective scan, causal conv1d, WKV, RG-LRU, retention, RoPE, FIRE, MoE/MoD
// routing) have their rows in a section of their own below the core table, with the
// tolerances their separate tests had; ALiBi is covered by the attention rows with slopes.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "core/rng.hpp"
#include "naive.hpp"
#include "ops/alibi.hpp"
#include "ops/ops.hpp"
#include "ops/retention.hpp"
#include "ops/rglru.hpp"
#include "ops/rope.hpp"
#include "ops/routing.hpp"
#include "ops/scan.hpp"
#include "ops/wkv.hpp"

namespace lmlab {
namespace {

using naive::dense;
using fn_t = std::function<tensor(const std::vector<tensor>&)>;
using ref_t = std::function<dense(const std::vector<dense>&)>;

enum class kind { normal, positive, ids, ids_ignore, uniform };
struct input_spec {
  shape_t shape;
  kind k = kind::normal;
  std::int32_t range = 0;  // ids in [0, range); ids_ignore also uses -100 on every 3rd element
  double lo = 0, hi = 0;   // uniform in [lo, hi)
};

struct op_row {
  std::string name;
  std::vector<input_spec> in;
  fn_t op;
  ref_t ref;
  double fwd_tol;   // f32 forward vs f64 reference: atol = rtol = fwd_tol
  double grad_tol;  // gradcheck in f64: atol = rtol = grad_tol
  std::function<bool(std::size_t, std::int64_t, double)> kink = nullptr;
  // Set by the zoo rows, which keep their former tests' tolerances: f32 forward rtol (0: as
  // fwd_tol), the f64 forward tolerance, gradcheck's rtol (0: as grad_tol).
  double fwd_rtol = 0, f64_atol = 1e-9, f64_rtol = 1e-9, grad_rtol = 0;
  double f32_rtol() const { return fwd_rtol > 0 ? fwd_rtol : fwd_tol; }
};

input_spec N(shape_t s) { return {std::move(s), kind::normal, 0}; }
input_spec P(shape_t s) { return {std::move(s), kind::positive, 0}; }
input_spec I(shape_t s, std::int32_t range) { return {std::move(s), kind::ids, range}; }
input_spec IG(shape_t s, std::int32_t range) { return {std::move(s), kind::ids_ignore, range}; }
input_spec U(shape_t s, double lo, double hi) { return {std::move(s), kind::uniform, 0, lo, hi}; }

std::vector<tensor> make_inputs(const op_row& row, std::uint64_t seed) {
  rng g(seed);
  std::vector<tensor> xs;
  for (const auto& spec : row.in) {
    const std::int64_t n = numel_of(spec.shape);
    if (spec.k == kind::ids || spec.k == kind::ids_ignore) {
      std::vector<std::int32_t> v(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i)
        v[static_cast<std::size_t>(i)] = spec.k == kind::ids_ignore && i % 3 == 1 ? -100 : static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(spec.range)));
      xs.push_back(tensor::from<std::int32_t>(spec.shape, std::span<const std::int32_t>(v)));
      continue;
    }
    std::vector<double> v(static_cast<std::size_t>(n));
    for (auto& x : v)
      x = spec.k == kind::positive ? 0.5 + 1.5 * g.uniform()
          : spec.k == kind::uniform ? spec.lo + (spec.hi - spec.lo) * g.uniform()
                                    : g.normal();
    xs.push_back(tensor::from<double>(spec.shape, std::span<const double>(v)));
  }
  return xs;
}

std::vector<tensor> as_type(const std::vector<tensor>& xs, dtype t) {
  std::vector<tensor> out;
  for (const auto& x : xs) out.push_back(x.type() == dtype::i32 ? x : x.to_raw(t));
  return out;
}

tensor to_tensor(const dense& d) { return tensor::from<double>(d.shape, std::span<const double>(d.v)); }

// ---- the table --------------------------------------------------------------------------

double sigm(double x) { return 1 / (1 + std::exp(-x)); }

std::vector<op_row> make_table() {
  using namespace naive;
  std::vector<op_row> t;
  auto add_row = [&](op_row r) { t.push_back(std::move(r)); };
  auto bin = [](auto f) { return [f](const std::vector<dense>& x) { return binary(x[0], x[1], f); }; };
  auto un = [](auto f) { return [f](const std::vector<dense>& x) { return unary(x[0], f); }; };
  const auto plus = [](double a, double b) { return a + b; };

  // Elementwise binary, with broadcasting and a transposed (non-contiguous) input.
  add_row({"add_same", {N({3, 4}), N({3, 4})}, [](auto& x) { return add(x[0], x[1]); }, bin(plus), 1e-6, 1e-7});
  add_row({"add_bcast_row", {N({2, 3, 4}), N({4})}, [](auto& x) { return add(x[0], x[1]); }, bin(plus), 1e-6, 1e-7});
  add_row({"add_bcast_both", {N({2, 1, 4}), N({3, 1})}, [](auto& x) { return add(x[0], x[1]); }, bin(plus), 1e-6, 1e-7});
  add_row({"add_scalar_tensor", {N({}), N({3, 4})}, [](auto& x) { return add(x[0], x[1]); }, bin(plus), 1e-6, 1e-7});
  add_row({"add_transposed", {N({4, 3}), N({3, 4})}, [](auto& x) { return add(transpose(x[0], 0, 1), x[1]); },
           [](auto& x) { return binary(transpose(x[0], 0, 1), x[1], [](double a, double b) { return a + b; }); }, 1e-6, 1e-7});
  add_row({"sub_bcast_col", {N({3, 4}), N({3, 1})}, [](auto& x) { return sub(x[0], x[1]); },
           bin([](double a, double b) { return a - b; }), 1e-6, 1e-7});
  add_row({"mul_bcast_mid", {N({2, 3, 4}), N({1, 3, 1})}, [](auto& x) { return mul(x[0], x[1]); },
           bin([](double a, double b) { return a * b; }), 1e-6, 1e-7});
  add_row({"mul_transposed_bcast", {N({5, 2}), N({5})}, [](auto& x) { return mul(transpose(x[0], 0, 1), x[1]); },
           [](auto& x) { return binary(transpose(x[0], 0, 1), x[1], [](double a, double b) { return a * b; }); }, 1e-6, 1e-7});
  add_row({"div_bcast", {N({3, 4}), P({4})}, [](auto& x) { return div(x[0], x[1]); },
           bin([](double a, double b) { return a / b; }), 1e-6, 1e-6});

  // Unary.
  add_row({"add_scalar", {N({3, 5})}, [](auto& x) { return add_scalar(x[0], 0.75); }, un([](double a) { return a + 0.75; }), 1e-6, 1e-7});
  add_row({"mul_scalar", {N({3, 5})}, [](auto& x) { return mul_scalar(x[0], -1.5); }, un([](double a) { return a * -1.5; }), 1e-6, 1e-7});
  add_row({"neg", {N({7})}, [](auto& x) { return neg(x[0]); }, un([](double a) { return -a; }), 1e-6, 1e-7});
  add_row({"exp", {N({4, 5})}, [](auto& x) { return exp(x[0]); }, un([](double a) { return std::exp(a); }), 1e-6, 1e-6});
  add_row({"log", {P({4, 5})}, [](auto& x) { return log(x[0]); }, un([](double a) { return std::log(a); }), 1e-6, 1e-6});
  add_row({"sqrt", {P({4, 5})}, [](auto& x) { return sqrt(x[0]); }, un([](double a) { return std::sqrt(a); }), 1e-6, 1e-6});
  add_row({"tanh", {N({4, 5})}, [](auto& x) { return tanh(x[0]); }, un([](double a) { return std::tanh(a); }), 1e-6, 1e-6});
  add_row({"sigmoid", {N({4, 5})}, [](auto& x) { return sigmoid(x[0]); }, un(sigm), 1e-6, 1e-6});
  add_row({"pow_scalar", {P({4, 5})}, [](auto& x) { return pow_scalar(x[0], 2.5); }, un([](double a) { return std::pow(a, 2.5); }), 1e-5, 1e-6});
  add_row({"relu", {N({4, 5})}, [](auto& x) { return relu(x[0]); }, un([](double a) { return a > 0 ? a : 0; }), 1e-6, 1e-7,
           [](std::size_t, std::int64_t, double v) { return std::abs(v) < 1e-3; }});
  add_row({"silu", {N({4, 5})}, [](auto& x) { return silu(x[0]); }, un([](double a) { return a * sigm(a); }), 1e-6, 1e-6});
  add_row({"softplus", {N({4, 5})}, [](auto& x) { return softplus(mul_scalar(x[0], 12.0)); },
           un([](double a) { return 12 * a > 20 ? 12 * a : std::log1p(std::exp(12 * a)); }), 1e-5, 1e-6,
           [](std::size_t, std::int64_t, double v) { return std::abs(12 * v - 20) < 1e-3; }});
  add_row({"gelu_exact", {N({4, 5})}, [](auto& x) { return gelu(x[0]); },
           un([](double a) { return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))); }), 1e-6, 1e-6});
  add_row({"gelu_tanh", {N({4, 5})}, [](auto& x) { return gelu(x[0], gelu_approx::tanh); },
           un([](double a) { return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a))); }), 1e-6, 1e-6});

  // Reductions.
  add_row({"sum_all", {N({3, 4, 5})}, [](auto& x) { return sum(x[0]); },
           [](auto& x) { auto r = sum_keep(x[0], {0, 1, 2}); r.shape = {}; return r; }, 1e-5, 1e-7});
  add_row({"mean_all", {N({3, 4, 5})}, [](auto& x) { return mean(x[0]); },
           [](auto& x) { auto r = sum_keep(x[0], {0, 1, 2}); r.shape = {}; r.v[0] /= 60; return r; }, 1e-6, 1e-7});
  add_row({"sum_dims_02", {N({3, 4, 5})}, [](auto& x) { return sum(x[0], {0, 2}); },
           [](auto& x) { auto r = sum_keep(x[0], {0, 2}); r.shape = {4}; return r; }, 1e-5, 1e-7});
  add_row({"sum_dim1_keep", {N({3, 4, 5})}, [](auto& x) { return sum(x[0], {1}, true); },
           [](auto& x) { return sum_keep(x[0], {1}); }, 1e-5, 1e-7});
  add_row({"mean_last_transposed", {N({5, 3})}, [](auto& x) { return mean(transpose(x[0], 0, 1), {-1}); },
           [](auto& x) { auto r = sum_keep(transpose(x[0], 0, 1), {1}); r.shape = {3}; for (auto& v : r.v) v /= 5; return r; }, 1e-6, 1e-7});
  add_row({"amax_dim1", {N({3, 6, 2})}, [](auto& x) { return amax(x[0], 1); },
           [](auto& x) {
             dense r{{3, 2}, std::vector<double>(6, -INFINITY)};
             for (int a = 0; a < 3; ++a)
               for (int k = 0; k < 6; ++k)
                 for (int c = 0; c < 2; ++c) r.v[a * 2 + c] = std::max(r.v[a * 2 + c], x[0].v[(a * 6 + k) * 2 + c]);
             return r;
           }, 1e-7, 1e-7});

  // Shape ops.
  add_row({"reshape", {N({2, 6})}, [](auto& x) { return mul(reshape(x[0], {3, 4}), reshape(x[0], {3, 4})); },
           [](auto& x) { auto r = unary(x[0], [](double a) { return a * a; }); r.shape = {3, 4}; return r; }, 1e-6, 1e-7});
  add_row({"reshape_noncontig", {N({3, 4})}, [](auto& x) { return reshape(transpose(x[0], 0, 1), {2, 6}); },
           [](auto& x) { auto r = transpose(x[0], 0, 1); r.shape = {2, 6}; return r; }, 1e-7, 1e-7});
  add_row({"reshape_split_narrowed_view", {N({2, 3, 12})}, [](auto& x) { return reshape(transpose(reshape(narrow(x[0], 2, 4, 8), {2, 3, 2, 4}), 1, 2), {4, 12}); },
           [](auto& x) {
             dense r{{4, 12}, {}};
             for (int b = 0; b < 2; ++b)
               for (int h = 0; h < 2; ++h)
                 for (int t = 0; t < 3; ++t)
                   for (int d = 0; d < 4; ++d) r.v.push_back(x[0].v[static_cast<std::size_t>((b * 3 + t) * 12 + 4 + h * 4 + d)]);
             return r;
           }, 1e-7, 1e-7});
  add_row({"permute", {N({2, 3, 4})}, [](auto& x) { return contiguous(permute(x[0], {2, 0, 1})); },
           [](auto& x) { return transpose(transpose(x[0], 0, 2), 1, 2); }, 1e-7, 1e-7});
  add_row({"narrow", {N({4, 5})}, [](auto& x) { return exp(narrow(x[0], 1, 1, 3)); },
           [](auto& x) {
             dense r{{4, 3}, {}};
             for (int i = 0; i < 4; ++i)
               for (int j = 1; j < 4; ++j) r.v.push_back(std::exp(x[0].v[i * 5 + j]));
             return r;
           }, 1e-6, 1e-6});
  add_row({"cat_dim1", {N({2, 3}), N({2, 1}), N({2, 2})}, [](auto& x) { return cat({x[0], x[1], x[2]}, 1); },
           [](auto& x) {
             dense r{{2, 6}, {}};
             for (int i = 0; i < 2; ++i) {
               for (int j = 0; j < 3; ++j) r.v.push_back(x[0].v[i * 3 + j]);
               r.v.push_back(x[1].v[i]);
               for (int j = 0; j < 2; ++j) r.v.push_back(x[2].v[i * 2 + j]);
             }
             return r;
           }, 1e-7, 1e-7});
  add_row({"unsqueeze_squeeze", {N({3, 4}), N({3})}, [](auto& x) { return squeeze(add(x[0], unsqueeze(x[1], 1)), 0); },
           [](auto& x) { auto b = x[1]; b.shape = {3, 1}; return binary(x[0], b, [](double a, double c) { return a + c; }); }, 1e-6, 1e-7});
  add_row({"expand", {N({3, 1})}, [](auto& x) { return expand(x[0], {2, 3, 4}); },
           [](auto& x) { return binary(x[0], dense{{2, 3, 4}, std::vector<double>(24, 0.0)}, [](double a, double) { return a; }); }, 1e-7, 1e-7});

  // Matrix products, including transposed views passed to the BLAS without copies.
  add_row({"matmul_2d", {N({5, 7}), N({7, 3})}, [](auto& x) { return matmul(x[0], x[1]); },
           [](auto& x) { return matmul(x[0], x[1]); }, 1e-5, 1e-6});
  add_row({"matmul_3d_by_2d", {N({2, 5, 7}), N({7, 3})}, [](auto& x) { return matmul(x[0], x[1]); },
           [](auto& x) { return matmul(x[0], x[1]); }, 1e-5, 1e-6});
  add_row({"matmul_batched", {N({2, 5, 7}), N({2, 7, 3})}, [](auto& x) { return matmul(x[0], x[1]); },
           [](auto& x) { return matmul(x[0], x[1]); }, 1e-5, 1e-6});
  add_row({"matmul_aT_bT", {N({7, 5}), N({3, 7})}, [](auto& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); },
           [](auto& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); }, 1e-5, 1e-6});
  add_row({"matmul_batched_bT", {N({2, 5, 7}), N({2, 3, 7})}, [](auto& x) { return matmul(x[0], transpose(x[1], 1, 2)); },
           [](auto& x) { return matmul(x[0], transpose(x[1], 1, 2)); }, 1e-5, 1e-6});
  auto linear_ref = [](const std::vector<dense>& x) {
    dense y = matmul(x[0], transpose(x[1], 0, 1));
    if (x.size() > 2) y = binary(y, x[2], [](double a, double b) { return a + b; });
    return y;
  };
  add_row({"linear_bias", {N({6, 5}), N({4, 5}), N({4})}, [](auto& x) { return linear(x[0], x[1], x[2]); }, linear_ref, 1e-5, 1e-6});
  add_row({"linear_3d_nobias", {N({2, 3, 5}), N({4, 5})}, [](auto& x) { return linear(x[0], x[1]); }, linear_ref, 1e-5, 1e-6});
  add_row({"linear_wT_view", {N({6, 5}), N({5, 4}), N({4})}, [](auto& x) { return linear(x[0], transpose(x[1], 0, 1), x[2]); },
           [linear_ref](const std::vector<dense>& x) { return linear_ref({x[0], transpose(x[1], 0, 1), x[2]}); }, 1e-5, 1e-6});

  // Norms, softmax, embedding, loss.
  auto ln_ref = [](const std::vector<dense>& x) {
    dense y = rows(x[0], [](const double* a, double* o, std::int64_t C) {
      double m = 0, v = 0;
      for (std::int64_t c = 0; c < C; ++c) m += a[c] / C;
      for (std::int64_t c = 0; c < C; ++c) v += (a[c] - m) * (a[c] - m) / C;
      for (std::int64_t c = 0; c < C; ++c) o[c] = (a[c] - m) / std::sqrt(v + 1e-5);
    });
    if (x.size() > 1) y = binary(y, x[1], [](double a, double b) { return a * b; });
    if (x.size() > 2) y = binary(y, x[2], [](double a, double b) { return a + b; });
    return y;
  };
  add_row({"layer_norm_affine", {N({2, 3, 8}), N({8}), N({8})}, [](auto& x) { return layer_norm(x[0], x[1], x[2]); }, ln_ref, 1e-5, 1e-6});
  add_row({"layer_norm_plain", {N({5, 8})}, [](auto& x) { return layer_norm(x[0], {}, {}); }, ln_ref, 1e-5, 1e-6});
  auto rms_ref = [](const std::vector<dense>& x) {
    dense y = rows(x[0], [](const double* a, double* o, std::int64_t C) {
      double s = 0;
      for (std::int64_t c = 0; c < C; ++c) s += a[c] * a[c] / C;
      for (std::int64_t c = 0; c < C; ++c) o[c] = a[c] / std::sqrt(s + 1e-6);
    });
    if (x.size() > 1) y = binary(y, x[1], [](double a, double b) { return a * b; });
    return y;
  };
  add_row({"rms_norm_weight", {N({4, 8}), N({8})}, [](auto& x) { return rms_norm(x[0], x[1]); }, rms_ref, 1e-5, 1e-6});
  add_row({"rms_norm_plain", {N({4, 8})}, [](auto& x) { return rms_norm(x[0], {}); }, rms_ref, 1e-5, 1e-6});
  add_row({"softmax_last", {N({3, 7})}, [](auto& x) { return softmax(x[0]); }, [](auto& x) { return softmax_last(x[0], false); }, 1e-6, 1e-6});
  add_row({"softmax_dim1", {N({2, 5, 3})}, [](auto& x) { return softmax(x[0], 1); },
           [](auto& x) { return transpose(softmax_last(transpose(x[0], 1, 2), false), 1, 2); }, 1e-6, 1e-6});
  add_row({"log_softmax_last", {N({3, 7})}, [](auto& x) { return log_softmax(x[0]); }, [](auto& x) { return softmax_last(x[0], true); }, 1e-5, 1e-6});
  add_row({"embedding_repeated", {N({5, 4}), I({2, 6}, 3)}, [](auto& x) { return embedding(x[0], x[1]); },
           [](auto& x) {
             dense r{{2, 6, 4}, {}};
             for (double id : x[1].v)
               for (int c = 0; c < 4; ++c) r.v.push_back(x[0].v[static_cast<std::size_t>(id) * 4 + c]);
             return r;
           }, 1e-7, 1e-7});
  auto xent_ref = [](const std::vector<dense>& x) {
    const auto V = x[0].shape[1];
    dense ls = softmax_last(x[0], true);
    double s = 0;
    int n = 0;
    for (std::size_t i = 0; i < x[1].v.size(); ++i) {
      if (x[1].v[i] == -100) continue;
      s -= ls.v[i * static_cast<std::size_t>(V) + static_cast<std::size_t>(x[1].v[i])];
      ++n;
    }
    return dense{{}, {s / n}};
  };
  add_row({"cross_entropy", {N({6, 9}), I({6}, 9)}, [](auto& x) { return cross_entropy(x[0], x[1]); }, xent_ref, 1e-6, 1e-6});
  add_row({"cross_entropy_ignore", {N({7, 5}), IG({7}, 5)}, [](auto& x) { return cross_entropy(x[0], x[1]); }, xent_ref, 1e-6, 1e-6});

  // Attention: fused kernel vs loops; GQA/MQA, sliding window, ALiBi, S > T, non-causal, and
  // T and S large enough to span several tiles (64 queries x 256 keys), so the online softmax
  // rescales across key tiles.
  auto attn = [](bool causal, std::int64_t window, std::vector<double> slopes) {
    return std::make_pair(
        fn_t([=](const std::vector<tensor>& x) {
          attention_options o;
          o.causal = causal;
          o.window = window;
          if (!slopes.empty()) o.alibi_slopes = tensor::from<double>({static_cast<std::int64_t>(slopes.size())}, std::span<const double>(slopes));
          return attention(x[0], x[1], x[2], o);
        }),
        ref_t([=](const std::vector<dense>& x) { return naive::attention(x[0], x[1], x[2], causal, window, 0, slopes); }));
  };
  auto arow = [&](std::string name, shape_t q, shape_t kv, std::pair<fn_t, ref_t> f) {
    add_row({std::move(name), {N(q), N(kv), N(kv)}, f.first, f.second, 1e-5, 1e-6});
  };
  // q, k, v as transposed (B, T, H, D) views, read in place by the kernel.
  add_row({"attention_strided_views", {N({2, 5, 3, 4}), N({2, 5, 1, 4}), N({2, 5, 1, 4})},
           [](auto& x) { return attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2), transpose(x[2], 1, 2)); },
           [](auto& x) {
             return naive::attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2), transpose(x[2], 1, 2), true, 0, 0, {});
           },
           1e-5, 1e-6});
  arow("attention_mha_causal", {2, 2, 5, 4}, {2, 2, 5, 4}, attn(true, 0, {}));
  arow("attention_gqa", {1, 4, 6, 3}, {1, 2, 6, 3}, attn(true, 0, {}));
  arow("attention_mqa", {2, 3, 4, 4}, {2, 1, 4, 4}, attn(true, 0, {}));
  arow("attention_window", {1, 2, 7, 4}, {1, 2, 7, 4}, attn(true, 3, {}));
  arow("attention_alibi", {1, 2, 6, 4}, {1, 2, 6, 4}, attn(true, 0, {0.5, 0.25}));
  arow("attention_causal_S_gt_T", {1, 2, 3, 4}, {1, 2, 7, 4}, attn(true, 0, {}));
  arow("attention_noncausal", {1, 2, 4, 4}, {1, 2, 6, 4}, attn(false, 0, {}));
  arow("attention_multi_tile", {1, 1, 70, 3}, {1, 1, 70, 3}, attn(true, 0, {}));
  arow("attention_two_key_tiles", {1, 1, 20, 2}, {1, 1, 300, 2}, attn(true, 0, {}));
  arow("attention_multi_tile_window_gqa", {1, 2, 70, 2}, {1, 1, 300, 2}, attn(true, 270, {0.01, 0.02}));
  // Past the short-head bounds (T or S > 128): several query tiles of the tiled kernel.
  arow("attention_tiled_query_tiles", {1, 1, 140, 3}, {1, 1, 140, 3}, attn(true, 0, {}));
  // Short heads (T, S <= 128, D <= 16) run the GEMM-free per-head kernel (so does
  // attention_multi_tile above, T 70); the rows with S 300 or T 140 run the tiled one. A lab
  // shape (T 17, D 16), SCAN's (T 70: a ragged last block of query rows), and every option on
  // the short path, including queries that see no key (causal, S < T).
  arow("attention_short_scan_shape", {1, 2, 70, 16}, {1, 2, 70, 16}, attn(true, 0, {}));
  arow("attention_short_lab_shape", {1, 2, 17, 16}, {1, 2, 17, 16}, attn(true, 0, {}));
  arow("attention_short_head_dim_8", {2, 2, 9, 8}, {2, 1, 9, 8}, attn(true, 0, {}));
  arow("attention_short_window_alibi_gqa", {1, 4, 9, 5}, {1, 2, 9, 5}, attn(true, 4, {0.5, 0.25, 0.125, 0.0625}));
  arow("attention_short_no_visible_key", {1, 2, 6, 3}, {1, 2, 4, 3}, attn(true, 0, {}));
  // The backward's key blocks (dK, dV over the queries that see 8 or 4 keys): a window that
  // moves both ends of each block's query range, a ragged last key block, GQA, S > T unmasked.
  arow("attention_short_key_blocks_window", {1, 4, 37, 16}, {1, 2, 37, 16}, attn(true, 11, {0.1, 0.2, 0.3, 0.4}));
  arow("attention_short_key_blocks_noncausal", {1, 2, 10, 8}, {1, 2, 21, 8}, attn(false, 0, {}));

  // Mamba's gated selective scan (ops/scan.hpp): y = scan(u, softplus(delta_raw), A, B, C, D)
  // * silu(z), against plain double loops. Inputs u, delta_raw, A, B, C[, D][, z]; A enters as
  // given (either sign: the general exp path) or as -exp(x) (Mamba's A <= 0: the decays take
  // exp_fast_nonpos). D = 17 channels: a full 16-lane block and a ragged one.
  auto gscan = [](bool neg_exp_a, bool has_d, bool has_z) {
    fn_t op = [=](const std::vector<tensor>& x) {
      const tensor A = neg_exp_a ? neg(exp(x[2])) : x[2];
      return selective_scan_gated(x[0], x[1], A, x[3], x[4], has_d ? x[5] : tensor(), has_z ? x[has_d ? 6 : 5] : tensor());
    };
    ref_t ref = [=](const std::vector<dense>& x) {
      const std::int64_t B = x[0].shape[0], T = x[0].shape[1], D = x[0].shape[2], N = x[2].shape[1];
      dense y{x[0].shape, std::vector<double>(x[0].v.size())};
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t d = 0; d < D; ++d) {
          std::vector<double> h(static_cast<std::size_t>(N), 0.0);
          for (std::int64_t t = 0; t < T; ++t) {
            const auto i = static_cast<std::size_t>((b * T + t) * D + d);
            const double r = x[1].v[i], dl = r > 20 ? r : std::log1p(std::exp(r)), u = x[0].v[i];
            double acc = has_d ? x[5].v[static_cast<std::size_t>(d)] * u : 0.0;
            for (std::int64_t n = 0; n < N; ++n) {
              const double a0 = x[2].v[static_cast<std::size_t>(d * N + n)], A = neg_exp_a ? -std::exp(a0) : a0;
              const auto bn = static_cast<std::size_t>((b * T + t) * N + n);
              double& hn = h[static_cast<std::size_t>(n)];
              hn = std::exp(dl * A) * hn + dl * x[3].v[bn] * u;
              acc += x[4].v[bn] * hn;
            }
            if (has_z) {
              const double z = x[has_d ? 6 : 5].v[i];
              acc *= z * sigm(z);
            }
            y.v[i] = acc;
          }
        }
      return y;
    };
    return std::make_pair(op, ref);
  };
  {
    auto [op, ref] = gscan(true, true, true);
    add_row({"selective_scan_gated_mamba", {N({2, 5, 17}), N({2, 5, 17}), N({17, 3}), N({2, 5, 3}), N({2, 5, 3}), N({17}), N({2, 5, 17})},
             op, ref, 1e-5, 1e-6});
  }
  {
    auto [op, ref] = gscan(false, true, true);
    add_row({"selective_scan_gated_any_sign_A", {N({1, 6, 3}), N({1, 6, 3}), N({3, 2}), N({1, 6, 2}), N({1, 6, 2}), N({3}), N({1, 6, 3})},
             op, ref, 1e-5, 1e-6});
  }
  {
    auto [op, ref] = gscan(true, false, false);
    add_row({"selective_scan_gated_no_D_no_z", {N({2, 4, 5}), N({2, 4, 5}), N({5, 2}), N({2, 4, 2}), N({2, 4, 2})}, op, ref, 1e-5, 1e-6});
  }
  return t;
}

// ---- the zoo kernels ------------------------------------------------------------------

// A row whose reference is a plain-loop ops function on f64 tensors (the zoo kernels' own
// references, e.g. selective_scan_reference), or a naive dense function written here.
ref_t tensor_ref(std::function<tensor(const std::vector<tensor>&)> f) {
  return [f](const std::vector<dense>& x) {
    std::vector<tensor> t;
    for (const auto& d : x) t.push_back(to_tensor(d));
    return naive::of(f(t));
  };
}

// Tolerances of a zoo kernel's former separate test: f32 forward (atol, rtol) and f64 forward
// against the reference; gradcheck with its default tolerances (atol 1e-7, rtol 1e-5).
struct zoo_tol {
  double f32_atol, f32_rtol, f64_atol, f64_rtol;
};

op_row zoo_row(std::string name, std::vector<input_spec> in, fn_t op, ref_t ref, zoo_tol tol) {
  op_row r{std::move(name), std::move(in), std::move(op), std::move(ref), tol.f32_atol, 1e-7};
  r.fwd_rtol = tol.f32_rtol;
  r.f64_atol = tol.f64_atol;
  r.f64_rtol = tol.f64_rtol;
  r.grad_rtol = 1e-5;
  return r;
}

// Causal depthwise conv1d, w (C, K) oldest..newest tap: y[b,t,c] = bias[c] + sum_k w[c,k] x[b, t-K+1+k, c].
dense naive_conv1d(const dense& x, const dense& w, const dense& bias) {
  const std::int64_t B = x.shape[0], T = x.shape[1], C = x.shape[2], K = w.shape[1];
  dense y{x.shape, std::vector<double>(x.v.size())};
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t c = 0; c < C; ++c) {
        double s = bias.v[static_cast<std::size_t>(c)];
        for (std::int64_t k = 0; k < K; ++k) {
          const std::int64_t ts = t - K + 1 + k;
          if (ts >= 0) s += w.v[static_cast<std::size_t>(c * K + k)] * x.v[static_cast<std::size_t>((b * T + ts) * C + c)];
        }
        y.v[static_cast<std::size_t>((b * T + t) * C + c)] = s;
      }
  return y;
}

// RoPE from its definition: the pair (a, b) of features rotates by the angle (offset + t) *
// inv_freq[i], both parts scaled by the attention factor; features past 2 * half pass through.
dense naive_rotary(const dense& x, const rope_params& p, std::int64_t offset, rotary_layout layout) {
  const std::int64_t T = x.shape[2], D = x.shape[3], half = static_cast<std::int64_t>(p.inv_freq.size());
  dense y = x;
  for (std::int64_t row = 0; row < x.numel() / D; ++row) {
    const std::int64_t t = row % T;
    for (std::int64_t i = 0; i < half; ++i) {
      const double ang = static_cast<double>(offset + t) * p.inv_freq[static_cast<std::size_t>(i)];
      const std::int64_t ia = layout == rotary_layout::half_split ? i : 2 * i;
      const std::int64_t ib = layout == rotary_layout::half_split ? i + half : 2 * i + 1;
      const double a = x.v[static_cast<std::size_t>(row * D + ia)], b = x.v[static_cast<std::size_t>(row * D + ib)];
      y.v[static_cast<std::size_t>(row * D + ia)] = p.attention_factor * (a * std::cos(ang) - b * std::sin(ang));
      y.v[static_cast<std::size_t>(row * D + ib)] = p.attention_factor * (b * std::cos(ang) + a * std::sin(ang));
    }
  }
  return y;
}

// FIRE's normalised distance (Li et al. 2023 eq. 5, thresholded normaliser of sec. 3.3):
// out[r, j] = log(c (i - j) + 1) / log(c max(L, i) + 1) for j < i = offset + r, else 0.
dense naive_fire(double c, double L, std::int64_t T, std::int64_t offset) {
  const std::int64_t S = offset + T;
  dense y{{T, S}, std::vector<double>(static_cast<std::size_t>(T * S), 0.0)};
  for (std::int64_t r = 0; r < T; ++r) {
    const std::int64_t i = offset + r;
    for (std::int64_t j = 0; j < i; ++j)
      y.v[static_cast<std::size_t>(r * S + j)] =
          std::log(c * static_cast<double>(i - j) + 1) / std::log(c * std::max(L, static_cast<double>(i)) + 1);
  }
  return y;
}

// Top-k MoE routing from its definition: softmax, the k best experts per token (ties to the
// lower index), slots claimed token by token up to the capacity, gates renormalised over the
// k choices (or not) and zeroed where dropped; aux = E sum_e f_e P_e (Fedus et al. eq. 4).
struct naive_moe {
  dense gates, aux;
};
naive_moe naive_moe_route(const dense& logits, std::int64_t k, double capacity_factor, bool renormalize) {
  const std::int64_t N = logits.shape[0], E = logits.shape[1];
  const dense p = naive::softmax_last(logits, false);
  const auto cap = static_cast<std::int64_t>(std::ceil(capacity_factor * static_cast<double>(N * k) / static_cast<double>(E) - 1e-9));
  std::vector<std::int64_t> kept(static_cast<std::size_t>(E), 0), routed(static_cast<std::size_t>(E), 0);
  dense gates{{N, k}, std::vector<double>(static_cast<std::size_t>(N * k), 0.0)};
  for (std::int64_t n = 0; n < N; ++n) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) order[static_cast<std::size_t>(e)] = e;
    const double* pn = p.v.data() + n * E;
    std::stable_sort(order.begin(), order.end(), [pn](std::int64_t a, std::int64_t b) { return pn[a] > pn[b]; });
    double s = 0;
    for (std::int64_t j = 0; j < k; ++j) s += pn[order[static_cast<std::size_t>(j)]];
    for (std::int64_t j = 0; j < k; ++j) {
      const auto e = static_cast<std::size_t>(order[static_cast<std::size_t>(j)]);
      ++routed[e];
      if (kept[e]++ < cap) gates.v[static_cast<std::size_t>(n * k + j)] = pn[e] / (renormalize ? s : 1.0);
    }
  }
  double aux = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    double P = 0;
    for (std::int64_t n = 0; n < N; ++n) P += p.v[static_cast<std::size_t>(n * E + e)];
    aux += static_cast<double>(routed[static_cast<std::size_t>(e)]) / static_cast<double>(N * k) * P / static_cast<double>(N);
  }
  return {gates, dense{{}, {static_cast<double>(E) * aux}}};
}

// Mixture-of-Depths: per row the k largest router weights (ties to the earlier position), in
// position order.
dense naive_mod_weights(const dense& w, std::int64_t k) {
  const std::int64_t B = w.shape[0], T = w.shape[1];
  dense y{{B, k}, {}};
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(T));
    for (std::int64_t t = 0; t < T; ++t) order[static_cast<std::size_t>(t)] = t;
    const double* wb = w.v.data() + b * T;
    std::stable_sort(order.begin(), order.end(), [wb](std::int64_t a, std::int64_t c) { return wb[a] > wb[c]; });
    order.resize(static_cast<std::size_t>(k));
    std::sort(order.begin(), order.end());
    for (auto t : order) y.v.push_back(wb[t]);
  }
  return y;
}

dense naive_index_add_rows(const dense& base, const std::vector<std::int32_t>& idx, const dense& y) {
  dense out = base;
  const std::int64_t C = base.shape[1];
  for (std::size_t m = 0; m < idx.size(); ++m)
    for (std::int64_t c = 0; c < C; ++c) out.v[static_cast<std::size_t>(idx[m] * C + c)] += y.v[m * static_cast<std::size_t>(C) + static_cast<std::size_t>(c)];
  return out;
}

void add_scan_rows(std::vector<op_row>& t) {
  const zoo_tol tol{2e-5, 1e-4, 1e-12, 1e-12};  // tests/ops/test_scan.cpp matches_naive_loop
  auto scan_in = [](std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t N, bool with_D) {
    std::vector<input_spec> in{U({B, T, D}, -1, 1), U({B, T, D}, 0.05, 0.8), U({D, N}, -2.0, -0.1), U({B, T, N}, -1, 1),
                               U({B, T, N}, -1, 1)};
    if (with_D) in.push_back(U({D}, -1, 1));
    return in;
  };
  auto scan = [](const std::vector<tensor>& x) { return selective_scan(x[0], x[1], x[2], x[3], x[4], x.size() > 5 ? x[5] : tensor()); };
  auto scan_ref = tensor_ref([](const std::vector<tensor>& x) {
    return selective_scan_reference(x[0], x[1], x[2], x[3], x[4], x.size() > 5 ? x[5] : tensor());
  });
  // D = 19 is not a multiple of the 16-channel work block: the ragged last block.
  t.push_back(zoo_row("selective_scan_ragged_block", scan_in(3, 37, 19, 5, true), scan, scan_ref, tol));
  t.push_back(zoo_row("selective_scan_no_skip", scan_in(2, 7, 10, 3, false), scan, scan_ref, tol));
  // T = 150: the backward recomputes in chunks of 64 steps from the forward's checkpoints,
  // crossing two chunk boundaries and ending in a ragged chunk.
  t.push_back(zoo_row("selective_scan_backward_chunks", scan_in(1, 150, 3, 2, true), scan, scan_ref, tol));
  t.push_back(zoo_row("causal_conv1d", {U({2, 6, 5}, -1, 1), U({5, 4}, -1, 1), U({5}, -1, 1)},
                      [](auto& x) { return causal_conv1d(x[0], x[1], x[2]); },
                      [](auto& x) { return naive_conv1d(x[0], x[1], x[2]); }, {1e-6, 1e-6, 1e-14, 1e-13}));
}

void add_recurrent_rows(std::vector<op_row>& t) {
  const zoo_tol wkv_tol{1e-5, 1e-4, 1e-13, 1e-12};  // tests/ops/test_wkv.cpp matches_naive_formula
  auto wkv_op = [](const std::vector<tensor>& x) { return wkv(x[0], x[1], x[2], x[3]); };
  auto wkv_ref = tensor_ref([](const std::vector<tensor>& x) { return wkv_reference(x[0], x[1], x[2], x[3]); });
  t.push_back(zoo_row("wkv", {U({19}, -1.5, -0.05), U({19}, -1, 1), U({3, 23, 19}, -2, 2), U({3, 23, 19}, -1, 1)}, wkv_op,
                      wkv_ref, wkv_tol));
  // Large keys: the max-tracking forward and its backward stay finite and exact.
  t.push_back(zoo_row("wkv_large_keys", {U({5}, -1.2, -0.1), U({5}, -1, 1), U({1, 6, 5}, 40, 60), U({1, 6, 5}, -1, 1)}, wkv_op,
                      wkv_ref, wkv_tol));
  const zoo_tol lru_tol{1e-5, 1e-4, 1e-13, 1e-12};  // tests/ops/test_rglru.cpp matches_plain_loop
  auto lru_op = [](const std::vector<tensor>& x) { return rglru(x[0], x[1], x[2], x[3]); };
  auto lru_ref = tensor_ref([](const std::vector<tensor>& x) { return rglru_reference(x[0], x[1], x[2], x[3]); });
  t.push_back(zoo_row("rglru", {U({2, 30, 70}, -1, 1), U({2, 30, 70}, 0.01, 0.99), U({2, 30, 70}, 0.01, 0.99), U({70}, 0.5, 4)},
                      lru_op, lru_ref, lru_tol));
  t.push_back(zoo_row("rglru_negative_lambda", {U({2, 7, 6}, -1, 1), U({2, 7, 6}, 0.05, 0.95), U({2, 7, 6}, 0.05, 0.95), U({6}, -1, 3)},
                      lru_op, lru_ref, lru_tol));
  // Retention: the parallel and chunkwise forms against the recurrent one (RetNet eq. 5-7).
  const zoo_tol ret_tol{1e-4, 1e-4, 1e-12, 1e-12};  // tests/ops/test_retention.cpp parallel_recurrent_chunkwise_agree
  auto ret_ref = [](std::vector<double> g) {
    return tensor_ref([g](const std::vector<tensor>& x) { return retention_recurrent(x[0], x[1], x[2], g); });
  };
  const auto paper = retnet_gammas(3);
  const std::vector<input_spec> ret_in{U({2, 3, 29, 6}, -1, 1), U({2, 3, 29, 6}, -1, 1), U({2, 3, 29, 5}, -1, 1)};
  t.push_back(zoo_row("retention_parallel", ret_in, [paper](auto& x) { return retention_parallel(x[0], x[1], x[2], paper); },
                      ret_ref(paper), ret_tol));
  // 29 % 4 != 0: a short last chunk.
  t.push_back(zoo_row("retention_chunkwise_ragged", ret_in,
                      [paper](auto& x) { return retention_chunkwise(x[0], x[1], x[2], paper, 4); }, ret_ref(paper), ret_tol));
  const std::vector<double> fast{0.9, 0.6};
  t.push_back(zoo_row("retention_chunkwise_fast_decay", {U({1, 2, 7, 3}, -1, 1), U({1, 2, 7, 3}, -1, 1), U({1, 2, 7, 4}, -1, 1)},
                      [fast](auto& x) { return retention_chunkwise(x[0], x[1], x[2], fast, 3); }, ret_ref(fast), ret_tol));
}

void add_position_rows(std::vector<op_row>& t) {
  const zoo_tol tol{1e-6, 1e-6, 1e-13, 1e-13};
  // YaRN (attention factor != 1) with partial rotary: features 4, 5 of 6 pass through.
  const rope_params yarn =
      rope_parameters({.type = rope_type::yarn, .theta = 100, .dim = 4, .factor = 2, .max_position_embeddings = 16});
  const rope_params plain = rope_parameters({.theta = 10000, .dim = 6});
  for (auto layout : {rotary_layout::half_split, rotary_layout::interleaved}) {
    const std::string lname = layout == rotary_layout::half_split ? "half_split" : "interleaved";
    const auto yc = rope_build_cache(yarn, 20), pc = rope_build_cache(plain, 12);
    t.push_back(zoo_row("rope_yarn_partial_" + lname, {U({2, 3, 5, 6}, -1, 1)},
                        [yc, layout](auto& x) { return apply_rotary(x[0], yc, 3, layout); },
                        [yarn, layout](auto& x) { return naive_rotary(x[0], yarn, 3, layout); }, tol));
    // q and k arrive as (B, H, T, D) views of (B, T, H, D) projections, read in place.
    t.push_back(zoo_row("rope_transposed_view_" + lname, {U({2, 5, 3, 8}, -1, 1)},
                        [pc, layout](auto& x) { return apply_rotary(transpose(x[0], 1, 2), pc, 4, layout); },
                        [plain, layout](auto& x) { return naive_rotary(naive::transpose(x[0], 1, 2), plain, 4, layout); }, tol));
  }
  // FIRE: c and L learnable scalars; L spans rows below and above the threshold max(L, i).
  const zoo_tol fire_tol{1e-5, 1e-5, 1e-13, 1e-13};
  t.push_back(zoo_row("fire_distance", {U({}, 0.3, 2.0), U({}, 1.5, 4.5)}, [](auto& x) { return fire_distance(x[0], x[1], 6); },
                      [](auto& x) { return naive_fire(x[0].v[0], x[1].v[0], 6, 0); }, fire_tol));
  t.push_back(zoo_row("fire_distance_decoding_offset", {U({}, 0.3, 2.0), U({}, 1.5, 4.5)},
                      [](auto& x) { return fire_distance(x[0], x[1], 2, 4); },
                      [](auto& x) { return naive_fire(x[0].v[0], x[1].v[0], 2, 4); }, fire_tol));
}

void add_routing_rows(std::vector<op_row>& t) {
  const zoo_tol tol{1e-6, 1e-6, 1e-13, 1e-13};
  // Capacity 0.6: ceil(0.6 * 7 * 2 / 5) = 2 slots for 14 choices over 5 experts, so the
  // dropped-gate path is always taken.
  for (bool renorm : {true, false}) {
    const moe_route_options opt{.k = 2, .capacity_factor = 0.6, .renormalize = renorm};
    t.push_back(zoo_row(renorm ? "moe_gates_renormalised" : "moe_gates_raw", {U({7, 5}, -2, 2)},
                        [opt](auto& x) { return moe_route(x[0], opt).gates; },
                        [opt](auto& x) { return naive_moe_route(x[0], opt.k, opt.capacity_factor, opt.renormalize).gates; }, tol));
  }
  t.push_back(zoo_row("moe_switch_aux_loss", {U({7, 5}, -2, 2)}, [](auto& x) { return moe_route(x[0], {.k = 2, .capacity_factor = 0.6}).aux_loss; },
                      [](auto& x) { return naive_moe_route(x[0], 2, 0.6, true).aux; }, tol));
  t.push_back(zoo_row("mod_route_weights", {U({2, 6}, -1, 1)}, [](auto& x) { return mod_route(x[0], 0.5).weights; },
                      [](auto& x) { return naive_mod_weights(x[0], 3); }, tol));
  const std::vector<std::int32_t> gather{2, 0, 2}, scatter{1, 1, 0};
  t.push_back(zoo_row("index_rows", {U({3, 2}, -1, 1)}, [gather](auto& x) { return index_rows(x[0], gather); },
                      [gather](auto& x) {
                        dense y{{3, 2}, {}};
                        for (auto r : gather)
                          for (int c = 0; c < 2; ++c) y.v.push_back(x[0].v[static_cast<std::size_t>(r * 2 + c)]);
                        return y;
                      }, tol));
  t.push_back(zoo_row("index_add_rows", {U({3, 2}, -1, 1), U({3, 2}, -1, 1)},
                      [scatter](auto& x) { return index_add_rows(x[0], scatter, x[1]); },
                      [scatter](auto& x) { return naive_index_add_rows(x[0], scatter, x[1]); }, tol));
}

void add_zoo_rows(std::vector<op_row>& t) {
  add_scan_rows(t);
  add_recurrent_rows(t);
  add_position_rows(t);
  add_routing_rows(t);
}

const std::vector<op_row>& table() {
  // The zoo rows come after the core table (the seeds follow the row index).
  static const std::vector<op_row> t = [] {
    auto rows = make_table();
    add_zoo_rows(rows);
    return rows;
  }();
  return t;
}

class op_table : public ::testing::TestWithParam<std::size_t> {};

TEST_P(op_table, forward_f32_and_f64_match_naive) {
  const op_row& row = table()[GetParam()];
  auto xs = make_inputs(row, 17 + GetParam());
  std::vector<dense> ds;
  for (const auto& x : xs) ds.push_back(naive::of(x));
  tensor want = to_tensor(row.ref(ds));
  no_grad ng;
  tensor y32 = row.op(as_type(xs, dtype::f32));
  ASSERT_EQ(y32.type(), dtype::f32) << row.name;
  ASSERT_EQ(y32.shape(), want.shape()) << row.name;
  auto r = compare(y32, want, row.fwd_tol, row.f32_rtol());
  EXPECT_TRUE(r.ok) << row.name << " f32: worst element " << r.worst_index << ": " << r.worst_a << " vs " << r.worst_b
                    << " (max |diff| " << r.max_abs_diff << ", tol " << row.fwd_tol << ")";
  tensor y64 = row.op(xs);
  ASSERT_EQ(y64.type(), dtype::f64) << row.name;
  auto r64 = compare(y64, want, row.f64_atol, row.f64_rtol);
  EXPECT_TRUE(r64.ok) << row.name << " f64: worst element " << r64.worst_index << ": " << r64.worst_a << " vs " << r64.worst_b;
}

TEST_P(op_table, backward_matches_finite_differences) {
  const op_row& row = table()[GetParam()];
  auto xs = make_inputs(row, 17 + GetParam());
  gradcheck_options opt;
  opt.atol = row.grad_tol;
  opt.rtol = row.grad_rtol > 0 ? row.grad_rtol : row.grad_tol;
  opt.is_kink = row.kink;
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (xs[i].type() == dtype::i32) opt.skip_inputs.push_back(i);
  auto res = gradcheck(row.op, xs, opt);
  EXPECT_TRUE(res.ok) << row.name << "\n" << res.report;
}

TEST_P(op_table, backward_f32_matches_f64) {
  const op_row& row = table()[GetParam()];
  auto xs = make_inputs(row, 17 + GetParam());
  auto grads_of = [&](dtype t) {
    std::vector<tensor> in = as_type(xs, t);
    for (auto& x : in)
      if (x.type() != dtype::i32) x.set_requires_grad(true);
    tensor y = row.op(in);
    rng g(99);
    std::vector<double> r(static_cast<std::size_t>(y.numel()));
    for (auto& v : r) v = g.uniform() - 0.5;
    backward(y, tensor::from<double>(y.shape(), std::span<const double>(r)).to_raw(t));
    std::vector<tensor> gs;
    for (auto& x : in) gs.push_back(x.type() == dtype::i32 ? tensor() : x.grad());
    return gs;
  };
  auto g32 = grads_of(dtype::f32), g64 = grads_of(dtype::f64);
  for (std::size_t i = 0; i < g32.size(); ++i) {
    if (!g64[i].defined()) continue;
    ASSERT_TRUE(g32[i].defined()) << row.name << " input " << i;
    EXPECT_EQ(g32[i].type(), dtype::f32);
    auto r = compare(g32[i], g64[i], 10 * row.fwd_tol, 10 * row.f32_rtol());
    EXPECT_TRUE(r.ok) << row.name << " input " << i << ": worst element " << r.worst_index << ": " << r.worst_a << " vs "
                      << r.worst_b;
  }
}

INSTANTIATE_TEST_SUITE_P(ops, op_table, ::testing::Range<std::size_t>(0, table().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) { return table()[info.param].name; });

}  // namespace
}  // namespace lmlab
