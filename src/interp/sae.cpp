// Sparse autoencoders and the synthetic benchmark: see sae.hpp.
#include "interp/sae.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "tasks/params.hpp"

namespace lmlab::interp {

namespace {
constexpr enum_name<sae_kind> k_sae_kinds[] = {{sae_kind::l1, "l1"}, {sae_kind::topk, "topk"}, {sae_kind::batchtopk, "batchtopk"}};
}  // namespace

sae_kind parse_sae_kind(const std::string& s) {
  if (const auto k = value_named(k_sae_kinds, s)) return *k;
  throw error(fmt::format("sae: kind '{}' is not known", s), "use l1, topk or batchtopk");
}

const char* sae_kind_name(sae_kind k) { return name_of(k_sae_kinds, k); }

namespace {
// Pre-activations pre (d_sae) of x.
void encode_pre(const sae& s, const double* x, double* pre) {
  const auto D = static_cast<std::size_t>(s.d_in);
  for (std::int64_t j = 0; j < s.d_sae; ++j) {
    double a = s.b_enc[static_cast<std::size_t>(j)];
    const double* w = s.W_enc.data() + static_cast<std::size_t>(j) * D;
    for (std::size_t i = 0; i < D; ++i) a += w[i] * (x[i] - s.b_dec[i]);
    pre[j] = a;
  }
}

// One row's activation at inference (batchtopk: the JumpReLU with its threshold).
void activate(const sae& s, const double* pre, double* f) {
  const auto M = static_cast<std::size_t>(s.d_sae);
  if (s.kind == sae_kind::batchtopk) {
    for (std::size_t j = 0; j < M; ++j) f[j] = pre[j] > s.threshold && pre[j] > 0 ? pre[j] : 0.0;
    return;
  }
  if (s.kind == sae_kind::l1 || s.k >= s.d_sae) {
    for (std::size_t j = 0; j < M; ++j) f[j] = std::max(0.0, pre[j]);
    return;
  }
  // Top k by pre-activation (ties: the lower index), then ReLU.
  std::vector<std::size_t> idx(M);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::partial_sort(idx.begin(), idx.begin() + s.k, idx.end(),
                    [&](std::size_t a, std::size_t b) { return pre[a] != pre[b] ? pre[a] > pre[b] : a < b; });
  std::fill(f, f + M, 0.0);
  for (std::int64_t q = 0; q < s.k; ++q) f[idx[static_cast<std::size_t>(q)]] = std::max(0.0, pre[idx[static_cast<std::size_t>(q)]]);
}
}  // namespace

void sae::pre_activations(const double* x, double* pre) const { encode_pre(*this, x, pre); }

void sae::encode_batch(const double* X, std::int64_t B, double* F) const {
  const auto D = static_cast<std::size_t>(d_in), M = static_cast<std::size_t>(d_sae);
  if (kind != sae_kind::batchtopk) {
    for (std::int64_t b = 0; b < B; ++b) encode(X + static_cast<std::size_t>(b) * D, F + static_cast<std::size_t>(b) * M);
    return;
  }
  // ref: Bussmann et al. 2024 sec. 3: the B k largest pre-activations of the whole batch (ties:
  // the lower flat index), then ReLU.
  const std::size_t n = static_cast<std::size_t>(B) * M;
  std::vector<double> pre(n);
  for (std::int64_t b = 0; b < B; ++b) encode_pre(*this, X + static_cast<std::size_t>(b) * D, pre.data() + static_cast<std::size_t>(b) * M);
  const std::size_t keep = std::min(n, static_cast<std::size_t>(B * k));
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  auto before = [&](std::size_t a, std::size_t c) { return pre[a] != pre[c] ? pre[a] > pre[c] : a < c; };
  if (keep < n) std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(), before);
  std::fill(F, F + n, 0.0);
  for (std::size_t q = 0; q < keep; ++q) F[idx[q]] = std::max(0.0, pre[idx[q]]);
}

void sae::encode(const double* x, double* f) const {
  std::vector<double> pre(static_cast<std::size_t>(d_sae));
  encode_pre(*this, x, pre.data());
  activate(*this, pre.data(), f);
}

