// Fused blocked attention (see attention.hpp): forward with an online softmax over key tiles,
// saving only the per-row log-sum-exp; backward recomputes each tile's probabilities from it.
// Tile products (Q K^T, P V, and the four backward products) run on ops/gemm, called from
// inside the OpenMP region over (batch, head, query tile), where the BLAS runs single-threaded.
// Short heads (T, S <= 128 and head dim <= 16, most quick lab runs) skip the GEMM calls: each
// (batch, head) runs in plain vector loops (see "short heads" below).
// ref: Dao et al. 2022, "FlashAttention", Algorithm 1 (forward, online softmax); Dao 2023,
// "FlashAttention-2", Algorithm 2 (backward: dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO O)),
// dQ += dS K, dK += dS^T Q).
// ref: Press et al. 2022, "Train Short, Test Long" (ALiBi): score += -m_h (i - j).
// The naive reference below composes differentiable ops and materialises the (T, S) scores.
// Not for: attention variants with other score functions (linear attention, retention).
#include "ops/attention.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/elementwise.hpp"
#include "ops/gemm.hpp"
#include "ops/internal.hpp"
#include "ops/linalg.hpp"
#include "ops/norm.hpp"
#include "ops/shape.hpp"

namespace lmlab {

using namespace detail;

namespace {

// Tile sizes: a tile's products go through ops/gemm (single-threaded inside our parallel
// region), so tiles are large enough to amortise a GEMM call; the (k_bq x k_bk) score tile
// of one thread stays in L2.
constexpr std::int64_t k_bq = 64;   // query rows per tile
constexpr std::int64_t k_bk = 256;  // keys per tile
// Below about a million multiply-adds (tens of microseconds) one thread beats a fork/join.
constexpr std::int64_t k_attn_grain = 1 << 20;

struct attn_dims {
  std::int64_t B, H, Hkv, T, S, D, off;  // off = S - T: query t sits at absolute position t + off
  double scale;
  bool causal;
  std::int64_t window;
  std::vector<double> slopes;  // empty: no ALiBi

  // Visible keys of query row t: [lo, hi).
  std::int64_t key_lo(std::int64_t t) const { return window > 0 ? std::max<std::int64_t>(0, t + off - window + 1) : 0; }
  std::int64_t key_hi(std::int64_t t) const { return causal ? std::clamp<std::int64_t>(t + off + 1, 0, S) : S; }
};

attn_dims check_dims(const tensor& q, const tensor& k, const tensor& v, const attention_options& opt, const char* op) {
  LMLAB_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "{}: q, k, v must be 4-d (B, H, T, D), got {}, {}, {}", op,
              shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  check_same_type(q, k, op);
  check_same_type(q, v, op);
  attn_dims a;
  a.B = q.size(0), a.H = q.size(1), a.T = q.size(2), a.D = q.size(3);
  a.Hkv = k.size(1), a.S = k.size(2);
  LMLAB_CHECK(k.size(0) == a.B && k.size(3) == a.D && v.shape() == k.shape(),
              "{}: k {} and v {} must both be (B={}, H_kv, S, D={})", op, shape_str(k.shape()), shape_str(v.shape()), a.B, a.D);
  LMLAB_CHECK(a.Hkv > 0 && a.H % a.Hkv == 0, "{}: query heads {} are not a multiple of key/value heads {}", op, a.H, a.Hkv);
  LMLAB_CHECK(opt.window >= 0, "{}: window must be >= 0, got {}", op, opt.window);
  a.off = a.S - a.T;
  a.scale = opt.scale != 0 ? opt.scale : 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(a.D, 1)));
  a.causal = opt.causal;
  a.window = opt.window;
  if (opt.alibi_slopes.defined()) {
    LMLAB_CHECK(opt.alibi_slopes.numel() == a.H, "{}: alibi_slopes has {} elements for {} heads", op, opt.alibi_slopes.numel(), a.H);
    a.slopes = opt.alibi_slopes.to_vector();
  }
  return a;
}

// One head's rows as the kernels see them: element (t, d) at p[t * ld + d].
template <class T>
struct rows {
  T* p;
  std::int64_t ld;
  T* row(std::int64_t t) const { return p + t * ld; }
};

// A (B, H, T, D) tensor whose last dim is contiguous, seen per (b, h) as rows with a stride:
// views such as transpose(reshape(narrow(qkv)), 1, 2) need no copy. Other layouts are copied.
struct head_layout {
  tensor t;
  std::int64_t s0, s1, ld;
};
head_layout heads_of(const tensor& x) {
  tensor t = x;
  const bool rows_ok = x.size(3) <= 1 || x.strides()[3] == 1;
  const bool ld_ok = x.size(2) <= 1 || x.strides()[2] >= x.size(3);
  if (!rows_ok || !ld_ok) t = x.contiguous_raw();
  const std::int64_t ld = t.size(2) <= 1 ? std::max<std::int64_t>(t.size(3), 1) : t.strides()[2];
  return {t, t.strides()[0], t.strides()[1], ld};
}
template <class T>
rows<T> head(const head_layout& l, std::int64_t b, std::int64_t h) {
  return {l.t.data<T>() + b * l.s0 + h * l.s1, l.ld};
}

// row[j] = exp(row[j] - m) for j < n (exp(-inf) = 0); returns their sum.
template <class T>
T exp_shifted(T* row, std::int64_t n, T m) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t j = 0; j < n; ++j) {
    const T p = vexp(row[j] - m);
    row[j] = p;
    sum += p;
  }
  return sum;
}

