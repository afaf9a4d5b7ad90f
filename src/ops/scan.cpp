// Selective scan and causal depthwise conv1d: forward, backward, step, reference. See scan.hpp.
// Parallelism: work items are (batch, block of kLanes channels); inside an item the time loop
// is serial and the channel block is the SIMD dimension, with exp(delta A) taken by the
// vectorisable exp_fast (ops/vexp.hpp) inside the state loops. Per-thread scratch is allocated
// once per call, never per time step.
#include "ops/scan.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/internal.hpp"
#include "ops/vexp.hpp"

namespace lmlab {

namespace {

// Channels per work item: the SIMD lanes of the state loops (one AVX-512 vector of floats, two
// of AVX2). Each item's state is N*kLanes floats, the backward's per-chunk history
// kChunk*N*kLanes.
constexpr std::int64_t kLanes = 16;
// Time steps per checkpoint. When a backward will follow, the forward saves the state entering
// every kChunk-th step ((B, T/kChunk, D, N) in all, 1/kChunk of the full history); the
// backward recomputes one chunk at a time from it, so that chunk's states and decays
// (2 * kChunk * N * kLanes values, 128 KiB in f32 at N = 16) stay in cache.
constexpr std::int64_t kChunk = 64;
// Channel blocks per backward work item (scan_backward): 8 blocks = 128 channels, whose
// recomputed chunk (2 * kChunk * 8 * N * kLanes floats, 1 MiB at N = 16 and T >= 64) stays in
// a core's L2.
constexpr std::int64_t kGroup = 8;
// Below this many state updates a call runs on one thread: a parallel region's fork/join
// costs more than the work (and gradchecks call tiny problems thousands of times).
constexpr std::int64_t kParallelWork = 1 << 15;

struct scan_dims {
  std::int64_t B, T, D, N;
};

void check_float(const tensor& t, const char* op, const char* name, dtype want) {
  LMLAB_CHECK(t.type() == want, "{}: {} is {}, expected {} like u", op, name, dtype_name(t.type()), dtype_name(want));
}

scan_dims check_scan(const char* op, const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm,
                     const tensor& Cm, const tensor& Dskip) {
  LMLAB_CHECK(u.dim() == 3, "{}: u must be (B, T, D), got {}", op, shape_str(u.shape()));
  LMLAB_CHECK(A.dim() == 2, "{}: A must be (D, N), got {}", op, shape_str(A.shape()));
  scan_dims s{u.size(0), u.size(1), u.size(2), A.size(1)};
  LMLAB_CHECK(delta.shape() == u.shape(), "{}: delta {} must match u {}", op, shape_str(delta.shape()), shape_str(u.shape()));
  LMLAB_CHECK(A.size(0) == s.D, "{}: A has {} rows, u has D = {}", op, A.size(0), s.D);
  const shape_t bn{s.B, s.T, s.N};
  LMLAB_CHECK(Bm.shape() == bn, "{}: B must be {} (batch, time, d_state), got {}", op, shape_str(bn), shape_str(Bm.shape()));
  LMLAB_CHECK(Cm.shape() == bn, "{}: C must be {} (batch, time, d_state), got {}", op, shape_str(bn), shape_str(Cm.shape()));
  if (Dskip.defined()) LMLAB_CHECK(Dskip.shape() == shape_t{s.D}, "{}: D skip must be ({}), got {}", op, s.D, shape_str(Dskip.shape()));
  check_float(delta, op, "delta", u.type());
  check_float(A, op, "A", u.type());
  check_float(Bm, op, "B", u.type());
  check_float(Cm, op, "C", u.type());
  if (Dskip.defined()) check_float(Dskip, op, "D", u.type());
  return s;
}

// The recurrent step over all channels of one batch row, state h (D*N) in PyTorch's (D, N)
// layout: the step mode's kernel (one token, so there is no time loop to block over).
template <class T>
void scan_step_row(const scan_dims& s, std::int64_t b, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm,
                   const T* Dv, T* y, T* h) {
  const std::int64_t N = s.N;
  const T* bt = Bm + b * N;
  const T* ct = Cm + b * N;
  for (std::int64_t d = 0; d < s.D; ++d) {
    const T dt = dl[b * s.D + d], ut = u[b * s.D + d], dtu = dt * ut;
    const T* ad = A + d * N;
    T* hd = h + d * N;
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t n = 0; n < N; ++n) {
      hd[n] = exp_fast(dt * ad[n]) * hd[n] + dtu * bt[n];  // ref: Mamba eq. 2a, A_bar = exp(delta A), B_bar = delta B
      acc += ct[n] * hd[n];                                // ref: Mamba eq. 2b
    }
    y[b * s.D + d] = acc + (Dv ? Dv[d] * ut : T(0));
  }
}

// A work item's channels [d0, d0 + nd) are the kLanes SIMD lanes of every state loop, so that
// y_t = C_t h_t (a sum over n) accumulates lane-wise with no horizontal reduction; lanes past a
// ragged last block hold zeros (delta = u = dy = 0 keeps them at h = g = 0). Block state and
// A are laid out [n * kLanes + c].
template <class T>
void load_lanes(T* dst, const T* src, std::int64_t nd) {
  if (nd == kLanes) {
#pragma omp simd
    for (std::int64_t c = 0; c < kLanes; ++c) dst[c] = src[c];
  } else {
    for (std::int64_t c = 0; c < kLanes; ++c) dst[c] = c < nd ? src[c] : T(0);
  }
}

// at[n * kLanes + c] = A[d0 + c, n], zero for c >= nd.
template <class T>
void load_block_A(const scan_dims& s, const T* A, std::int64_t d0, std::int64_t nd, T* at) {
  for (std::int64_t n = 0; n < s.N; ++n)
    for (std::int64_t c = 0; c < kLanes; ++c) at[n * kLanes + c] = c < nd ? A[(d0 + c) * s.N + n] : T(0);
}

// Sum of kLanes (16) contiguous values as a pairwise tree, which the compiler turns into
// vector adds (an `omp simd` reduction ends in a serial lane-by-lane sum).
template <class T>
inline T lane_sum(const T* p) {
  static_assert(kLanes == 16);
  T s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = p[i] + p[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// Runs the recurrence for batch b over one work item and time steps [t0, t1). Without hist, h
// (N*kLanes) holds the state on entry and exit. With hist, h is only the entering state and
// hist receives h_t at (t - t0)*N*kLanes for every t, ahist (when given) the decays
// exp(delta_t A) alike. ckpt, when given, receives the state entering each step t that is a
// multiple of kChunk, at (t / kChunk)*N*kLanes. y may be null (the backward's recompute).
// NonPos: every delta_t A <= 0 (delta >= 0, A <= 0, as in Mamba), so the decays take
// exp_fast_nonpos (bit-identical to exp_fast there, less work). Hist: hist and ahist are given.
template <class T, bool NonPos, bool Hist>
void scan_block_forward(const scan_dims& s, std::int64_t b, std::int64_t d0, std::int64_t nd, std::int64_t t0, std::int64_t t1,
                        const T* u, const T* dl, const T* at, const T* Bm, const T* Cm, const T* Dv, T* y, T* h, T* hist, T* ahist,
                        T* ckpt) {
  const std::int64_t N = s.N, NL = N * kLanes;
  alignas(64) T dt[kLanes], dtu[kLanes], acc[kLanes];
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t row = (b * s.T + t);
    const T* bt = Bm + row * N;
    const T* ct = Cm + row * N;
    load_lanes(dt, dl + row * s.D + d0, nd);
    load_lanes(dtu, u + row * s.D + d0, nd);  // u_t, scaled to delta_t u_t below
#pragma omp simd
    for (std::int64_t c = 0; c < kLanes; ++c) {
      dtu[c] *= dt[c];
      acc[c] = 0;
    }
    const T* hp = Hist && t > t0 ? hist + (t - 1 - t0) * NL : h;
    T* hn = Hist ? hist + (t - t0) * NL : h;
    T* an_out = Hist ? ahist + (t - t0) * NL : nullptr;
    if (ckpt && t % kChunk == 0) std::copy(hp, hp + NL, ckpt + (t / kChunk) * NL);
    for (std::int64_t n = 0; n < N; ++n) {
      const T bn = bt[n], cn = ct[n];
      const T* an = at + n * kLanes;
#pragma omp simd
      for (std::int64_t c = 0; c < kLanes; ++c) {
        const T a = NonPos ? exp_fast_nonpos(dt[c] * an[c]) : exp_fast(dt[c] * an[c]);
        const T hv = a * hp[n * kLanes + c] + dtu[c] * bn;  // ref: Mamba eq. 2a, A_bar = exp(delta A), B_bar = delta B
        hn[n * kLanes + c] = hv;
        acc[c] += cn * hv;  // ref: Mamba eq. 2b
        if constexpr (Hist) an_out[n * kLanes + c] = a;
      }
    }
    if (y) {
      T* yr = y + row * s.D + d0;
      const T* ur = u + row * s.D + d0;
      if (nd == kLanes && Dv) {
        const T* dr = Dv + d0;
#pragma omp simd
        for (std::int64_t c = 0; c < kLanes; ++c) yr[c] = acc[c] + dr[c] * ur[c];
      } else {
        for (std::int64_t c = 0; c < nd; ++c) yr[c] = acc[c] + (Dv ? Dv[d0 + c] * ur[c] : T(0));
      }
    }
  }
}

std::int64_t scan_chunks(const scan_dims& s) { return (s.T + kChunk - 1) / kChunk; }

// True when no delta is negative and no A positive (NaNs pass), so every decay argument
// delta_t A is <= 0 (or NaN) and exp_fast_nonpos applies: always so in Mamba (delta =
// softplus(.), A = -exp(A_log)). One pass over (B,T,D) and (D,N), next to the scan's B*T*D*N.
template <class T>
bool decays_nonpos(const scan_dims& s, const T* dl, const T* A) {
  const std::int64_t nd = s.B * s.T * s.D, na = s.D * s.N;
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (std::int64_t i = 0; i < nd; ++i) bad |= dl[i] < T(0);
#pragma omp simd reduction(| : bad)
  for (std::int64_t i = 0; i < na; ++i) bad |= A[i] > T(0);
  return bad == 0;
}

// ckpt, when given, is (B * ceil(D/kLanes), scan_chunks, N*kLanes): the backward's checkpoints.
template <class T>
void scan_forward(const scan_dims& s, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm, const T* Dv, T* y,
                  T* last, T* ckpt, bool nonpos) {
  const std::int64_t nblk = (s.D + kLanes - 1) / kLanes, NL = s.N * kLanes;
#pragma omp parallel if (s.B * s.T * s.D * s.N > kParallelWork)
  {
    std::vector<T> h(static_cast<std::size_t>(NL)), at(h.size());
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.B * nblk; ++item) {
      const std::int64_t b = item / nblk, d0 = (item % nblk) * kLanes, nd = std::min(s.D - d0, kLanes);
      load_block_A(s, A, d0, nd, at.data());
      std::fill(h.begin(), h.end(), T(0));
      T* ck = ckpt ? ckpt + item * scan_chunks(s) * NL : nullptr;
      if (nonpos)
        scan_block_forward<T, true, false>(s, b, d0, nd, 0, s.T, u, dl, at.data(), Bm, Cm, Dv, y, h.data(), nullptr, nullptr, ck);
      else
        scan_block_forward<T, false, false>(s, b, d0, nd, 0, s.T, u, dl, at.data(), Bm, Cm, Dv, y, h.data(), nullptr, nullptr, ck);
      if (last)
        for (std::int64_t c = 0; c < nd; ++c)
          for (std::int64_t n = 0; n < s.N; ++n) last[(b * s.D + d0 + c) * s.N + n] = h[static_cast<std::size_t>(n * kLanes + c)];
    }
  }
}

// Adjoint of the recurrence, per work item, backwards in time. g[n,c] = dL/dh_t accumulates
//   g_t = dy_t C_t + exp(delta_{t+1} A) g_{t+1}
// and each step's local derivatives of h_t = a h_{t-1} + delta B u (a = exp(delta A)) and of
// y_t = C h_t + D u are taken where the forward line is written. Sums over n (du, ddelta) and
// over t (dA, dD) accumulate lane-wise. A work item is a batch row and a group of up to
// dst[i] += src[i] over src's length (a thread's partial sums into the gradient).
template <class T>
void add_into(T* dst, const std::vector<T>& src) {
  for (std::size_t i = 0; i < src.size(); ++i) dst[i] += src[i];
}

// A group's lane-major sums (block j, then n of per, then the kLanes channels) into the
// channel-major accumulator acc[(d * per + n)], the ragged last block's padding lanes left out.
template <class T>
void add_group_lanes(const scan_dims& s, std::int64_t j0, std::int64_t nj, std::int64_t per, const T* lanes, T* acc) {
  for (std::int64_t j = 0; j < nj; ++j) {
    const std::int64_t d0 = (j0 + j) * kLanes, nd = std::min(s.D - d0, kLanes);
    for (std::int64_t c = 0; c < nd; ++c)
      for (std::int64_t n = 0; n < per; ++n) acc[(d0 + c) * per + n] += lanes[(j * per + n) * kLanes + c];
  }
}

// One block's input gradients at one step, nd <= kLanes channels:
// du = dy D + sum_n dL/dh B delta;  ddelta = sum_n dL/da a A + sum_n dL/dh B u.
template <class T>
inline void write_input_grads(std::int64_t nd, const T* dr, const T* gyt, const T* dt, const T* ut, const T* sga,
                              const T* sgb, T* gur, T* gdr) {
  if (nd == kLanes && dr) {
#pragma omp simd
    for (std::int64_t c = 0; c < kLanes; ++c) {
      gur[c] = gyt[c] * dr[c] + sgb[c] * dt[c];
      gdr[c] = sga[c] + sgb[c] * ut[c];
    }
  } else {
    for (std::int64_t c = 0; c < nd; ++c) {
      gur[c] = (dr ? gyt[c] * dr[c] : T(0)) + sgb[c] * dt[c];
      gdr[c] = sga[c] + sgb[c] * ut[c];
    }
  }
}

// kGroup channel blocks: the sums over channels (dB, dC) first accumulate lane-wise over the
// group's blocks and only then across the lanes, one horizontal sum per (t, n) and group
// instead of per block (the horizontal sums were a quarter of this kernel at d_inner 128,
// issue 21). Time runs backwards chunk by chunk, each block's states and decays recomputed
// from the forward's checkpoint ckpt (see scan_forward).
// One thread's share of the backward (called inside the parallel region: its `omp for`
// hands out the (batch, group) items), summing dA, dB, dC, dD into the thread's accumulators.
// Long (~95 lines) on purpose: one loop nest (group, chunk backwards, t backwards, block, n);
// the inner steps stay in it so that they vectorise as one body.
template <class T>
void scan_backward_thread(const scan_dims& s, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm, const T* Dv,
                          const T* ckpt, const T* gy, T* gu, T* gdl, std::vector<T>& a_acc, std::vector<T>& b_acc,
                          std::vector<T>& c_acc, std::vector<T>& d_acc, bool nonpos) {
  const std::int64_t N = s.N, NL = N * kLanes, nblk = (s.D + kLanes - 1) / kLanes;
  const std::int64_t ngrp = (nblk + kGroup - 1) / kGroup, CL = std::min(s.T, kChunk);
  a_acc.assign(static_cast<std::size_t>(s.D * N), T(0));
  b_acc.assign(static_cast<std::size_t>(s.B * s.T * N), T(0));
  c_acc.assign(b_acc.size(), T(0));
  d_acc.assign(static_cast<std::size_t>(s.D), T(0));
  // Per block j of the group: its state, A, dL/dh and dA at j * NL; its recomputed chunk of
  // states and decays at j * CL * NL.
  const auto gl = static_cast<std::size_t>(kGroup * NL);
  std::vector<T> h(gl), at(gl), g(gl), gat(gl), dacc(static_cast<std::size_t>(kGroup * kLanes));
  std::vector<T> hist(static_cast<std::size_t>(CL) * gl), ahist(hist.size()), pb(static_cast<std::size_t>(NL)), pc(pb.size());
  alignas(64) T dt[kLanes], ut[kLanes], dtu[kLanes], gyt[kLanes], sga[kLanes], sgb[kLanes];
#pragma omp for schedule(static)
  for (std::int64_t item = 0; item < s.B * ngrp; ++item) {
    const std::int64_t b = item / ngrp, j0 = (item % ngrp) * kGroup, nj = std::min(kGroup, nblk - j0);
    for (std::int64_t j = 0; j < nj; ++j) {
      const std::int64_t d0 = (j0 + j) * kLanes;
      load_block_A(s, A, d0, std::min(s.D - d0, kLanes), at.data() + j * NL);
    }
    std::fill(g.begin(), g.end(), T(0));
    std::fill(gat.begin(), gat.end(), T(0));
    std::fill(dacc.begin(), dacc.end(), T(0));
    for (std::int64_t k = scan_chunks(s) - 1; k >= 0; --k) {
      const std::int64_t t0 = k * kChunk, t1 = std::min(s.T, t0 + kChunk);
      for (std::int64_t j = 0; j < nj; ++j) {
        const std::int64_t d0 = (j0 + j) * kLanes;
        const T* ck = ckpt + ((b * nblk + j0 + j) * scan_chunks(s) + k) * NL;
        T* hj = h.data() + j * NL;
        std::copy(ck, ck + NL, hj);  // h_{t0-1}
        const std::int64_t nd = std::min(s.D - d0, kLanes);
        T* hs = hist.data() + j * CL * NL;
        T* as = ahist.data() + j * CL * NL;
        if (nonpos)
          scan_block_forward<T, true, true>(s, b, d0, nd, t0, t1, u, dl, at.data() + j * NL, Bm, Cm, Dv, nullptr, hj, hs, as, nullptr);
        else
          scan_block_forward<T, false, true>(s, b, d0, nd, t0, t1, u, dl, at.data() + j * NL, Bm, Cm, Dv, nullptr, hj, hs, as, nullptr);
      }
      for (std::int64_t t = t1 - 1; t >= t0; --t) {
        const std::int64_t row = b * s.T + t;
        const T* bt = Bm + row * N;
        const T* ct = Cm + row * N;
        std::fill(pb.begin(), pb.end(), T(0));
        std::fill(pc.begin(), pc.end(), T(0));
        for (std::int64_t j = 0; j < nj; ++j) {
          const std::int64_t d0 = (j0 + j) * kLanes, nd = std::min(s.D - d0, kLanes), i0 = row * s.D + d0;
          load_lanes(dt, dl + i0, nd);
          load_lanes(ut, u + i0, nd);
          load_lanes(gyt, gy + i0, nd);
          T* dj = dacc.data() + j * kLanes;
#pragma omp simd
          for (std::int64_t c = 0; c < kLanes; ++c) {
            dtu[c] = dt[c] * ut[c];
            dj[c] += gyt[c] * ut[c];  // y_t = C h_t + D u_t
            sga[c] = sgb[c] = 0;
          }
          const T* ht = hist.data() + (j * CL + t - t0) * NL;
          const T* a_t = ahist.data() + (j * CL + t - t0) * NL;
          const T* hp = t > t0 ? ht - NL : h.data() + j * NL;
          for (std::int64_t n = 0; n < N; ++n) {
            const T bn = bt[n], cn = ct[n];
            const T* an = at.data() + j * NL + n * kLanes;
            T* gn = g.data() + j * NL + n * kLanes;
            T* gan = gat.data() + j * NL + n * kLanes;
            T* pbn = pb.data() + n * kLanes;
            T* pcn = pc.data() + n * kLanes;
#pragma omp simd
            for (std::int64_t c = 0; c < kLanes; ++c) {
              const T gg = gn[c] + gyt[c] * cn;  // dL/dh_t
              pcn[c] += gyt[c] * ht[n * kLanes + c];
              // h_t = a h_{t-1} + delta B u,  a = exp(delta A)
              const T a = a_t[n * kLanes + c];  // exp(delta_t A), saved by the recompute
              const T gaa = gg * hp[n * kLanes + c] * a;  // dL/da * a
              sga[c] += gaa * an[c];
              sgb[c] += gg * bn;
              gan[c] += gaa * dt[c];
              pbn[c] += gg * dtu[c];
              gn[c] = gg * a;
            }
          }
          write_input_grads(nd, Dv ? Dv + d0 : nullptr, gyt, dt, ut, sga, sgb, gu + i0, gdl + i0);
        }
        T* gbt = b_acc.data() + row * N;
        T* gct = c_acc.data() + row * N;
        for (std::int64_t n = 0; n < N; ++n) {
          gbt[n] += lane_sum(pb.data() + n * kLanes);
          gct[n] += lane_sum(pc.data() + n * kLanes);
        }
      }
    }
    if (Dv) add_group_lanes(s, j0, nj, 1, dacc.data(), d_acc.data());
    add_group_lanes(s, j0, nj, N, gat.data(), a_acc.data());
  }
}

template <class T>
void scan_backward(const scan_dims& s, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm, const T* Dv,
                   const T* ckpt, const T* gy, T* gu, T* gdl, T* gA, T* gB, T* gC, T* gD, bool nonpos) {
  const int nth = s.B * s.T * s.D * s.N > kParallelWork ? omp_get_max_threads() : 1;
  // Thread-local accumulators for the inputs shared across channels or batches.
  std::vector<std::vector<T>> lA(nth), lB(nth), lC(nth), lD(nth);
#pragma omp parallel num_threads(nth)
  {
    const int me = omp_get_thread_num();
    scan_backward_thread(s, u, dl, A, Bm, Cm, Dv, ckpt, gy, gu, gdl, lA[me], lB[me], lC[me], lD[me], nonpos);
  }
  // Reduce the thread-local partial sums.
  for (int th = 0; th < nth; ++th) {
    if (lA[th].empty()) continue;
    add_into(gA, lA[th]);
    add_into(gB, lB[th]);
    add_into(gC, lC[th]);
    if (gD) add_into(gD, lD[th]);
  }
}

}  // namespace