void sae::decode(const double* f, double* x_hat) const {
  const auto D = static_cast<std::size_t>(d_in);
  for (std::size_t i = 0; i < D; ++i) x_hat[i] = b_dec[i];
  for (std::int64_t j = 0; j < d_sae; ++j) {
    if (f[j] == 0) continue;
    const double* d = W_dec.data() + static_cast<std::size_t>(j) * D;
    for (std::size_t i = 0; i < D; ++i) x_hat[i] += f[j] * d[i];
  }
}

void sae::normalise_decoder() {
  const auto D = static_cast<std::size_t>(d_in);
  for (std::int64_t j = 0; j < d_sae; ++j) {
    double* d = W_dec.data() + static_cast<std::size_t>(j) * D;
    double n = 0;
    for (std::size_t i = 0; i < D; ++i) n += d[i] * d[i];
    n = std::sqrt(n);
    if (n > 0)
      for (std::size_t i = 0; i < D; ++i) d[i] /= n;
  }
}

double sae_loss(const sae& s, const std::vector<double>& X, std::int64_t B, double l1, std::vector<double>* grad,
                std::vector<double>* codes) {
  const auto D = static_cast<std::size_t>(s.d_in), M = static_cast<std::size_t>(s.d_sae);
  LMLAB_CHECK(X.size() == static_cast<std::size_t>(B) * D && B > 0, "sae: {} values for {} rows of {}", X.size(), B, D);
  const std::size_t n_enc = M * D, off_benc = n_enc, off_dec = off_benc + M, off_bdec = off_dec + M * D;
  if (grad) grad->assign(off_bdec + D, 0.0);
  std::vector<double> F(static_cast<std::size_t>(B) * M), xh(D), e(D), df(M);
  s.encode_batch(X.data(), B, F.data());
  double loss = 0;
  const double inv_b = 1.0 / static_cast<double>(B);
  for (std::int64_t b = 0; b < B; ++b) {
    const double* x = X.data() + static_cast<std::size_t>(b) * D;
    const double* f = F.data() + static_cast<std::size_t>(b) * M;
    s.decode(f, xh.data());
    for (std::size_t i = 0; i < D; ++i) {
      e[i] = xh[i] - x[i];
      loss += e[i] * e[i] * inv_b;
    }
    // The sparsity term with the decoder norms: l1 * sum_j f_j ||d_j|| (the norms are 1 after
    // every step, but the gradient is taken with respect to W_dec as it stands).
    std::vector<double> dnorm(M, 0.0);
    if (s.kind == sae_kind::l1)
      for (std::size_t j = 0; j < M; ++j) {
        const double* d = s.W_dec.data() + j * D;
        double n = 0;
        for (std::size_t i = 0; i < D; ++i) n += d[i] * d[i];
        dnorm[j] = std::sqrt(n);
        loss += l1 * f[j] * dnorm[j] * inv_b;
      }
    if (!grad) continue;
    auto& g = *grad;
    // x_hat = sum_j f_j d_j + b_dec: dL/dx_hat = 2 e / B.
    for (std::size_t i = 0; i < D; ++i) g[off_bdec + i] += 2 * e[i] * inv_b;
    for (std::size_t j = 0; j < M; ++j) {
      df[j] = 0;
      if (f[j] == 0) continue;  // inactive: no path through f_j (ReLU or not in the top k)
      const double* d = s.W_dec.data() + j * D;
      for (std::size_t i = 0; i < D; ++i) {
        df[j] += d[i] * 2 * e[i] * inv_b;
        g[off_dec + j * D + i] += f[j] * 2 * e[i] * inv_b;
      }
      if (s.kind == sae_kind::l1) {
        df[j] += l1 * dnorm[j] * inv_b;
        if (dnorm[j] > 0)
          for (std::size_t i = 0; i < D; ++i) g[off_dec + j * D + i] += l1 * f[j] * d[i] / dnorm[j] * inv_b;
      }
    }
    // f_j = pre_j where active: pre_j = sum_i W_enc[j,i] (x_i - b_dec_i) + b_enc_j.
    for (std::size_t j = 0; j < M; ++j) {
      if (df[j] == 0) continue;
      const double* w = s.W_enc.data() + j * D;
      g[off_benc + j] += df[j];
      for (std::size_t i = 0; i < D; ++i) {
        g[j * D + i] += df[j] * (x[i] - s.b_dec[i]);
        g[off_bdec + i] -= df[j] * w[i];
      }
    }
  }
  if (codes) *codes = std::move(F);
  return loss;
}