// Scores of query rows [i0, i1) against keys [j0, j1) of head h: s (i1-i0, ld) =
// scale q k^T + ALiBi, with masked entries -inf.
template <class T>
void score_tile(const attn_dims& a, std::int64_t h, rows<const T> q, rows<const T> k, std::int64_t i0, std::int64_t i1,
                std::int64_t j0, std::int64_t j1, T* s, std::int64_t ld) {
  const std::int64_t D = a.D, nj = j1 - j0;
  gemm(false, true, i1 - i0, nj, D, static_cast<T>(a.scale), q.row(i0), q.ld, k.row(j0), k.ld, T(0), s, ld);
  const T slope = a.slopes.empty() ? T(0) : static_cast<T>(a.slopes[static_cast<std::size_t>(h)]);
  for (std::int64_t i = i0; i < i1; ++i) {
    T* row = s + (i - i0) * ld;
    // Visible keys of this row within the tile: [lo, hi); most rows of a causal tile see all.
    const std::int64_t lo = std::clamp<std::int64_t>(a.key_lo(i) - j0, 0, nj), hi = std::clamp<std::int64_t>(a.key_hi(i) - j0, lo, nj);
    std::fill(row, row + lo, -std::numeric_limits<T>::infinity());
    std::fill(row + hi, row + nj, -std::numeric_limits<T>::infinity());
    if (slope != T(0)) {
      const T pos = static_cast<T>(i + a.off - j0);
      const auto lo32 = static_cast<std::int32_t>(lo), hi32 = static_cast<std::int32_t>(hi);
#pragma omp simd
      for (std::int32_t j = lo32; j < hi32; ++j) row[j] -= slope * (pos - static_cast<T>(j));
    }
  }
}

// The keys any row of [i0, i1) can see: [jlo, jhi).
inline void key_range(const attn_dims& a, std::int64_t i0, std::int64_t i1, std::int64_t& jlo, std::int64_t& jhi) {
  jlo = a.S;
  jhi = 0;
  for (std::int64_t i = i0; i < i1; ++i) {
    jlo = std::min(jlo, a.key_lo(i));
    jhi = std::max(jhi, a.key_hi(i));
  }
}

// Forward of one (b, h) and query tile [i0, i1): o rows and lse entries.
// Scratch: s (k_bq x k_bk), acc (k_bq x D), m and l (k_bq).
template <class T>
void forward_tile(const attn_dims& a, std::int64_t h, rows<const T> q, rows<const T> k, rows<const T> v, rows<T> o, T* lse,
                  std::int64_t i0, std::int64_t i1, T* s, T* acc, T* m, T* l) {
  const std::int64_t D = a.D, nq = i1 - i0;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  std::fill(acc, acc + nq * D, T(0));
  std::fill(m, m + nq, ninf);
  std::fill(l, l + nq, T(0));
  std::int64_t jlo, jhi;
  key_range(a, i0, i1, jlo, jhi);
  for (std::int64_t j0 = jlo; j0 < jhi; j0 += k_bk) {
    const std::int64_t j1 = std::min(jhi, j0 + k_bk), nj = j1 - j0;
    score_tile(a, h, q, k, i0, i1, j0, j1, s, k_bk);
    for (std::int64_t r = 0; r < nq; ++r) {
      T* row = s + r * k_bk;
      T mx = ninf;
#pragma omp simd reduction(max : mx)
      for (std::int64_t j = 0; j < nj; ++j) mx = std::max(mx, row[j]);
      const T m_new = std::max(m[r], mx);
      if (m_new == ninf) {  // nothing visible yet for this row: P = 0
        std::fill(row, row + nj, T(0));
        continue;
      }
      // Online softmax: rescale what was accumulated under the old max.
      const T corr = vexp(m[r] - m_new);
      l[r] = l[r] * corr + exp_shifted(row, nj, m_new);
      m[r] = m_new;
      if (corr != T(1)) {
        T* ar = acc + r * D;
#pragma omp simd
        for (std::int64_t d = 0; d < D; ++d) ar[d] *= corr;
      }
    }
    gemm(false, false, nq, D, nj, T(1), s, k_bk, v.row(j0), v.ld, T(1), acc, D);  // acc += P V
  }
  for (std::int64_t r = 0; r < nq; ++r) {
    T* orow = o.row(i0 + r);
    if (l[r] == T(0)) {  // no visible key: output 0, lse -inf (rows skipped in backward)
      std::fill(orow, orow + D, T(0));
      lse[i0 + r] = ninf;
      continue;
    }
    const T inv = T(1) / l[r];
#pragma omp simd
    for (std::int64_t d = 0; d < D; ++d) orow[d] = acc[r * D + d] * inv;
    lse[i0 + r] = m[r] + std::log(l[r]);
  }
}

