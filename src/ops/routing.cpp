// MoE and MoD routing, row gather/scatter: see routing.hpp.
#include "ops/routing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/autograd.hpp"

namespace lmlab {

namespace {

// ceil(x) robust to x landing a rounding error above an integer (1.25*8*2/4 = 5.000000001).
std::int64_t ceil_count(double x) { return static_cast<std::int64_t>(std::ceil(x - 1e-9)); }

// Row softmax (N,E), differentiable: dx = p (g - sum(g p)).
tensor router_softmax(const tensor& logits) {
  const std::int64_t N = logits.size(0), E = logits.size(1);
  tensor lc = logits.contiguous_raw();
  tensor p = tensor::empty(logits.shape(), logits.type());
  dispatch_float(logits.type(), "moe_route", [&]<class T>() {
    const T* x = lc.data<T>();
    T* y = p.data<T>();
    for (std::int64_t n = 0; n < N; ++n) {
      const T mx = *std::max_element(x + n * E, x + (n + 1) * E);
      T s = 0;
      for (std::int64_t e = 0; e < E; ++e) s += (y[n * E + e] = std::exp(x[n * E + e] - mx));
      for (std::int64_t e = 0; e < E; ++e) y[n * E + e] /= s;
    }
  });
  if (needs_grad({&logits})) {
    record("moe_router_softmax", p, {logits}, [N, E, pd = p.detach()](const tensor& g_in) {
      tensor g = g_in.contiguous_raw();
      tensor gx = tensor::empty(g.shape(), g.type());
      dispatch_float(g.type(), "moe_route", [&]<class T>() {
        const T* pp = pd.data<T>();
        const T* gg = g.data<T>();
        T* o = gx.data<T>();
        for (std::int64_t n = 0; n < N; ++n) {
          T dot = 0;
          for (std::int64_t e = 0; e < E; ++e) dot += gg[n * E + e] * pp[n * E + e];
          for (std::int64_t e = 0; e < E; ++e) o[n * E + e] = pp[n * E + e] * (gg[n * E + e] - dot);
        }
      });
      return std::vector<tensor>{gx};
    });
  }
  return p;
}

// Top-k per token, best first; ties to the lower expert index.
void pick_top_k(moe_routing& r, const std::vector<double>& p, std::int64_t N, std::int64_t E, std::int64_t k) {
  r.expert.resize(static_cast<std::size_t>(N * k));
  std::vector<std::int32_t> order(static_cast<std::size_t>(E));
  for (std::int64_t n = 0; n < N; ++n) {
    std::iota(order.begin(), order.end(), 0);
    const double* pn = p.data() + n * E;
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [pn](std::int32_t a, std::int32_t b) {
      return pn[a] > pn[b] || (pn[a] == pn[b] && a < b);
    });
    std::copy(order.begin(), order.begin() + k, r.expert.begin() + n * k);
  }
}

// Capacity: claim buffer slots in priority order; overflow is dropped.
void claim_slots(moe_routing& r, std::int64_t N, std::int64_t E, std::int64_t k, const moe_route_options& opt) {
  r.capacity = opt.capacity_factor > 0 ? ceil_count(opt.capacity_factor * static_cast<double>(N * k) / static_cast<double>(E)) : N * k;
  r.routed.assign(static_cast<std::size_t>(E), 0);
  r.kept.assign(static_cast<std::size_t>(E), 0);
  r.slot.assign(static_cast<std::size_t>(N * k), -1);
  r.expert_tokens.assign(static_cast<std::size_t>(E), {});
  r.expert_choices.assign(static_cast<std::size_t>(E), {});
  auto claim = [&](std::int64_t n, std::int64_t j) {
    const std::size_t c = static_cast<std::size_t>(n * k + j);
    const auto e = static_cast<std::size_t>(r.expert[c]);
    ++r.routed[e];
    if (r.kept[e] < r.capacity) {
      r.slot[c] = static_cast<std::int32_t>(r.kept[e]++);
      r.expert_tokens[e].push_back(static_cast<std::int32_t>(n));
      r.expert_choices[e].push_back(static_cast<std::int32_t>(c));
    } else {
      ++r.dropped_choices;
    }
  };
  if (opt.priority == moe_priority::position) {
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t j = 0; j < k; ++j) claim(n, j);
  } else {
    for (std::int64_t j = 0; j < k; ++j)
      for (std::int64_t n = 0; n < N; ++n) claim(n, j);
  }
  for (std::int64_t n = 0; n < N; ++n) {
    bool any = false;
    for (std::int64_t j = 0; j < k; ++j) any = any || r.slot[static_cast<std::size_t>(n * k + j)] >= 0;
    if (!any) ++r.dropped_tokens;
  }
}