namespace {
// Gao et al. sec. 2.1's initialisation: random unit decoder rows, W_enc = W_dec^T, b_dec the
// data mean.
sae init_sae(const std::vector<double>& X, std::int64_t N, const sae_config& c) {
  const auto D = static_cast<std::size_t>(c.d_in), M = static_cast<std::size_t>(c.d_sae);
  sae s;
  s.kind = c.kind;
  s.d_in = c.d_in;
  s.d_sae = c.d_sae;
  s.k = c.k;
  rng init(c.seed, 0x736165ull);
  s.W_dec.resize(M * D);
  for (auto& w : s.W_dec) w = init.normal();
  s.normalise_decoder();
  s.W_enc = s.W_dec;
  s.b_enc.assign(M, 0.0);
  s.b_dec.assign(D, 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < D; ++i) s.b_dec[i] += X[static_cast<std::size_t>(n) * D + i] / static_cast<double>(N);
  return s;
}

// The AuxK term of one step (Gao et al. sec. A.2): adds aux_coef x its gradient to g, with
// E = x - x_hat from the step's codes held fixed. Returns the auxiliary loss (0: no dead latent).
double add_aux(const sae& s, const std::vector<double>& batch, std::int64_t B, const std::vector<double>& F,
               const std::vector<std::uint8_t>& dead, const sae_config& c, std::vector<double>& g) {
  if (std::find(dead.begin(), dead.end(), std::uint8_t{1}) == dead.end()) return 0.0;
  const auto D = static_cast<std::size_t>(s.d_in), M = static_cast<std::size_t>(s.d_sae);
  std::vector<double> E(batch.size()), xh(D), ga;
  for (std::int64_t b = 0; b < B; ++b) {
    s.decode(F.data() + static_cast<std::size_t>(b) * M, xh.data());
    for (std::size_t i = 0; i < D; ++i) E[static_cast<std::size_t>(b) * D + i] = batch[static_cast<std::size_t>(b) * D + i] - xh[i];
  }
  const std::int64_t k_aux = c.k_aux > 0 ? c.k_aux : std::max<std::int64_t>(1, c.d_in / 2);
  const double aux = sae_aux_loss(s, batch, E, B, dead, k_aux, &ga);
  for (std::size_t p = 0; p < g.size(); ++p) g[p] += c.aux_coef * ga[p];
  return aux;
}
}  // namespace