// Backward of one (b, h): accumulates dq (T, D) and this head's dk, dv (S, D), rows with the
// given strides, zeroed by the caller.
template <class T>
void backward_head(const attn_dims& a, std::int64_t h, rows<const T> q, rows<const T> k, rows<const T> v, rows<const T> o,
                   const T* lse, rows<const T> go, rows<T> dq, rows<T> dk, rows<T> dv) {
  const std::int64_t D = a.D, T_ = a.T;
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  // Per-thread scratch reused across heads and calls: a fresh pair of 64 KiB zeroed vectors
  // per (batch, head) was 16 MiB of memset per layer's backward at the lab's shapes (B x H =
  // 128 heads of T = 32).
  thread_local std::vector<T> s, dp, drow;
  s.resize(static_cast<std::size_t>(k_bq * k_bk));
  dp.resize(static_cast<std::size_t>(k_bq * k_bk));
  drow.resize(static_cast<std::size_t>(T_));
  for (std::int64_t i = 0; i < T_; ++i) {  // D_i = rowsum(dO_i * O_i)
    const T* gi = go.row(i);
    const T* oi = o.row(i);
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t d = 0; d < D; ++d) acc += gi[d] * oi[d];
    drow[static_cast<std::size_t>(i)] = acc;
  }
  const T scale = static_cast<T>(a.scale);
  for (std::int64_t i0 = 0; i0 < T_; i0 += k_bq) {
    const std::int64_t i1 = std::min(T_, i0 + k_bq), nq = i1 - i0;
    std::int64_t jlo, jhi;
    key_range(a, i0, i1, jlo, jhi);
    for (std::int64_t j0 = jlo; j0 < jhi; j0 += k_bk) {
      const std::int64_t j1 = std::min(jhi, j0 + k_bk), nj = j1 - j0;
      score_tile(a, h, q, k, i0, i1, j0, j1, s.data(), k_bk);
      for (std::int64_t r = 0; r < nq; ++r) {  // P = exp(S - lse)
        T* row = s.data() + r * k_bk;
        const T l = lse[i0 + r];
        if (l == ninf) {
          std::fill(row, row + nj, T(0));
          continue;
        }
#pragma omp simd
        for (std::int64_t j = 0; j < nj; ++j) row[j] = vexp(row[j] - l);
      }
      // dV += P^T dO
      gemm(true, false, nj, D, nq, T(1), s.data(), k_bk, go.row(i0), go.ld, T(1), dv.row(j0), dv.ld);
      // dP = dO V^T
      gemm(false, true, nq, nj, D, T(1), go.row(i0), go.ld, v.row(j0), v.ld, T(0), dp.data(), k_bk);
      for (std::int64_t r = 0; r < nq; ++r) {  // dS = P (dP - D_i), with the score scale folded in
        const T* pr = s.data() + r * k_bk;
        T* dsr = dp.data() + r * k_bk;
        const T di = drow[static_cast<std::size_t>(i0 + r)];
#pragma omp simd
        for (std::int64_t j = 0; j < nj; ++j) dsr[j] = pr[j] * (dsr[j] - di) * scale;
      }
      // dQ += dS K, dK += dS^T Q
      gemm(false, false, nq, D, nj, T(1), dp.data(), k_bk, k.row(j0), k.ld, T(1), dq.row(i0), dq.ld);
      gemm(true, false, nj, D, nq, T(1), dp.data(), k_bk, q.row(i0), q.ld, T(1), dk.row(j0), dk.ld);
    }
  }
}

// ---- short heads: the whole (b, h) in plain loops --------------------------------------
// The lab's models have heads of 8-32 dims and sequences of 17-72 tokens, where each tile
// product is a few thousand multiply-adds and the seven GEMM calls per head cost more than
// their arithmetic (issue 21: attention was 31% of a d_model 64, 4-head, T 17 step). Below
// these bounds a head runs in one pass without GEMM calls: K (and V in the backward) are
// transposed once per head so that scores of a query row are one vector loop over keys, and
// the other products run over the head dim. Same maths as the tiled path (one key tile: the
// softmax is exact, no online rescaling); sums are taken in another order.
// Query rows go in blocks of k_short_R whose accumulators stay in registers: R independent FMA
// chains per product, where one row at a time was one dependent chain (latency-bound: it lost
// to the tiles above T 32). Each row's sums keep the one-row order (masked keys add zeros).
// Bounds measured with ops_bench (fwd+bwd CPU ms, batch 64, 4 heads of 16 dims, 1 thread, the
// Zen 4 VM, 2026-12-07; docs/engine.md "Sixth shift").
constexpr std::int64_t k_short_S = 128;  // keys
constexpr std::int64_t k_short_T = 128;  // queries
constexpr std::int64_t k_short_D = 16;
constexpr std::int64_t k_short_R = 4;  // query rows per register block

bool short_heads(const attn_dims& a) { return a.T <= k_short_T && a.S <= k_short_S && a.D <= k_short_D; }

// Keys are padded to whole vectors (16 floats) so that the loops over keys have no ragged
// tail: padded and masked keys get score -inf, hence P = 0.
constexpr std::int64_t k_short_pad = 16;
std::int64_t padded_keys(std::int64_t n) { return (n + k_short_pad - 1) / k_short_pad * k_short_pad; }