// The backward closures of the gates and of the aux loss, both through the router probabilities.
void record_route_grads(moe_routing& r, std::int64_t N, std::int64_t E, std::int64_t k, const std::vector<double>& sums,
                        const std::vector<double>& p, const std::vector<double>& f, bool renormalize, dtype type) {
  // gate[n,j] = m_c p[n,e_j] / s_n  (m_c = kept mask; s_n = sum_j p[n,e_j] or 1):
  //   d gate[n,j] / d p[n,e_i] = m_c (delta_ij - renorm * gate_unmasked[n,j]) / s_n
  record("moe_gates", r.gates, {r.probs},
         [N, E, k, expert = r.expert, slot = r.slot, sums, p, renorm = renormalize, ty = type](const tensor& g_in) {
           const std::vector<double> g = g_in.to_vector();
           std::vector<double> gp(static_cast<std::size_t>(N * E), 0.0);
           for (std::int64_t n = 0; n < N; ++n) {
             const double s = sums[static_cast<std::size_t>(n)];
             double dot = 0;  // sum over kept j of g * p_j / s^2
             for (std::int64_t j = 0; j < k; ++j) {
               const auto c = static_cast<std::size_t>(n * k + j);
               if (slot[c] < 0) continue;
               const auto pe = static_cast<std::size_t>(n * E + expert[c]);
               gp[pe] += g[c] / s;
               dot += g[c] * p[pe] / (s * s);
             }
             if (renorm)
               for (std::int64_t j = 0; j < k; ++j) gp[static_cast<std::size_t>(n * E + expert[static_cast<std::size_t>(n * k + j)])] -= dot;
           }
           return std::vector<tensor>{tensor::from<double>({N, E}, std::span<const double>(gp)).to_raw(ty)};
         });
  record("moe_aux_loss", r.aux_loss, {r.probs}, [N, E, f, ty = type, shape = r.probs.shape()](const tensor& g_in) {
    const double g = g_in.item();
    tensor gp = tensor::empty(shape, ty);
    dispatch_float(ty, "moe_route", [&]<class T>() {
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t e = 0; e < E; ++e)
          gp.data<T>()[n * E + e] = static_cast<T>(g * static_cast<double>(E) * f[static_cast<std::size_t>(e)] / static_cast<double>(N));
    });
    return std::vector<tensor>{gp};
  });
}

}  // namespace

moe_routing moe_route(const tensor& logits, const moe_route_options& opt) {
  LMLAB_CHECK(logits.dim() == 2, "moe_route: logits must be (tokens, experts), got {}", shape_str(logits.shape()));
  const std::int64_t N = logits.size(0), E = logits.size(1), k = opt.k;
  LMLAB_CHECK_HINT(k >= 1 && k <= E, "top-k routing picks k of the E experts", "moe_route: k = {} with {} experts", k, E);
  LMLAB_CHECK(opt.capacity_factor >= 0, "moe_route: capacity_factor must be >= 0 (0 = unlimited), got {}", opt.capacity_factor);
  moe_routing r;
  r.probs = router_softmax(logits);
  const std::vector<double> p = r.probs.to_vector();
  pick_top_k(r, p, N, E, k);
  claim_slots(r, N, E, k, opt);
  // Gates: chosen probabilities, renormalised over the k choices, zeroed where dropped.
  // ref: Shazeer et al. 2017 eq. 3-5 (top-k gating); Mixtral renormalises over the top k.
  std::vector<double> sums(static_cast<std::size_t>(N), 1.0);
  std::vector<double> gv(static_cast<std::size_t>(N * k));
  for (std::int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (std::int64_t j = 0; j < k; ++j) s += p[static_cast<std::size_t>(n * E + r.expert[static_cast<std::size_t>(n * k + j)])];
    if (opt.renormalize) sums[static_cast<std::size_t>(n)] = s;
    for (std::int64_t j = 0; j < k; ++j) {
      const auto c = static_cast<std::size_t>(n * k + j);
      gv[c] = r.slot[c] < 0 ? 0.0 : p[static_cast<std::size_t>(n * E + r.expert[c])] / sums[static_cast<std::size_t>(n)];
    }
  }
  r.gates = tensor::from<double>({N, k}, std::span<const double>(gv)).to_raw(logits.type());
  // Aux loss. ref: Fedus et al. 2021 eq. 4.
  std::vector<double> f(static_cast<std::size_t>(E));
  double aux = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    f[static_cast<std::size_t>(e)] = static_cast<double>(r.routed[static_cast<std::size_t>(e)]) / static_cast<double>(N * k);
    double P = 0;
    for (std::int64_t n = 0; n < N; ++n) P += p[static_cast<std::size_t>(n * E + e)];
    aux += f[static_cast<std::size_t>(e)] * P / static_cast<double>(N);
  }
  r.aux_loss = tensor::full({}, static_cast<double>(E) * aux, logits.type());
  if (needs_grad({&r.probs})) record_route_grads(r, N, E, k, sums, p, f, opt.renormalize, logits.type());
  return r;
}