sae train_sae(const std::vector<double>& X, std::int64_t N, const sae_config& c) {
  LMLAB_CHECK(c.d_in >= 1 && c.d_sae >= 1, "sae: d_in {} and d_sae {} must be positive", c.d_in, c.d_sae);
  LMLAB_CHECK(N >= 1 && X.size() == static_cast<std::size_t>(N * c.d_in), "sae: {} values for {} rows of {}", X.size(), N, c.d_in);
  LMLAB_CHECK(c.kind == sae_kind::l1 || (c.k >= 1 && c.k <= c.d_sae), "sae: k = {} must lie in [1, d_sae = {}]", c.k, c.d_sae);
  LMLAB_CHECK(c.steps >= 1 && c.batch >= 1 && c.lr > 0, "sae: steps, batch and lr must be positive");
  LMLAB_CHECK(c.aux_coef >= 0 && c.dead_steps >= 1, "sae: aux_coef {} must be >= 0 and dead_steps {} >= 1", c.aux_coef, c.dead_steps);
  const auto D = static_cast<std::size_t>(c.d_in), M = static_cast<std::size_t>(c.d_sae);
  sae s = init_sae(X, N, c);
  const std::size_t P = 2 * M * D + M + D;
  std::vector<double> mo(P, 0.0), v(P, 0.0), g, F, batch(static_cast<std::size_t>(c.batch) * D);
  std::vector<std::int64_t> last_fired(M, 0);
  std::vector<std::uint8_t> dead(M, 0);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  rng draw(c.seed, 0x62617463ull);
  double* const blocks[4] = {s.W_enc.data(), s.b_enc.data(), s.W_dec.data(), s.b_dec.data()};
  const std::size_t sizes[4] = {M * D, M, M * D, D};
  bool have_threshold = false;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    for (std::int64_t b = 0; b < c.batch; ++b) {
      const auto row = static_cast<std::size_t>(draw.below(static_cast<std::uint64_t>(N)));
      std::copy_n(X.begin() + static_cast<std::ptrdiff_t>(row * D), D, batch.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(b) * D));
    }
    sae_loss(s, batch, c.batch, c.kind == sae_kind::l1 ? c.l1 : 0.0, &g, &F);
    if (c.aux_coef > 0) {
      for (std::size_t j = 0; j < M; ++j) dead[j] = step - last_fired[j] > c.dead_steps;
      add_aux(s, batch, c.batch, F, dead, c, g);
    }
    double min_kept = INFINITY;
    for (std::size_t q = 0; q < F.size(); ++q)
      if (F[q] > 0) last_fired[q % M] = step, min_kept = std::min(min_kept, F[q]);
    // ref: Bussmann et al. sec. 3: theta estimated from the smallest kept activation per batch.
    if (c.kind == sae_kind::batchtopk && std::isfinite(min_kept)) {
      s.threshold = have_threshold ? 0.99 * s.threshold + 0.01 * min_kept : min_kept;
      have_threshold = true;
    }
    const double c1 = 1 - std::pow(b1, static_cast<double>(step)), c2 = 1 - std::pow(b2, static_cast<double>(step));
    for (std::size_t blk = 0, p = 0; blk < 4; ++blk)
      for (std::size_t q = 0; q < sizes[blk]; ++q, ++p) {
        mo[p] = b1 * mo[p] + (1 - b1) * g[p];
        v[p] = b2 * v[p] + (1 - b2) * g[p] * g[p];
        blocks[blk][q] -= c.lr * (mo[p] / c1) / (std::sqrt(v[p] / c2) + eps);
      }
    s.normalise_decoder();
  }
  return s;
}

sae_metrics evaluate_sae(const sae& s, const std::vector<double>& X, std::int64_t N) {
  const auto D = static_cast<std::size_t>(s.d_in), M = static_cast<std::size_t>(s.d_sae);
  LMLAB_CHECK(N >= 1 && X.size() == static_cast<std::size_t>(N) * D, "sae: {} values for {} rows of {}", X.size(), N, D);
  std::vector<double> mean(D, 0.0), f(M), xh(D);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::size_t i = 0; i < D; ++i) mean[i] += X[static_cast<std::size_t>(n) * D + i] / static_cast<double>(N);
  std::vector<std::uint8_t> fired(M, 0);
  double active = 0, err = 0, var = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    const double* x = X.data() + static_cast<std::size_t>(n) * D;
    s.encode(x, f.data());
    s.decode(f.data(), xh.data());
    for (std::size_t j = 0; j < M; ++j)
      if (f[j] > 0) ++active, fired[j] = 1;
    for (std::size_t i = 0; i < D; ++i) {
      err += (xh[i] - x[i]) * (xh[i] - x[i]);
      var += (x[i] - mean[i]) * (x[i] - mean[i]);
    }
  }
  sae_metrics m;
  m.l0 = active / static_cast<double>(N);
  m.mse = err / static_cast<double>(N * s.d_in);
  m.explained_variance = var > 0 ? 1 - err / var : 0.0;
  m.dead_fraction = 1 - static_cast<double>(std::count(fired.begin(), fired.end(), 1)) / static_cast<double>(M);
  return m;
}

double ce_loss_score(double ce_clean, double ce_sae, double ce_ablation) {
  const double gap = ce_ablation - ce_clean;
  return gap == 0 ? NAN : (ce_ablation - ce_sae) / gap;
}