// N elements of T as whole vectors of the build's width (GCC vector extensions: zmm under
// AVX-512, ymm under AVX2; a 64-byte vector type under AVX2 went through the stack, 2x slower).
#ifdef __AVX512F__
constexpr std::size_t k_vec_bytes = 64;
#else
constexpr std::size_t k_vec_bytes = 32;
#endif
template <class T, int N>
struct vecn {
  static constexpr int W = std::min<int>(N, static_cast<int>(k_vec_bytes / sizeof(T)));
  static constexpr int P = N / W;
  typedef T part __attribute__((vector_size(W * sizeof(T))));
  part v[P];
};
// One memcpy per part (one vector load or store); a memcpy of the whole array went through
// 16-byte moves and the stack under AVX2.
template <class T, int N>
void vload(vecn<T, N>& x, const T* p) {
  for (int i = 0; i < vecn<T, N>::P; ++i) std::memcpy(&x.v[i], p + i * vecn<T, N>::W, sizeof x.v[i]);
}
template <class T, int N>
void vstore(T* p, const vecn<T, N>& x) {
  for (int i = 0; i < vecn<T, N>::P; ++i) std::memcpy(p + i * vecn<T, N>::W, &x.v[i], sizeof x.v[i]);
}
template <class T, int N>
void vfma(vecn<T, N>& acc, T s, const vecn<T, N>& x) {  // acc += s x
  for (int i = 0; i < vecn<T, N>::P; ++i) acc.v[i] += s * x.v[i];
}

// kt (D x Sp, Sp = padded_keys(S)) = k^T of one head's rows, zero in the padding.
template <class T>
void transpose_head(const attn_dims& a, rows<const T> k, T* kt) {
  // Rows of kt are written in order, 16 keys at a time (row-by-row scattered stores of k_j
  // cost four times as much).
  const std::int64_t Sp = padded_keys(a.S);
  for (std::int64_t j0 = 0; j0 < Sp; j0 += k_short_pad) {
    const std::int64_t nj = std::min(k_short_pad, a.S - j0);
    for (std::int64_t d = 0; d < a.D; ++d) {
      T* dst = kt + d * Sp + j0;
      for (std::int64_t c = 0; c < nj; ++c) dst[c] = k.row(j0 + c)[d];
      for (std::int64_t c = nj; c < k_short_pad; ++c) dst[c] = T(0);
    }
  }
}

// out[r * Sp + j] = g_r . x_j for the k_short_R rows g[r] and keys j < n (a multiple of 16) of
// xt = x^T (from transpose_head): per block of 16 keys the rows accumulate in registers.
template <class T>
void short_dot_block(std::int64_t D, const T* const* g, const T* xt, std::int64_t Sp, std::int64_t n, T* out) {
  using V = vecn<T, k_short_pad>;
  for (std::int64_t j0 = 0; j0 < n; j0 += k_short_pad) {
    V acc[k_short_R] = {};
    for (std::int64_t d = 0; d < D; ++d) {
      V x;
      vload(x, xt + d * Sp + j0);
      for (std::int64_t r = 0; r < k_short_R; ++r) vfma(acc[r], g[r][d], x);
    }
    for (std::int64_t r = 0; r < k_short_R; ++r) vstore(out + r * Sp + j0, acc[r]);
  }
}

// Row i's raw scores s[0, n) -> scale s + ALiBi for keys in [lo, hi), -inf elsewhere.
template <class T>
void short_mask(const attn_dims& a, std::int64_t h, std::int64_t i, std::int64_t lo, std::int64_t hi, std::int64_t n, T* s) {
  const T scale = static_cast<T>(a.scale);
  const T slope = a.slopes.empty() ? T(0) : static_cast<T>(a.slopes[static_cast<std::size_t>(h)]);
  const T pos = static_cast<T>(i + a.off);
  constexpr T ninf = -std::numeric_limits<T>::infinity();
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) s[j] = j >= lo && j < hi ? s[j] * scale - slope * (pos - static_cast<T>(j)) : ninf;
}

// For r < nr: out[r][0, D) = alpha[r] * sum_{j in [lo, hi)} w[r * wr + j * wj] x_j, or out[r] +=
// that sum when accumulate. DC > 0 is D known at compile time (8 or 16): the R accumulators
// are registers; DC = 0 takes the same sums one row at a time. Rows of the output are query
// rows (wr = Sp, wj = 1: o = P V, dQ = dS K) or keys (wr = 1, wj = Sp: dK = dS^T Q, dV = P^T dO).
template <class T, int DC, int R = k_short_R>
void short_combine_block(std::int64_t D_, const T* w, std::int64_t wr, std::int64_t wj, rows<const T> x, std::int64_t lo,
                         std::int64_t hi, const T* alpha, bool accumulate, T* const* out, std::int64_t nr) {
  if constexpr (DC > 0) {
    using V = vecn<T, DC>;
    V acc[R] = {};
    for (std::int64_t j = lo; j < hi; ++j) {
      V xj;
      vload(xj, x.row(j));
      for (std::int64_t r = 0; r < R; ++r) vfma(acc[r], w[r * wr + j * wj], xj);
    }
    for (std::int64_t r = 0; r < nr; ++r) {
      V o = {};
      if (accumulate) vload(o, out[r]);
      for (int i = 0; i < V::P; ++i) o.v[i] = accumulate ? o.v[i] + acc[r].v[i] : acc[r].v[i] * alpha[r];
      vstore(out[r], o);
    }
  } else {
    for (std::int64_t r = 0; r < nr; ++r) {
      T acc[k_short_D] = {};
      for (std::int64_t j = lo; j < hi; ++j)
        for (std::int64_t d = 0; d < D_; ++d) acc[d] += w[r * wr + j * wj] * x.row(j)[d];
      for (std::int64_t d = 0; d < D_; ++d) out[r][d] = accumulate ? out[r][d] + acc[d] : acc[d] * alpha[r];
    }
  }
}

// Keys per block of the dK/dV pass: 8 accumulators when a head row is one vector (8 FMA chains
// in flight), else 4 (AVX2 with D 16: two ymm per row, 8 chains, 8 of the 16 registers).
template <class T, int DC>
constexpr int short_key_block() {
  if constexpr (DC > 0) return vecn<T, DC>::P == 1 ? 8 : 4;
  return 4;
}