tensor selective_scan(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm, const tensor& Cm,
                      const tensor& Dskip, tensor* last_state) {
  prof::scope timed(prof::cat::scan);
  const scan_dims s = check_scan("selective_scan", u, delta, A, Bm, Cm, Dskip);
  tensor uc = u.contiguous_raw(), dc = delta.contiguous_raw(), ac = A.contiguous_raw(), bc = Bm.contiguous_raw(),
         cc = Cm.contiguous_raw();
  tensor Dc = Dskip.defined() ? Dskip.contiguous_raw() : tensor();
  tensor y = tensor::empty(u.shape(), u.type());
  tensor last, ckpt;
  if (last_state) last = tensor::empty({s.B, s.D, s.N}, u.type());
  const bool grad = needs_grad({&u, &delta, &A, &Bm, &Cm, &Dskip});
  if (grad) ckpt = tensor::empty({s.B * ((s.D + kLanes - 1) / kLanes), scan_chunks(s), s.N * kLanes}, u.type());
  bool nonpos = false;
  dispatch_float(u.type(), "selective_scan", [&]<class T>() {
    nonpos = decays_nonpos(s, dc.data<T>(), ac.data<T>());
    scan_forward<T>(s, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                    y.data<T>(), last_state ? last.data<T>() : nullptr, grad ? ckpt.data<T>() : nullptr, nonpos);
  });
  if (last_state) *last_state = last;
  if (grad) {
    record("selective_scan", y, {u, delta, A, Bm, Cm, Dskip}, [s, uc, dc, ac, bc, cc, Dc, ckpt, nonpos](const tensor& gy_in) {
      tensor gy = gy_in.contiguous_raw();
      const dtype t = uc.type();
      tensor gu = tensor::empty(uc.shape(), t), gdl = tensor::empty(uc.shape(), t), gA = tensor::zeros(ac.shape(), t),
             gB = tensor::zeros(bc.shape(), t), gC = tensor::zeros(cc.shape(), t);
      tensor gD = Dc.defined() ? tensor::zeros(Dc.shape(), t) : tensor();
      dispatch_float(t, "selective_scan", [&]<class T>() {
        scan_backward<T>(s, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                         ckpt.data<T>(), gy.data<T>(), gu.data<T>(), gdl.data<T>(), gA.data<T>(), gB.data<T>(), gC.data<T>(),
                         gD.defined() ? gD.data<T>() : nullptr, nonpos);
      });
      return std::vector<tensor>{gu, gdl, gA, gB, gC, gD};
    });
  }
  return y;
}