synthetic_data make_synthetic(const synthetic_config& c) {
  LMLAB_CHECK(c.n_features >= 1 && c.d >= 1, "sae synthetic: n_features {} and d {} must be positive", c.n_features, c.d);
  LMLAB_CHECK(c.mean_active > 0 && c.mean_active <= static_cast<double>(c.n_features),
              "sae synthetic: mean_active {} must lie in (0, n_features]", c.mean_active);
  synthetic_data s;
  s.n = c.n_features;
  s.d = c.d;
  rng r(c.seed, 0x67656eull);
  s.G.resize(static_cast<std::size_t>(s.n * s.d));
  for (auto& g : s.G) g = r.normal();
  for (std::int64_t i = 0; i < s.n; ++i) {
    double n = 0;
    for (std::int64_t k = 0; k < s.d; ++k) n += s.G[static_cast<std::size_t>(i * s.d + k)] * s.G[static_cast<std::size_t>(i * s.d + k)];
    for (std::int64_t k = 0; k < s.d; ++k) s.G[static_cast<std::size_t>(i * s.d + k)] /= std::sqrt(n);
  }
  s.p.resize(static_cast<std::size_t>(s.n));
  double z = 0;
  for (std::int64_t i = 0; i < s.n; ++i) z += std::pow(static_cast<double>(i + 1), -c.skew);
  for (std::int64_t i = 0; i < s.n; ++i)
    s.p[static_cast<std::size_t>(i)] = std::min(1.0, c.mean_active * std::pow(static_cast<double>(i + 1), -c.skew) / z);
  return s;
}

void sample_synthetic(const synthetic_data& s, std::int64_t N, rng& r, std::vector<double>& X, std::vector<std::uint8_t>& active) {
  X.assign(static_cast<std::size_t>(N * s.d), 0.0);
  active.assign(static_cast<std::size_t>(N * s.n), 0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < s.n; ++i) {
      if (r.uniform() >= s.p[static_cast<std::size_t>(i)]) continue;
      const double a = r.uniform();
      active[static_cast<std::size_t>(n * s.n + i)] = 1;
      for (std::int64_t k = 0; k < s.d; ++k)
        X[static_cast<std::size_t>(n * s.d + k)] += a * s.G[static_cast<std::size_t>(i * s.d + k)];
    }
}

recovery recover_features(const sae& s, const synthetic_data& truth, const std::vector<double>& X,
                          const std::vector<std::uint8_t>& active, std::int64_t N) {
  LMLAB_CHECK(truth.d == s.d_in, "sae recovery: features of dimension {} for an SAE on {}", truth.d, s.d_in);
  const auto n = static_cast<std::size_t>(truth.n), M = static_cast<std::size_t>(s.d_sae), D = static_cast<std::size_t>(s.d_in);
  std::vector<double> cos(n * M);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < M; ++j) {
      double c = 0;
      for (std::size_t k = 0; k < D; ++k) c += truth.G[i * D + k] * s.W_dec[j * D + k];  // both unit-norm
      cos[i * M + j] = c;
    }
  recovery r;
  for (std::size_t i = 0; i < n; ++i) r.mmcs += *std::max_element(cos.begin() + static_cast<std::ptrdiff_t>(i * M),
                                                                  cos.begin() + static_cast<std::ptrdiff_t>((i + 1) * M)) /
                                                static_cast<double>(n);
  // Greedy one-to-one matching, best pairs first (features beyond d_sae stay unmatched, cos 0).
  std::vector<std::size_t> order(n * M);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cos[a] != cos[b] ? cos[a] > cos[b] : a < b; });
  r.match.assign(n, -1);
  r.matched_cosine.assign(n, 0.0);
  std::vector<std::uint8_t> used(M, 0);
  for (std::size_t q : order) {
    const std::size_t i = q / M, j = q % M;
    if (r.match[i] >= 0 || used[j]) continue;
    r.match[i] = static_cast<std::int64_t>(j);
    r.matched_cosine[i] = cos[q];
    used[j] = 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    r.mcc += r.matched_cosine[i] / static_cast<double>(n);
    r.recovered += (r.matched_cosine[i] >= 0.9 ? 1.0 : 0.0) / static_cast<double>(n);
  }
  // Precision / recall of each matched latent as a detector of its feature.
  std::vector<double> both(n, 0), lat(n, 0), feat(n, 0), f(M);
  for (std::int64_t row = 0; row < N; ++row) {
    s.encode(X.data() + static_cast<std::size_t>(row) * D, f.data());
    for (std::size_t i = 0; i < n; ++i) {
      if (r.match[i] < 0) continue;
      const bool on = f[static_cast<std::size_t>(r.match[i])] > 0, is = active[static_cast<std::size_t>(row) * n + i] != 0;
      both[i] += on && is;
      lat[i] += on;
      feat[i] += is;
    }
  }
  double np = 0, nr = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (lat[i] > 0) r.precision += both[i] / lat[i], ++np;
    if (feat[i] > 0) r.recall += both[i] / feat[i], ++nr;
  }
  r.precision = np > 0 ? r.precision / np : 0.0;
  r.recall = nr > 0 ? r.recall / nr : 0.0;
  return r;
}