// The rows of one block of queries [i0, i0 + nr): their q (and dO) rows, with the last row
// repeated in the padding, and the union [jlo, jhi) of their visible keys.
struct short_block {
  std::int64_t nr, lo[k_short_R], hi[k_short_R], jlo, jhi;
};
template <class T>
short_block block_rows(const attn_dims& a, std::int64_t i0, rows<const T> x, const T** xr, rows<const T> y = {nullptr, 0},
                       const T** yr = nullptr) {
  short_block blk{std::min(k_short_R, a.T - i0), {}, {}, a.S, 0};
  for (std::int64_t r = 0; r < k_short_R; ++r) {
    const std::int64_t i = i0 + std::min(r, blk.nr - 1);
    xr[r] = x.row(i);
    if (yr) yr[r] = y.row(i);
    blk.lo[r] = std::min(a.key_lo(i), a.S);
    blk.hi[r] = std::max(a.key_hi(i), blk.lo[r]);
    if (blk.hi[r] > blk.lo[r]) {
      blk.jlo = std::min(blk.jlo, blk.lo[r]);
      blk.jhi = std::max(blk.jhi, blk.hi[r]);
    }
  }
  blk.jlo = std::min(blk.jlo, blk.jhi);
  return blk;
}

// Forward of one (b, h): o rows and lse. Scratch: kt (D x Sp), s (k_short_R x Sp).
template <class T, int DC>
void short_forward_head(const attn_dims& a, std::int64_t h, rows<const T> q, rows<const T> k, rows<const T> v, rows<T> o,
                        T* lse, T* kt, T* s) {
  const std::int64_t Sp = padded_keys(a.S);
  transpose_head(a, k, kt);
  for (std::int64_t i0 = 0; i0 < a.T; i0 += k_short_R) {
    const T* qr[k_short_R];
    const short_block blk = block_rows(a, i0, q, qr);
    const std::int64_t n = padded_keys(blk.jhi);
    short_dot_block(a.D, qr, kt, Sp, n, s);
    T inv[k_short_R] = {};
    T* orow[k_short_R];
    for (std::int64_t r = 0; r < k_short_R; ++r) {
      T* sr = s + r * Sp;
      if (r >= blk.nr || blk.hi[r] == blk.lo[r]) {  // padding, or no visible key (output 0, lse -inf)
        std::fill(sr, sr + n, T(0));
        if (r < blk.nr) lse[i0 + r] = -std::numeric_limits<T>::infinity();
        continue;
      }
      orow[r] = o.row(i0 + r);
      short_mask(a, h, i0 + r, blk.lo[r], blk.hi[r], n, sr);
      T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
      for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, sr[j]);
      const T sum = exp_shifted(sr, n, mx);
      inv[r] = T(1) / sum;
      lse[i0 + r] = mx + std::log(sum);
    }
    for (std::int64_t r = 0; r < blk.nr; ++r)
      if (blk.hi[r] == blk.lo[r]) orow[r] = o.row(i0 + r);
    short_combine_block<T, DC>(a.D, s, Sp, 1, v, blk.jlo, blk.jhi, inv, false, orow, blk.nr);  // o_i = P V
    for (std::int64_t r = 0; r < blk.nr; ++r)
      if (blk.hi[r] == blk.lo[r]) std::fill(orow[r], orow[r] + a.D, T(0));
  }
}