tensor selective_scan_gated(const tensor& u, const tensor& delta_raw, const tensor& A, const tensor& Bm, const tensor& Cm,
                            const tensor& Dskip, const tensor& z, tensor* last_state) {
  prof::scope timed(prof::cat::scan);
  const scan_dims s = check_scan("selective_scan_gated", u, delta_raw, A, Bm, Cm, Dskip);
  if (z.defined()) {
    LMLAB_CHECK(z.shape() == u.shape(), "selective_scan_gated: z {} must match u {}", shape_str(z.shape()), shape_str(u.shape()));
    check_float(z, "selective_scan_gated", "z", u.type());
  }
  tensor uc = u.contiguous_raw(), rc = delta_raw.contiguous_raw(), ac = A.contiguous_raw(), bc = Bm.contiguous_raw(),
         cc = Cm.contiguous_raw();
  tensor Dc = Dskip.defined() ? Dskip.contiguous_raw() : tensor();
  tensor zc = z.defined() ? z.contiguous_raw() : tensor();
  const dtype ty = u.type();
  const std::int64_t n = u.numel();
  tensor dc = tensor::empty(u.shape(), ty);   // delta = softplus(delta_raw)
  tensor yp = tensor::empty(u.shape(), ty);   // the scan's output before the gate
  tensor y = zc.defined() ? tensor::empty(u.shape(), ty) : yp;
  tensor last, ckpt;
  if (last_state) last = tensor::empty({s.B, s.D, s.N}, ty);
  const bool grad = needs_grad({&u, &delta_raw, &A, &Bm, &Cm, &Dskip, &z});
  if (grad) ckpt = tensor::empty({s.B * ((s.D + kLanes - 1) / kLanes), scan_chunks(s), s.N * kLanes}, ty);
  bool nonpos = false;
  dispatch_float(ty, "selective_scan_gated", [&]<class T>() {
    const T* r = rc.data<T>();
    T* dl = dc.data<T>();
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) dl[i] = detail::softplus_fwd(r[i]);
    nonpos = decays_nonpos(s, dl, ac.data<T>());
    scan_forward<T>(s, uc.data<T>(), dl, ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr, yp.data<T>(),
                    last_state ? last.data<T>() : nullptr, grad ? ckpt.data<T>() : nullptr, nonpos);
    if (zc.defined()) {
      const T* pz = zc.data<T>();
      const T* py = yp.data<T>();
      T* out = y.data<T>();
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) out[i] = py[i] * detail::silu_fwd(pz[i]);  // y * silu(z)
    }
  });
  if (last_state) *last_state = last;
  if (grad) {
    record("selective_scan_gated", y, {u, delta_raw, A, Bm, Cm, Dskip, z},
           [s, uc, rc, dc, ac, bc, cc, Dc, zc, yp = zc.defined() ? yp.detach() : tensor(), ckpt, nonpos, n](const tensor& g_in) {
             tensor g = g_in.contiguous_raw();
             const dtype t = uc.type();
             tensor gu = tensor::empty(uc.shape(), t), gdl = tensor::empty(uc.shape(), t), gA = tensor::zeros(ac.shape(), t),
                    gB = tensor::zeros(bc.shape(), t), gC = tensor::zeros(cc.shape(), t);
             tensor gD = Dc.defined() ? tensor::zeros(Dc.shape(), t) : tensor();
             tensor gz = zc.defined() ? tensor::empty(zc.shape(), t) : tensor();
             tensor gy = zc.defined() ? tensor::empty(uc.shape(), t) : g;
             dispatch_float(t, "selective_scan_gated", [&]<class T>() {
               if (zc.defined()) {
                 // out = y * sz, sz = silu(z): dy = g sz; dz = silu'(z) (g y)   (as mul and silu)
                 const T* pg = g.data<T>();
                 const T* pz = zc.data<T>();
                 const T* py = yp.data<T>();
                 T* pgy = gy.data<T>();
                 T* pgz = gz.data<T>();
#pragma omp simd
                 for (std::int64_t i = 0; i < n; ++i) {
                   pgy[i] = pg[i] * detail::silu_fwd(pz[i]);
                   pgz[i] = detail::silu_bwd(pz[i], pg[i] * py[i]);
                 }
               }
               scan_backward<T>(s, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                                ckpt.data<T>(), gy.data<T>(), gu.data<T>(), gdl.data<T>(), gA.data<T>(), gB.data<T>(), gC.data<T>(),
                                gD.defined() ? gD.data<T>() : nullptr, nonpos);
               // delta = softplus(delta_raw): ddelta_raw = ddelta sigmoid(delta_raw)
               const T* r = rc.data<T>();
               T* pd = gdl.data<T>();
#pragma omp simd
               for (std::int64_t i = 0; i < n; ++i) pd[i] = detail::softplus_bwd(r[i], pd[i]);
             });
             return std::vector<tensor>{gu, gdl, gA, gB, gC, gD, gz};
           });
  }
  return y;
}