const tasks::param_table<sae_task>& sae_params() {
  static const auto t = tasks::param_table<sae_task>("sae_synthetic")
        .add("n_features", &sae_task::n_features, "planted feature directions", 1, 1 << 16)
        .add("d", &sae_task::d, "dimensions they are packed into", 1, 1 << 16)
        .add("mean_active", &sae_task::mean_active, "expected active features per sample", 1e-6, 1e6)
        .add("skew", &sae_task::skew, "frequency skew: p_i proportional to (i + 1)^-skew", 0, 10)
        .add("kind", &sae_task::kind, "SAE kind", -INFINITY, INFINITY, {"l1", "topk", "batchtopk"})
        .add("d_sae", &sae_task::d_sae, "latents", 1, 1 << 16)
        .add("k", &sae_task::k, "active latents (topk; batchtopk on average)", 1, 1 << 16)
        .add("l1", &sae_task::l1, "L1 coefficient (l1)", 0, 1e6)
        .add("steps", &sae_task::steps, "Adam steps", 1, 1e7)
        .add("batch", &sae_task::batch, "samples per step", 1, 1 << 20)
        .add("lr", &sae_task::lr, "Adam learning rate", 1e-8, 10)
        .add("train_samples", &sae_task::train_samples, "training samples (drawn once)", 1, 1e8)
        .add("eval_samples", &sae_task::eval_samples, "held-out samples for the metrics", 1, 1e8);
  return t;
}

void check(const sae_task& t) {
  if (t.kind != "l1" && t.k > t.d_sae) throw tasks::param_error("k", fmt::format("sae_synthetic: k = {} exceeds d_sae = {}", t.k, t.d_sae));
  if (t.mean_active > static_cast<double>(t.n_features))
    throw tasks::param_error("mean_active", fmt::format("sae_synthetic: mean_active {} exceeds n_features {}", t.mean_active, t.n_features));
}

sae_benchmark run_sae_benchmark(const sae_task& t, std::uint64_t seed) {
  synthetic_config sc;
  sc.n_features = t.n_features;
  sc.d = t.d;
  sc.mean_active = t.mean_active;
  sc.skew = t.skew;
  sc.seed = seed;
  const synthetic_data truth = make_synthetic(sc);
  rng r(seed, 0x73616d70ull);
  std::vector<double> X, Xt;
  std::vector<std::uint8_t> act, actt;
  sample_synthetic(truth, t.train_samples, r, X, act);
  sample_synthetic(truth, t.eval_samples, r, Xt, actt);
  sae_config c;
  c.kind = parse_sae_kind(t.kind);
  c.d_in = t.d;
  c.d_sae = t.d_sae;
  c.k = t.k;
  c.l1 = t.l1;
  c.steps = t.steps;
  c.batch = t.batch;
  c.lr = t.lr;
  c.seed = seed;
  const sae s = train_sae(X, t.train_samples, c);
  return {evaluate_sae(s, Xt, t.eval_samples), recover_features(s, truth, Xt, actt, t.eval_samples)};
}

}  // namespace lmlab::interp