// Backward of one (b, h): dq, and this head's dk, dv (zeroed by the caller).
// Scratch: kt, vt (D x Sp each), s, dp (T rounded up to whole query blocks, x Sp each: P and dS
// of the whole head). Two passes: query blocks compute P and dS and accumulate dQ = dS K; then
// key blocks take dK = dS^T Q and dV = P^T dO with each key row's sums in registers (a scatter
// per query block loaded and stored every dK, dV row once per 4 queries). Each dK, dV entry
// sums its queries in row order from zero, as the scatter did: the same bits.
template <class T, int DC>
void short_backward_head(const attn_dims& a, std::int64_t h, rows<const T> q, rows<const T> k, rows<const T> v, rows<const T> o,
                         const T* lse, rows<const T> go, rows<T> dq, rows<T> dk, rows<T> dv, T* kt, T* vt, T* s, T* dp) {
  const std::int64_t D = DC > 0 ? DC : a.D, Sp = padded_keys(a.S);
  const T scale = static_cast<T>(a.scale);
  transpose_head(a, k, kt);
  transpose_head(a, v, vt);
  for (std::int64_t i0 = 0; i0 < a.T; i0 += k_short_R) {
    const T *qr[k_short_R], *gr[k_short_R];
    const short_block blk = block_rows(a, i0, q, qr, go, gr);
    const std::int64_t n = padded_keys(blk.jhi);
    T *sb = s + i0 * Sp, *dpb = dp + i0 * Sp;
    short_dot_block(D, qr, kt, Sp, n, sb);
    short_dot_block(D, gr, vt, Sp, n, dpb);  // dP = dO V^T
    T* dqr[k_short_R];
    for (std::int64_t r = 0; r < k_short_R; ++r) {
      T *sr = sb + r * Sp, *dpr = dpb + r * Sp;
      if (r >= blk.nr || lse[i0 + r] == -std::numeric_limits<T>::infinity()) {  // padding, or saw no key
        std::fill(sr, sr + n, T(0));
        std::fill(dpr, dpr + n, T(0));
        if (r < blk.nr) dqr[r] = dq.row(i0 + r);
        continue;
      }
      dqr[r] = dq.row(i0 + r);
      const T *gi = gr[r], *oi = o.row(i0 + r);
      T di = 0;  // D_i = rowsum(dO_i * O_i)
#pragma omp simd reduction(+ : di)
      for (std::int64_t d = 0; d < D; ++d) di += gi[d] * oi[d];
      short_mask(a, h, i0 + r, blk.lo[r], blk.hi[r], n, sr);
      const T l = lse[i0 + r];
#pragma omp simd
      for (std::int64_t j = 0; j < n; ++j) {
        sr[j] = vexp(sr[j] - l);                 // P (0 where masked)
        dpr[j] = sr[j] * (dpr[j] - di) * scale;  // dS, score scale folded in
      }
    }
    short_combine_block<T, DC>(D, dpb, Sp, 1, k, blk.jlo, blk.jhi, nullptr, true, dqr, blk.nr);  // dQ += dS K
  }
  // Keys [j0, j0 + RK) are seen by the queries [ilo, ihi): key_lo and key_hi never decrease
  // with the row, so those rows are contiguous and each sees a key of the block, hence has
  // P and dS stored for the block's whole 16-key group (0 where masked).
  constexpr int RK = short_key_block<T, DC>();
  std::int64_t ilo = 0, ihi = 0;
  for (std::int64_t j0 = 0; j0 < a.S; j0 += RK) {
    const std::int64_t nk = std::min<std::int64_t>(RK, a.S - j0);
    while (ilo < a.T && a.key_hi(ilo) <= j0) ++ilo;
    while (ihi < a.T && a.key_lo(ihi) < j0 + nk) ++ihi;
    if (ihi <= ilo) continue;
    T *dkr[RK], *dvr[RK];
    for (std::int64_t r = 0; r < nk; ++r) dkr[r] = dk.row(j0 + r), dvr[r] = dv.row(j0 + r);
    short_combine_block<T, DC, RK>(D, dp + j0, 1, Sp, q, ilo, ihi, nullptr, true, dkr, nk);  // dK += dS^T Q
    short_combine_block<T, DC, RK>(D, s + j0, 1, Sp, go, ilo, ihi, nullptr, true, dvr, nk);  // dV += P^T dO
  }
}

// Calls f.template operator()<DC>() with DC = D for the head dims the lab uses, else 0.
template <class F>
void with_head_dim(std::int64_t D, F&& f) {
  switch (D) {
    case 8: return f.template operator()<8>();
    case 16: return f.template operator()<16>();
    default: return f.template operator()<0>();
  }
}

template <class T>
rows<const T> as_const(rows<T> r) {
  return {r.p, r.ld};
}

// The softmax probabilities (B, H, T, S) from the saved log-sum-exp, recomputing the scores
// tile by tile (hooks ask for them; the forward never materialises them).
template <class T>
tensor attention_pattern(const attn_dims& a, const head_layout& lq, const head_layout& lk, const T* pl, dtype type) {
  const std::int64_t G = a.H / a.Hkv;
  tensor pat = tensor::empty({a.B, a.H, a.T, a.S}, type);
  T* pp = pat.data<T>();
#pragma omp parallel for if (a.B * a.H * a.T * a.S > k_par_grain)
  for (std::int64_t bh = 0; bh < a.B * a.H; ++bh) {
    const std::int64_t b = bh / a.H, h = bh % a.H, hk = h / G;
    std::vector<T> s(static_cast<std::size_t>(k_bq * k_bk));
    for (std::int64_t i0 = 0; i0 < a.T; i0 += k_bq) {
      const std::int64_t i1 = std::min(a.T, i0 + k_bq);
      for (std::int64_t j0 = 0; j0 < a.S; j0 += k_bk) {
        const std::int64_t j1 = std::min(a.S, j0 + k_bk);
        score_tile<T>(a, h, as_const(head<T>(lq, b, h)), as_const(head<T>(lk, b, hk)), i0, i1, j0, j1, s.data(), k_bk);
        for (std::int64_t i = i0; i < i1; ++i) {
          const T l = pl[bh * a.T + i];
          for (std::int64_t j = j0; j < j1; ++j) {
            const T sc = s[static_cast<std::size_t>((i - i0) * k_bk + (j - j0))];
            pp[(bh * a.T + i) * a.S + j] = l == -std::numeric_limits<T>::infinity() ? T(0) : vexp(sc - l);
          }
        }
      }
    }
  }
  return pat;
}

// With G > 1 query heads per kv head, each query head wrote its own dK/dV slab (B, H, S, D):
// the G slabs of a group are summed into dK, dV (views rk, rv).
template <class T>
void sum_group_slabs(const attn_dims& a, const tensor& dkh, const tensor& dvh, const head_layout& rk, const head_layout& rv) {
  const std::int64_t G = a.H / a.Hkv;
  const T *pdk = dkh.data<T>(), *pdv = dvh.data<T>();
  const std::int64_t slab = a.S * a.D;
#pragma omp parallel for if (a.B * a.Hkv * slab > k_par_grain)
  for (std::int64_t bk = 0; bk < a.B * a.Hkv; ++bk) {
    const std::int64_t b = bk / a.Hkv, hk = bk % a.Hkv;
    const rows<T> ok = head<T>(rk, b, hk), ov = head<T>(rv, b, hk);
    for (std::int64_t gi = 0; gi < G; ++gi) {
      const std::int64_t src = ((b * a.H) + hk * G + gi) * slab;
      for (std::int64_t j = 0; j < a.S; ++j) {
        T *rkj = ok.row(j), *rvj = ov.row(j);
        const T *skj = pdk + src + j * a.D, *svj = pdv + src + j * a.D;
#pragma omp simd
        for (std::int64_t d = 0; d < a.D; ++d) {
          rkj[d] += skj[d];
          rvj[d] += svj[d];
        }
      }
    }
  }
}

}  // namespace