tensor selective_scan_reference(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm, const tensor& Cm,
                                const tensor& Dskip) {
  const scan_dims s = check_scan("selective_scan_reference", u, delta, A, Bm, Cm, Dskip);
  const auto uv = u.to_vector(), dv = delta.to_vector(), av = A.to_vector(), bv = Bm.to_vector(), cv = Cm.to_vector();
  const auto Dv = Dskip.defined() ? Dskip.to_vector() : std::vector<double>(static_cast<std::size_t>(s.D), 0.0);
  std::vector<double> y(uv.size());
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t d = 0; d < s.D; ++d) {
      std::vector<double> h(static_cast<std::size_t>(s.N), 0.0);
      for (std::int64_t t = 0; t < s.T; ++t) {
        const auto i = static_cast<std::size_t>((b * s.T + t) * s.D + d);
        double acc = 0;
        for (std::int64_t n = 0; n < s.N; ++n) {
          const auto bn = static_cast<std::size_t>((b * s.T + t) * s.N + n);
          const double abar = std::exp(dv[i] * av[static_cast<std::size_t>(d * s.N + n)]);
          h[static_cast<std::size_t>(n)] = abar * h[static_cast<std::size_t>(n)] + dv[i] * bv[bn] * uv[i];
          acc += cv[bn] * h[static_cast<std::size_t>(n)];
        }
        y[i] = acc + Dv[static_cast<std::size_t>(d)] * uv[i];
      }
    }
  tensor out = tensor::from<double>(u.shape(), std::span<const double>(y));
  return out.to_raw(u.type());
}

