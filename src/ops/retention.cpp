// Retention in parallel, chunkwise and recurrent form: see retention.hpp. The parallel and
// chunkwise forms are GEMMs (ops/gemm.hpp) around a decay mask; each (batch, head) pair is one
// problem, solved in turn with the BLAS's own threads, reusing one set of scratch buffers.
#include "ops/retention.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/gemm.hpp"

namespace lmlab {

std::vector<double> retnet_gammas(std::int64_t n_heads) {
  LMLAB_CHECK(n_heads > 0, "retnet_gammas: n_heads must be > 0, got {}", n_heads);
  std::vector<double> g(static_cast<std::size_t>(n_heads));
  for (std::int64_t h = 0; h < n_heads; ++h) g[static_cast<std::size_t>(h)] = 1.0 - std::pow(2.0, -5.0 - static_cast<double>(h));
  return g;
}

namespace {

struct ret_dims {
  std::int64_t B, H, T, K, V;
};

ret_dims check_ret(const char* op, const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas) {
  LMLAB_CHECK(q.dim() == 4 && v.dim() == 4, "{}: q, k, v must be (B, H, T, D), got {} and {}", op, shape_str(q.shape()),
              shape_str(v.shape()));
  const ret_dims s{q.size(0), q.size(1), q.size(2), q.size(3), v.size(3)};
  LMLAB_CHECK(k.shape() == q.shape(), "{}: k {} must match q {}", op, shape_str(k.shape()), shape_str(q.shape()));
  LMLAB_CHECK(v.size(0) == s.B && v.size(1) == s.H && v.size(2) == s.T, "{}: v {} must be (B, H, T, V) like q {}", op,
              shape_str(v.shape()), shape_str(q.shape()));
  LMLAB_CHECK(k.type() == q.type() && v.type() == q.type(), "{}: q, k, v must share one dtype", op);
  LMLAB_CHECK_HINT(static_cast<std::int64_t>(gammas.size()) == s.H, "retnet_gammas(H) gives the paper's values",
                   "{}: {} gammas for {} heads", op, gammas.size(), s.H);
  for (double g : gammas) LMLAB_CHECK(g > 0 && g <= 1, "{}: every gamma must be in (0, 1], got {}", op, g);
  return s;
}

template <class T>
void mm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, std::int64_t lda, const T* B,
        std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// S[n,m] *= gamma^(n-m) for m <= n, 0 above the diagonal. S is (L, L), row stride L.
// Serial on purpose: an OpenMP region here leaves spinning threads that compete with the
// BLAS's own threads in the GEMMs around it (measured 2-9x slower on 2 cores).
template <class T>
void apply_decay_mask(T* S, std::int64_t L, const std::vector<T>& pw) {
  for (std::int64_t n = 0; n < L; ++n) {
    T* row = S + n * L;
    for (std::int64_t m = 0; m <= n; ++m) row[m] *= pw[static_cast<std::size_t>(n - m)];
    std::fill(row + n + 1, row + L, T(0));
  }
}

template <class T>
std::vector<T> powers(double g, std::int64_t n) {
  std::vector<T> p(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = static_cast<T>(std::pow(g, static_cast<double>(i)));
  return p;
}

// One (L-token) block of the parallel form: O = (Q K^T (.) D) V. beta: 0 to overwrite O, 1 to add.
template <class T>
void masked_block(const ret_dims& s, std::int64_t L, const T* Q, const T* K, const T* V, T* O, T beta, const std::vector<T>& pw,
                  std::vector<T>& S) {
  S.resize(static_cast<std::size_t>(L * L));
  mm<T>(false, true, L, L, s.K, 1, Q, s.K, K, s.K, 0, S.data(), L);  // Q K^T
  apply_decay_mask(S.data(), L, pw);                                 // (.) D, ref: RetNet eq. 5
  mm<T>(false, false, L, s.V, L, 1, S.data(), L, V, s.V, beta, O, s.V);
}

// Backward of masked_block: dQ, dK, dV (+)= ... given dO. beta as in the forward.
template <class T>
void masked_block_backward(const ret_dims& s, std::int64_t L, const T* Q, const T* K, const T* V, const T* dO, T* dQ, T* dK, T* dV,
                           T beta, const std::vector<T>& pw, std::vector<T>& S) {
  S.resize(static_cast<std::size_t>(L * L));
  // O = S~ V with S~ = (Q K^T) (.) D:  dV = S~^T dO
  mm<T>(false, true, L, L, s.K, 1, Q, s.K, K, s.K, 0, S.data(), L);
  apply_decay_mask(S.data(), L, pw);
  mm<T>(true, false, L, s.V, L, 1, S.data(), L, dO, s.V, beta, dV, s.V);
  // dS~ = (dO V^T) (.) D;  dQ = dS~ K;  dK = dS~^T Q
  mm<T>(false, true, L, L, s.V, 1, dO, s.V, V, s.V, 0, S.data(), L);
  apply_decay_mask(S.data(), L, pw);
  mm<T>(false, false, L, s.K, L, 1, S.data(), L, K, s.K, beta, dQ, s.K);
  mm<T>(true, false, L, s.K, L, 1, S.data(), L, Q, s.K, beta, dK, s.K);
}

// Chunkwise forward for one (b, h): writes O and, when Rs is given, R before each chunk
// (Rs[c * K*V ...]); R holds the final state on return.
template <class T>
void chunk_forward(const ret_dims& s, std::int64_t chunk, double gamma, const T* Q, const T* K, const T* V, T* O, T* R, T* Rs,
                   std::vector<T>& S, std::vector<T>& tmp) {
  const std::vector<T> pw = powers<T>(gamma, chunk + 1);
  std::fill(R, R + s.K * s.V, T(0));
  tmp.resize(static_cast<std::size_t>(chunk * std::max(s.K, s.V)));
  for (std::int64_t c0 = 0, ci = 0; c0 < s.T; c0 += chunk, ++ci) {
    const std::int64_t L = std::min(chunk, s.T - c0);
    const T* Qc = Q + c0 * s.K;
    const T* Kc = K + c0 * s.K;
    const T* Vc = V + c0 * s.V;
    T* Oc = O + c0 * s.V;
    if (Rs) std::copy(R, R + s.K * s.V, Rs + ci * s.K * s.V);
    // Inner-chunk: the parallel form on the chunk.
    masked_block(s, L, Qc, Kc, Vc, Oc, T(0), pw, S);
    // Cross-chunk: (Q R_{i-1}) (.) xi,  xi_j = gamma^(j+1).  ref: RetNet eq. 7
    mm<T>(false, false, L, s.V, s.K, 1, Qc, s.K, R, s.V, 0, tmp.data(), s.V);
    for (std::int64_t j = 0; j < L; ++j)
      for (std::int64_t e = 0; e < s.V; ++e) Oc[j * s.V + e] += pw[static_cast<std::size_t>(j + 1)] * tmp[static_cast<std::size_t>(j * s.V + e)];
    // R_i = K^T (V (.) zeta) + gamma^L R_{i-1},  zeta_j = gamma^(L-1-j)
    for (std::int64_t j = 0; j < L; ++j)
      for (std::int64_t e = 0; e < s.V; ++e) tmp[static_cast<std::size_t>(j * s.V + e)] = pw[static_cast<std::size_t>(L - 1 - j)] * Vc[j * s.V + e];
    mm<T>(true, false, s.K, s.V, L, 1, Kc, s.K, tmp.data(), s.V, pw[static_cast<std::size_t>(L)], R, s.V);
  }
}

template <class T>
void chunk_backward(const ret_dims& s, std::int64_t chunk, double gamma, const T* Q, const T* K, const T* V, const T* dO, T* dQ, T* dK,
                    T* dV, std::vector<T>& S, std::vector<T>& tmp) {
  const std::int64_t n_chunks = (s.T + chunk - 1) / chunk, KV = s.K * s.V;
  std::vector<T> Rs(static_cast<std::size_t>(n_chunks * KV)), R(static_cast<std::size_t>(KV)), dR(static_cast<std::size_t>(KV), T(0));
  std::vector<T> Otmp(static_cast<std::size_t>(s.T * s.V));
  chunk_forward(s, chunk, gamma, Q, K, V, Otmp.data(), R.data(), Rs.data(), S, tmp);
  const std::vector<T> pw = powers<T>(gamma, chunk + 1);
  std::vector<T> sc(static_cast<std::size_t>(chunk * std::max(s.K, s.V)));
  for (std::int64_t ci = n_chunks - 1; ci >= 0; --ci) {
    const std::int64_t c0 = ci * chunk, L = std::min(chunk, s.T - c0);
    const T* Qc = Q + c0 * s.K;
    const T* Kc = K + c0 * s.K;
    const T* Vc = V + c0 * s.V;
    const T* dOc = dO + c0 * s.V;
    T* dQc = dQ + c0 * s.K;
    T* dKc = dK + c0 * s.K;
    T* dVc = dV + c0 * s.V;
    const T* Rin = Rs.data() + ci * KV;
    // R_out = gamma^L R_in + K^T diag(zeta) V   (dR is dL/dR_out here)
    //   dK = diag(zeta) V dR^T,  dV = diag(zeta) K dR
    for (std::int64_t j = 0; j < L; ++j)
      for (std::int64_t e = 0; e < s.V; ++e) sc[static_cast<std::size_t>(j * s.V + e)] = pw[static_cast<std::size_t>(L - 1 - j)] * Vc[j * s.V + e];
    mm<T>(false, true, L, s.K, s.V, 1, sc.data(), s.V, dR.data(), s.V, 0, dKc, s.K);
    for (std::int64_t j = 0; j < L; ++j)
      for (std::int64_t e = 0; e < s.K; ++e) sc[static_cast<std::size_t>(j * s.K + e)] = pw[static_cast<std::size_t>(L - 1 - j)] * Kc[j * s.K + e];
    mm<T>(false, false, L, s.V, s.K, 1, sc.data(), s.K, dR.data(), s.V, 0, dVc, s.V);
    // O += diag(xi) Q R_in:  dQ = diag(xi) dO R_in^T;  dR_in = gamma^L dR + Q^T diag(xi) dO
    for (std::int64_t j = 0; j < L; ++j)
      for (std::int64_t e = 0; e < s.V; ++e) sc[static_cast<std::size_t>(j * s.V + e)] = pw[static_cast<std::size_t>(j + 1)] * dOc[j * s.V + e];
    mm<T>(false, true, L, s.K, s.V, 1, sc.data(), s.V, Rin, s.V, 0, dQc, s.K);
    mm<T>(true, false, s.K, s.V, L, 1, Qc, s.K, sc.data(), s.V, pw[static_cast<std::size_t>(L)], dR.data(), s.V);
    // Inner-chunk parallel form.
    masked_block_backward(s, L, Qc, Kc, Vc, dOc, dQc, dKc, dVc, T(1), pw, S);
  }
}

}  // namespace

tensor retention_parallel(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas) {
  prof::scope timed(prof::cat::scan);
  const ret_dims s = check_ret("retention_parallel", q, k, v, gammas);
  tensor qc = q.contiguous_raw(), kc = k.contiguous_raw(), vc = v.contiguous_raw();
  tensor o = tensor::empty({s.B, s.H, s.T, s.V}, q.type());
  dispatch_float(q.type(), "retention_parallel", [&]<class T>() {
    std::vector<T> S;
    for (std::int64_t bh = 0; bh < s.B * s.H; ++bh) {
      const auto pw = powers<T>(gammas[static_cast<std::size_t>(bh % s.H)], s.T);
      masked_block(s, s.T, qc.data<T>() + bh * s.T * s.K, kc.data<T>() + bh * s.T * s.K, vc.data<T>() + bh * s.T * s.V,
                   o.data<T>() + bh * s.T * s.V, T(0), pw, S);
    }
  });
  if (needs_grad({&q, &k, &v})) {
    record("retention_parallel", o, {q, k, v}, [s, qc, kc, vc, gammas](const tensor& go_in) {
      tensor go = go_in.contiguous_raw();
      const dtype ty = qc.type();
      tensor gq = tensor::empty(qc.shape(), ty), gk = tensor::empty(kc.shape(), ty), gv = tensor::empty(vc.shape(), ty);
      dispatch_float(ty, "retention_parallel", [&]<class T>() {
        std::vector<T> S;
        for (std::int64_t bh = 0; bh < s.B * s.H; ++bh) {
          const auto pw = powers<T>(gammas[static_cast<std::size_t>(bh % s.H)], s.T);
          const std::int64_t oq = bh * s.T * s.K, ov = bh * s.T * s.V;
          masked_block_backward(s, s.T, qc.data<T>() + oq, kc.data<T>() + oq, vc.data<T>() + ov, go.data<T>() + ov,
                                gq.data<T>() + oq, gk.data<T>() + oq, gv.data<T>() + ov, T(0), pw, S);
        }
      });
      return std::vector<tensor>{gq, gk, gv};
    });
  }
  return o;
}

tensor retention_chunkwise(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas, std::int64_t chunk,
                           tensor* state_out) {
  prof::scope timed(prof::cat::scan);
  const ret_dims s = check_ret("retention_chunkwise", q, k, v, gammas);
  LMLAB_CHECK_HINT(chunk > 0, "64 to 512 tokens is typical", "retention_chunkwise: chunk must be > 0, got {}", chunk);
  tensor qc = q.contiguous_raw(), kc = k.contiguous_raw(), vc = v.contiguous_raw();
  tensor o = tensor::empty({s.B, s.H, s.T, s.V}, q.type());
  tensor st = tensor::empty({s.B, s.H, s.K, s.V}, q.type());
  dispatch_float(q.type(), "retention_chunkwise", [&]<class T>() {
    std::vector<T> S, tmp;
    for (std::int64_t bh = 0; bh < s.B * s.H; ++bh)
      chunk_forward(s, chunk, gammas[static_cast<std::size_t>(bh % s.H)], qc.data<T>() + bh * s.T * s.K, kc.data<T>() + bh * s.T * s.K,
                    vc.data<T>() + bh * s.T * s.V, o.data<T>() + bh * s.T * s.V, st.data<T>() + bh * s.K * s.V, static_cast<T*>(nullptr),
                    S, tmp);
  });
  if (state_out) *state_out = st;
  if (needs_grad({&q, &k, &v})) {
    record("retention_chunkwise", o, {q, k, v}, [s, qc, kc, vc, gammas, chunk](const tensor& go_in) {
      tensor go = go_in.contiguous_raw();
      const dtype ty = qc.type();
      tensor gq = tensor::empty(qc.shape(), ty), gk = tensor::empty(kc.shape(), ty), gv = tensor::empty(vc.shape(), ty);
      dispatch_float(ty, "retention_chunkwise", [&]<class T>() {
        std::vector<T> S, tmp;
        for (std::int64_t bh = 0; bh < s.B * s.H; ++bh) {
          const std::int64_t oq = bh * s.T * s.K, ov = bh * s.T * s.V;
          chunk_backward(s, chunk, gammas[static_cast<std::size_t>(bh % s.H)], qc.data<T>() + oq, kc.data<T>() + oq, vc.data<T>() + ov,
                         go.data<T>() + ov, gq.data<T>() + oq, gk.data<T>() + oq, gv.data<T>() + ov, S, tmp);
        }
      });
      return std::vector<tensor>{gq, gk, gv};
    });
  }
  return o;
}

tensor retention_step(tensor& state, const tensor& q_t, const tensor& k_t, const tensor& v_t, const std::vector<double>& gammas) {
  LMLAB_CHECK(q_t.dim() == 3 && v_t.dim() == 3, "retention_step: q_t, k_t (B, H, K) and v_t (B, H, V) expected, got {} and {}",
              shape_str(q_t.shape()), shape_str(v_t.shape()));
  const std::int64_t B = q_t.size(0), H = q_t.size(1), K = q_t.size(2), V = v_t.size(2);
  check_ret("retention_step", q_t.contiguous_raw().view_raw({B, H, 1, K}), k_t.contiguous_raw().view_raw({k_t.size(0), k_t.size(1), 1, -1}),
            v_t.contiguous_raw().view_raw({v_t.size(0), v_t.size(1), 1, V}), gammas);
  LMLAB_CHECK(state.shape() == (shape_t{B, H, K, V}) && state.is_contiguous() && state.type() == q_t.type(),
              "retention_step: state must be a contiguous {} {}, got {}", shape_str({B, H, K, V}), dtype_name(q_t.type()),
              shape_str(state.shape()));
  tensor qc = q_t.contiguous_raw(), kc = k_t.contiguous_raw(), vc = v_t.contiguous_raw();
  tensor o = tensor::empty({B, H, V}, q_t.type());
  dispatch_float(q_t.type(), "retention_step", [&]<class T>() {
    for (std::int64_t bh = 0; bh < B * H; ++bh) {
      T* S = state.data<T>() + bh * K * V;
      const T* q = qc.data<T>() + bh * K;
      const T* kk = kc.data<T>() + bh * K;
      const T* vv = vc.data<T>() + bh * V;
      T* out = o.data<T>() + bh * V;
      const T g = static_cast<T>(gammas[static_cast<std::size_t>(bh % H)]);
      std::fill(out, out + V, T(0));
      for (std::int64_t a = 0; a < K; ++a) {
        T* row = S + a * V;
        for (std::int64_t e = 0; e < V; ++e) {
          row[e] = g * row[e] + kk[a] * vv[e];  // ref: RetNet eq. 6, S_n = gamma S_{n-1} + k_n^T v_n
          out[e] += q[a] * row[e];              // o_n = q_n S_n
        }
      }
    }
  });
  return o;
}

tensor retention_recurrent(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas, tensor* state_out) {
  prof::scope timed(prof::cat::scan);
  const ret_dims s = check_ret("retention_recurrent", q, k, v, gammas);
  tensor st = tensor::zeros({s.B, s.H, s.K, s.V}, q.type());
  tensor o = tensor::empty({s.B, s.H, s.T, s.V}, q.type());
  for (std::int64_t t = 0; t < s.T; ++t) {
    auto sel = [t](const tensor& x) { return x.narrow_raw(2, t, 1).contiguous_raw().view_raw({x.size(0), x.size(1), x.size(3)}); };
    tensor ot = retention_step(st, sel(q), sel(k), sel(v), gammas);
    o.narrow_raw(2, t, 1).copy_from(ot.view_raw({s.B, s.H, 1, s.V}));
  }
  if (state_out) *state_out = st;
  return o;
}

}  // namespace lmlab