// q (B, H, T, D), k v (B, H_kv, S, D) -> o (B, H, T, D); saves lse (B, H, T).
// Inputs whose last dim is contiguous are read in place (no copy). The output is a
// (B, H, T, D) view of a contiguous (B, T, H, D) buffer, so transpose(o, 1, 2) followed by a
// reshape to (B, T, H * D) copies nothing.
// Long (~90 lines) on purpose: the forward's two kernels (short heads, tiles) and, beside it,
// the backward closure that differentiates it (STYLE.md "forward above backward").
tensor attention(const tensor& q, const tensor& k, const tensor& v, const attention_options& opt) {
  prof::scope timed(prof::cat::attention);
  const attn_dims a = check_dims(q, k, v, opt, "attention");
  const head_layout lq = heads_of(q), lk = heads_of(k), lv = heads_of(v);
  tensor out = tensor::empty({a.B, a.T, a.H, a.D}, q.type()).transpose_raw(1, 2);
  const head_layout lo = heads_of(out);
  tensor lse = tensor::empty({a.B, a.H, a.T}, q.type());
  const std::int64_t G = a.H / a.Hkv, nqb = (a.T + k_bq - 1) / k_bq;
  dispatch_float(q.type(), "attention", [&]<class T>() {
    T* pl = lse.data<T>();
    const std::int64_t tasks = a.B * a.H * nqb;
    if (short_heads(a)) {
#pragma omp parallel if (a.B * a.H > 1 && a.T * a.S * a.D * a.B * a.H > k_attn_grain)
      {
        const std::int64_t Sp = padded_keys(a.S);
        std::vector<T> kt(static_cast<std::size_t>(a.D * Sp)), s(static_cast<std::size_t>(k_short_R * Sp));
        with_head_dim(a.D, [&]<int DC>() {
#pragma omp for schedule(static)
          for (std::int64_t bh = 0; bh < a.B * a.H; ++bh) {
            const std::int64_t b = bh / a.H, h = bh % a.H, hk = h / G;
            short_forward_head<T, DC>(a, h, as_const(head<T>(lq, b, h)), as_const(head<T>(lk, b, hk)),
                                      as_const(head<T>(lv, b, hk)), head<T>(lo, b, h), pl + bh * a.T, kt.data(), s.data());
          }
        });
      }
    } else
#pragma omp parallel if (tasks > 1 && a.T * a.S * a.D * a.B * a.H > k_attn_grain)
    {
      std::vector<T> s(static_cast<std::size_t>(k_bq * k_bk));
      std::vector<T> acc(static_cast<std::size_t>(k_bq * a.D)), m(k_bq), l(k_bq);
      // Later query tiles see more keys under a causal mask: hand tiles out dynamically.
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t task = 0; task < tasks; ++task) {
        const std::int64_t bh = task / nqb, qb = task % nqb;
        const std::int64_t b = bh / a.H, h = bh % a.H, hk = h / G;
        const std::int64_t i0 = qb * k_bq, i1 = std::min(a.T, i0 + k_bq);
        forward_tile<T>(a, h, as_const(head<T>(lq, b, h)), as_const(head<T>(lk, b, hk)), as_const(head<T>(lv, b, hk)),
                        head<T>(lo, b, h), pl + bh * a.T, i0, i1, s.data(), acc.data(), m.data(), l.data());
      }
    }
    // softmax probabilities, materialised only on request (hooks)
    if (opt.pattern_out) *opt.pattern_out = attention_pattern<T>(a, lq, lk, pl, q.type());
  });
  if (needs_grad({&q, &k, &v})) {
    auto saved = [](const head_layout& l) { return head_layout{l.t.detach(), l.s0, l.s1, l.ld}; };
    record("attention", out, {q, k, v},
           [lq = saved(lq), lk = saved(lk), lv = saved(lv), lo = saved(lo), lse, a, G](const tensor& g) -> std::vector<tensor> {
             const dtype t = lq.t.type();
             // Gradients are (B, H, T, D) views of contiguous (B, T, H, D) buffers, like the
             // output: the transpose + reshape back to (B, T, C) that callers do costs no copy.
             tensor dq = tensor::zeros({a.B, a.T, a.H, a.D}, t).transpose_raw(1, 2);
             tensor dk = tensor::zeros({a.B, a.S, a.Hkv, a.D}, t).transpose_raw(1, 2);
             tensor dv = tensor::zeros({a.B, a.S, a.Hkv, a.D}, t).transpose_raw(1, 2);
             // With G > 1 query heads per kv head, each query head writes its own dK/dV slab
             // (B, H, S, D) in parallel; the slabs of a group are summed afterwards.
             tensor dkh = G == 1 ? dk : tensor::zeros({a.B, a.H, a.S, a.D}, t);
             tensor dvh = G == 1 ? dv : tensor::zeros({a.B, a.H, a.S, a.D}, t);
             const head_layout lg = heads_of(g), ldq = heads_of(dq), ldk = heads_of(dkh), ldv = heads_of(dvh);
             dispatch_float(t, "attention", [&]<class T>() {
               const T* pl = lse.data<T>();
               if (short_heads(a)) {
#pragma omp parallel if (a.B * a.H > 1 && a.T * a.S * a.D * a.B * a.H > k_attn_grain)
                 {
                   const std::int64_t Sp = padded_keys(a.S);
                   const std::int64_t Tp = (a.T + k_short_R - 1) / k_short_R * k_short_R;  // whole query blocks
                   std::vector<T> kt(static_cast<std::size_t>(2 * a.D * Sp)), s(static_cast<std::size_t>(2 * Tp * Sp));
                   with_head_dim(a.D, [&]<int DC>() {
#pragma omp for schedule(static)
                   for (std::int64_t bh = 0; bh < a.B * a.H; ++bh) {
                     const std::int64_t b = bh / a.H, h = bh % a.H, hk = h / G, hs = G == 1 ? hk : h;
                     short_backward_head<T, DC>(a, h, as_const(head<T>(lq, b, h)), as_const(head<T>(lk, b, hk)),
                                            as_const(head<T>(lv, b, hk)), as_const(head<T>(lo, b, h)), pl + bh * a.T,
                                            as_const(head<T>(lg, b, h)), head<T>(ldq, b, h), head<T>(ldk, b, hs),
                                            head<T>(ldv, b, hs), kt.data(), kt.data() + a.D * Sp, s.data(), s.data() + Tp * Sp);
                   }
                   });
                 }
               } else
#pragma omp parallel for schedule(dynamic, 1) if (a.B * a.H > 1 && a.T * a.S * a.D * a.B * a.H > k_attn_grain)
               for (std::int64_t bh = 0; bh < a.B * a.H; ++bh) {
                 const std::int64_t b = bh / a.H, h = bh % a.H, hk = h / G, hs = G == 1 ? hk : h;
                 backward_head<T>(a, h, as_const(head<T>(lq, b, h)), as_const(head<T>(lk, b, hk)), as_const(head<T>(lv, b, hk)),
                                  as_const(head<T>(lo, b, h)), pl + bh * a.T, as_const(head<T>(lg, b, h)), head<T>(ldq, b, h),
                                  head<T>(ldk, b, hs), head<T>(ldv, b, hs));
               }
               if (G > 1) sum_group_slabs<T>(a, dkh, dvh, heads_of(dk), heads_of(dv));
             });
             return {dq, dk, dv};
           });
  }
  return out;
}