tensor selective_scan_step(tensor& state, const tensor& u_t, const tensor& delta_t, const tensor& A, const tensor& Bm_t,
                           const tensor& Cm_t, const tensor& Dskip) {
  LMLAB_CHECK(u_t.dim() == 2 && A.dim() == 2, "selective_scan_step: u_t must be (B, D) and A (D, N), got {} and {}",
              shape_str(u_t.shape()), shape_str(A.shape()));
  const std::int64_t B = u_t.size(0), D = u_t.size(1), N = A.size(1);
  LMLAB_CHECK(state.shape() == (shape_t{B, D, N}), "selective_scan_step: state must be {}, got {}", shape_str({B, D, N}),
              shape_str(state.shape()));
  LMLAB_CHECK(state.is_contiguous(), "selective_scan_step: state must be contiguous");
  LMLAB_CHECK(delta_t.shape() == u_t.shape() && Bm_t.shape() == (shape_t{B, N}) && Cm_t.shape() == (shape_t{B, N}) && A.size(0) == D,
              "selective_scan_step: shapes delta {} B {} C {} A {} do not fit u_t {}", shape_str(delta_t.shape()),
              shape_str(Bm_t.shape()), shape_str(Cm_t.shape()), shape_str(A.shape()), shape_str(u_t.shape()));
  tensor uc = u_t.contiguous_raw(), dc = delta_t.contiguous_raw(), ac = A.contiguous_raw(), bc = Bm_t.contiguous_raw(),
         cc = Cm_t.contiguous_raw();
  tensor Dc = Dskip.defined() ? Dskip.contiguous_raw() : tensor();
  tensor y = tensor::empty({B, D}, u_t.type());
  const scan_dims s{B, 1, D, N};
  dispatch_float(u_t.type(), "selective_scan_step", [&]<class T>() {
    T* h = state.data<T>();
#pragma omp parallel for if (B * D * N > 65536)
    for (std::int64_t b = 0; b < B; ++b)
      scan_step_row(s, b, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                    y.data<T>(), h + b * D * N);
  });
  return y;
}