mod_routing mod_route(const tensor& router, double capacity_ratio) {
  LMLAB_CHECK(router.dim() == 2, "mod_route: router weights must be (B, T), got {}", shape_str(router.shape()));
  LMLAB_CHECK_HINT(capacity_ratio > 0 && capacity_ratio <= 1, "Raposo et al. use 0.125", "mod_route: capacity_ratio must be in (0, 1], got {}",
                   capacity_ratio);
  const std::int64_t B = router.size(0), T = router.size(1);
  mod_routing r;
  r.k = std::clamp<std::int64_t>(ceil_count(capacity_ratio * static_cast<double>(T)), std::min<std::int64_t>(1, T), T);
  const std::vector<double> w = router.to_vector();
  r.indices.resize(static_cast<std::size_t>(B * r.k));
  std::vector<std::int32_t> order(static_cast<std::size_t>(T));
  for (std::int64_t b = 0; b < B; ++b) {
    std::iota(order.begin(), order.end(), 0);
    const double* wb = w.data() + b * T;
    std::partial_sort(order.begin(), order.begin() + r.k, order.end(),
                      [wb](std::int32_t a, std::int32_t c) { return wb[a] > wb[c] || (wb[a] == wb[c] && a < c); });
    std::sort(order.begin(), order.begin() + r.k);
    std::copy(order.begin(), order.begin() + r.k, r.indices.begin() + b * r.k);
  }
  // weights[b, j] = router[b, indices[b, j]]; backward scatters into the kept positions.
  r.weights = tensor::empty({B, r.k}, router.type());
  dispatch_float(router.type(), "mod_route", [&]<class V>() {
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < r.k; ++j)
        r.weights.data<V>()[b * r.k + j] = static_cast<V>(w[static_cast<std::size_t>(b * T + r.indices[static_cast<std::size_t>(b * r.k + j)])]);
  });
  if (needs_grad({&router})) {
    record("mod_route", r.weights, {router}, [B, T, kk = r.k, idx = r.indices](const tensor& g_in) {
      tensor g = g_in.contiguous_raw();
      tensor gr = tensor::zeros({B, T}, g.type());
      dispatch_float(g.type(), "mod_route", [&]<class V>() {
        for (std::int64_t b = 0; b < B; ++b)
          for (std::int64_t j = 0; j < kk; ++j) gr.data<V>()[b * T + idx[static_cast<std::size_t>(b * kk + j)]] += g.data<V>()[b * kk + j];
      });
      return std::vector<tensor>{gr};
    });
  }
  return r;
}

tensor index_rows(const tensor& x, const std::vector<std::int32_t>& idx) {
  LMLAB_CHECK(x.dim() == 2, "index_rows: x must be (N, C), got {}", shape_str(x.shape()));
  const std::int64_t N = x.size(0), C = x.size(1), M = static_cast<std::int64_t>(idx.size());
  for (std::int32_t i : idx) LMLAB_CHECK(i >= 0 && i < N, "index_rows: row {} out of range [0, {})", i, N);
  tensor xc = x.contiguous_raw();
  tensor y = tensor::empty({M, C}, x.type());
  dispatch_float(x.type(), "index_rows", [&]<class T>() {
#pragma omp parallel for if (M * C > 65536)
    for (std::int64_t m = 0; m < M; ++m) std::copy_n(xc.data<T>() + idx[static_cast<std::size_t>(m)] * C, C, y.data<T>() + m * C);
  });
  if (needs_grad({&x})) {
    record("index_rows", y, {x}, [idx, N, C](const tensor& g) {
      tensor gx = tensor::zeros({N, C}, g.type());
      return std::vector<tensor>{index_add_rows(gx, idx, g)};
    });
  }
  return y;
}

tensor index_add_rows(const tensor& base, const std::vector<std::int32_t>& idx, const tensor& y) {
  LMLAB_CHECK(base.dim() == 2 && y.dim() == 2 && y.size(1) == base.size(1) && y.size(0) == static_cast<std::int64_t>(idx.size()),
              "index_add_rows: base (N, C), y ({}, C) expected, got {} and {}", idx.size(), shape_str(base.shape()), shape_str(y.shape()));
  LMLAB_CHECK(base.type() == y.type(), "index_add_rows: base is {}, y is {}", dtype_name(base.type()), dtype_name(y.type()));
  const std::int64_t N = base.size(0), C = base.size(1);
  for (std::int32_t i : idx) LMLAB_CHECK(i >= 0 && i < N, "index_add_rows: row {} out of range [0, {})", i, N);
  tensor out = base.clone_raw();
  tensor yc = y.contiguous_raw();
  dispatch_float(base.type(), "index_add_rows", [&]<class T>() {
    // Serial over m: repeated indices accumulate without races.
    for (std::size_t m = 0; m < idx.size(); ++m) {
      T* o = out.data<T>() + idx[m] * C;
      const T* s = yc.data<T>() + static_cast<std::int64_t>(m) * C;
      for (std::int64_t c = 0; c < C; ++c) o[c] += s[c];
    }
  });
  if (needs_grad({&base, &y})) {
    record("index_add_rows", out, {base, y}, [idx](const tensor& g) {
      no_grad ng;
      return std::vector<tensor>{g, index_rows(g, idx)};
    });
  }
  return out;
}

}  // namespace lmlab