// ---- naive reference --------------------------------------------------------------------

// q (B, H, T, D), k v (B, H_kv, S, D) -> (B, H, T, D), built from differentiable ops:
// softmax(q k^T * scale + bias + mask) v with k, v repeated to H heads.
tensor attention_reference(const tensor& q, const tensor& k, const tensor& v, const attention_options& opt) {
  const attn_dims a = check_dims(q, k, v, opt, "attention_reference");
  const std::int64_t G = a.H / a.Hkv;
  auto repeat_heads = [&](const tensor& t) {
    if (G == 1) return t;
    return reshape(expand(unsqueeze(t, 2), {a.B, a.Hkv, G, a.S, a.D}), {a.B, a.H, a.S, a.D});
  };
  tensor kr = repeat_heads(k), vr = repeat_heads(v);
  tensor scores = mul_scalar(matmul(q, transpose(kr, 2, 3)), a.scale);  // (B, H, T, S)
  // Additive bias (H, T, S): ALiBi and -inf on masked keys; a 0/1 row mask zeroes queries
  // that see no key (the fused kernel's convention).
  std::vector<double> bias(static_cast<std::size_t>(a.H * a.T * a.S));
  std::vector<double> rowmask(static_cast<std::size_t>(a.T));
  for (std::int64_t t = 0; t < a.T; ++t) rowmask[static_cast<std::size_t>(t)] = a.key_hi(t) > a.key_lo(t) ? 1.0 : 0.0;
  for (std::int64_t h = 0; h < a.H; ++h)
    for (std::int64_t t = 0; t < a.T; ++t)
      for (std::int64_t s = 0; s < a.S; ++s) {
        double b = a.slopes.empty() ? 0.0 : -a.slopes[static_cast<std::size_t>(h)] * static_cast<double>(t + a.off - s);
        // A row with no visible key keeps finite scores (softmax stays NaN-free); the row
        // mask below zeroes it.
        if ((s < a.key_lo(t) || s >= a.key_hi(t)) && rowmask[static_cast<std::size_t>(t)] != 0) b = -INFINITY;
        bias[static_cast<std::size_t>((h * a.T + t) * a.S + s)] = b;
      }
  tensor bias_t = tensor::from<double>({a.H, a.T, a.S}, std::span<const double>(bias)).to_raw(q.type());
  tensor p = softmax(add(scores, bias_t), -1);
  if (std::find(rowmask.begin(), rowmask.end(), 0.0) != rowmask.end())
    p = mul(p, tensor::from<double>({a.T, 1}, std::span<const double>(rowmask)).to_raw(q.type()));
  if (opt.pattern_out) *opt.pattern_out = p.detach().clone_raw();
  return matmul(p, vr);
}

}  // namespace lmlab