// ---- causal depthwise conv1d ----

namespace {

struct conv_dims {
  std::int64_t B, T, D, K;
  std::int64_t rs;  // x's row stride: x[b, t, :] starts at (b T + t) rs
};

// y[b,t,:] = bias + sum_k w[:,k] * x[b, t-K+1+k, :]; wt is w transposed to (K, D).
template <class T>
void conv_forward(const conv_dims& s, const T* x, const T* wt, const T* bias, T* y) {
#pragma omp parallel for collapse(2) if (s.B * s.T * s.D > 32768)
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t t = 0; t < s.T; ++t) {
      T* yr = y + (b * s.T + t) * s.D;
      for (std::int64_t d = 0; d < s.D; ++d) yr[d] = bias ? bias[d] : T(0);
      for (std::int64_t k = std::max<std::int64_t>(0, s.K - 1 - t); k < s.K; ++k) {
        const T* xr = x + (b * s.T + t - s.K + 1 + k) * s.rs;
        const T* wk = wt + k * s.D;
#pragma omp simd
        for (std::int64_t d = 0; d < s.D; ++d) yr[d] += wk[d] * xr[d];
      }
    }
}

}  // namespace

tensor causal_conv1d(const tensor& x, const tensor& w, const tensor& bias, tensor* last_state) {
  prof::scope timed(prof::cat::scan);
  LMLAB_CHECK(x.dim() == 3, "causal_conv1d: x must be (B, T, D), got {}", shape_str(x.shape()));
  LMLAB_CHECK(w.dim() == 2 && w.size(0) == x.size(2) && w.size(1) >= 1, "causal_conv1d: w must be ({}, K), got {}", x.size(2),
              shape_str(w.shape()));
  LMLAB_CHECK(w.type() == x.type(), "causal_conv1d: w is {}, x is {}", dtype_name(w.type()), dtype_name(x.type()));
  if (bias.defined())
    LMLAB_CHECK(bias.shape() == shape_t{x.size(2)} && bias.type() == x.type(), "causal_conv1d: bias must be ({}) {}, got {} {}",
                x.size(2), dtype_name(x.type()), shape_str(bias.shape()), dtype_name(bias.type()));
  // x is read in place when its rows are evenly spaced and unit-stride (a column slice of a
  // (B, T, C') tensor, as Mamba's x half of in_proj's output): no (B, T, D) copy.
  const auto& xs = x.strides();
  const bool rows_ok = xs[2] == 1 && xs[0] == x.size(1) * xs[1];
  tensor xc = rows_ok ? x.detach() : x.contiguous_raw();
  const conv_dims s{x.size(0), x.size(1), x.size(2), w.size(1), xc.strides()[1]};
  tensor wt = w.transpose_raw(0, 1).contiguous_raw();  // (K, D)
  tensor bc = bias.defined() ? bias.contiguous_raw() : tensor();
  tensor y = tensor::empty(x.shape(), x.type());
  dispatch_float(x.type(), "causal_conv1d", [&]<class T>() {
    conv_forward<T>(s, xc.data<T>(), wt.data<T>(), bc.defined() ? bc.data<T>() : nullptr, y.data<T>());
  });
  if (last_state) {
    tensor st = tensor::zeros({s.B, s.K - 1, s.D}, x.type());
    for (std::int64_t j = 0; j < s.K - 1; ++j) {
      const std::int64_t t = s.T - (s.K - 1) + j;
      if (t >= 0) st.narrow_raw(1, j, 1).copy_from(xc.narrow_raw(1, t, 1));
    }
    *last_state = st;
  }
  if (needs_grad({&x, &w, &bias})) {
    record("causal_conv1d", y, {x, w, bias}, [s, xc, wt, has_bias = bias.defined()](const tensor& gy_in) {
      tensor gy = gy_in.contiguous_raw();
      const dtype ty = xc.type();
      tensor gx = tensor::empty(xc.shape(), ty), gwt = tensor::zeros({s.K, s.D}, ty);
      tensor gb = has_bias ? tensor::zeros({s.D}, ty) : tensor();
      dispatch_float(ty, "causal_conv1d", [&]<class T>() {
        const T* g = gy.data<T>();
        const T* x = xc.data<T>();
        const T* w = wt.data<T>();
        T* dx = gx.data<T>();
        // dx[b,s,:] = sum_k w[:,k] dy[b, s+K-1-k, :]   (the forward's taps, read backwards)
#pragma omp parallel for collapse(2) if (s.B * s.T * s.D > 32768)
        for (std::int64_t b = 0; b < s.B; ++b)
          for (std::int64_t p = 0; p < s.T; ++p) {
            T* dr = dx + (b * s.T + p) * s.D;
            for (std::int64_t d = 0; d < s.D; ++d) dr[d] = 0;
            for (std::int64_t k = 0; k < s.K; ++k) {
              const std::int64_t t = p + s.K - 1 - k;
              if (t >= s.T) continue;
              const T* gr = g + (b * s.T + t) * s.D;
              const T* wk = w + k * s.D;
#pragma omp simd
              for (std::int64_t d = 0; d < s.D; ++d) dr[d] += wk[d] * gr[d];
            }
          }
        // dw[d,k] = sum_{b,t} dy[b,t,d] x[b,t-K+1+k,d]; dbias = sum dy. Serial over (b,t):
        // O(B T K D) adds, small next to the scan.
        T* dw = gwt.data<T>();
        T* db = has_bias ? gb.data<T>() : nullptr;
        for (std::int64_t b = 0; b < s.B; ++b)
          for (std::int64_t t = 0; t < s.T; ++t) {
            const T* gr = g + (b * s.T + t) * s.D;
            if (db)
              for (std::int64_t d = 0; d < s.D; ++d) db[d] += gr[d];
            for (std::int64_t k = std::max<std::int64_t>(0, s.K - 1 - t); k < s.K; ++k) {
              const T* xr = x + (b * s.T + t - s.K + 1 + k) * s.rs;
              T* dwk = dw + k * s.D;
#pragma omp simd
              for (std::int64_t d = 0; d < s.D; ++d) dwk[d] += gr[d] * xr[d];
            }
          }
      });
      return std::vector<tensor>{gx, gwt.transpose_raw(0, 1).contiguous_raw(), gb};
    });
  }
  return y;
}

tensor causal_conv1d_step(tensor& state, const tensor& x_t, const tensor& w, const tensor& bias) {
  LMLAB_CHECK(x_t.dim() == 2 && w.dim() == 2 && w.size(0) == x_t.size(1), "causal_conv1d_step: x_t (B, D) and w (D, K) expected, got {} and {}",
              shape_str(x_t.shape()), shape_str(w.shape()));
  const std::int64_t B = x_t.size(0), D = x_t.size(1), K = w.size(1);
  LMLAB_CHECK(state.shape() == (shape_t{B, K - 1, D}) && state.is_contiguous(), "causal_conv1d_step: state must be contiguous {}, got {}",
              shape_str({B, K - 1, D}), shape_str(state.shape()));
  tensor xc = x_t.contiguous_raw(), wc = w.contiguous_raw();
  tensor bc = bias.defined() ? bias.contiguous_raw() : tensor();
  tensor y = tensor::empty({B, D}, x_t.type());
  dispatch_float(x_t.type(), "causal_conv1d_step", [&]<class T>() {
    T* st = state.data<T>();
    const T* x = xc.data<T>();
    const T* wv = wc.data<T>();
    T* yv = y.data<T>();
    for (std::int64_t b = 0; b < B; ++b) {
      T* sb = st + b * (K - 1) * D;
      for (std::int64_t d = 0; d < D; ++d) {
        T acc = bc.defined() ? bc.data<T>()[d] : T(0);
        for (std::int64_t k = 0; k < K - 1; ++k) acc += wv[d * K + k] * sb[k * D + d];
        acc += wv[d * K + K - 1] * x[b * D + d];
        yv[b * D + d] = acc;
      }
      // Shift the window: drop the oldest input, append x_t.
      if (K > 1) {
        std::copy(sb + D, sb + (K - 1) * D, sb);
        std::copy(x + b * D, x + (b + 1) * D, sb + (K - 2) * D);
      }
    }
  });
  return y;
}

}  // namespace lmlab
