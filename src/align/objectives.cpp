// Objectives and closed forms: see objectives.hpp.
#include "align/objectives.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "ops/ops.hpp"

namespace lmlab::align {

tensor bt_loss(const tensor& r_chosen, const tensor& r_rejected) {
  LMLAB_CHECK(r_chosen.shape() == r_rejected.shape() && r_chosen.dim() == 1,
              "align: bt_loss: rewards must be (B) and equal, got {} and {}", shape_str(r_chosen.shape()),
              shape_str(r_rejected.shape()));
  // ref: Ouyang et al. 2022 eq. 1: -log sigmoid(r_w - r_l) = softplus(r_l - r_w).
  return mean(softplus(sub(r_rejected, r_chosen)));
}

tensor dpo_loss(const tensor& pi_w, const tensor& pi_l, const tensor& ref_w, const tensor& ref_l, double beta) {
  LMLAB_CHECK(beta > 0, "align: dpo_loss: beta must be > 0, got {}", beta);
  LMLAB_CHECK(pi_w.dim() == 1 && pi_w.shape() == pi_l.shape() && pi_w.shape() == ref_w.shape() && pi_w.shape() == ref_l.shape(),
              "align: dpo_loss: log-probabilities must be four (B) tensors");
  // ref: Rafailov et al. 2023 eq. 7: -log sigmoid(beta (h_w - h_l)), h = log pi - log pi_ref;
  // -log sigmoid(z) = softplus(-z).
  tensor margin = sub(sub(pi_w, ref_w), sub(pi_l, ref_l));
  return mean(softplus(mul_scalar(margin, -beta)));
}

std::vector<double> combine_ensemble(const std::vector<std::vector<double>>& scores, const std::string& rule, double lambda) {
  LMLAB_CHECK(!scores.empty(), "align: combine_ensemble: no members");
  LMLAB_CHECK(rule == "mean" || rule == "worst" || rule == "uncertainty",
              "align: combine_ensemble: unknown rule '{}' (mean, worst, uncertainty)", rule);
  const std::size_t M = scores.size(), N = scores[0].size();
  for (const auto& m : scores) LMLAB_CHECK(m.size() == N, "align: combine_ensemble: members score {} and {} samples", N, m.size());
  std::vector<double> out(N);
  for (std::size_t i = 0; i < N; ++i) {
    double mu = 0, lo = INFINITY;
    for (std::size_t m = 0; m < M; ++m) {
      mu += scores[m][i];
      lo = std::min(lo, scores[m][i]);
    }
    mu /= static_cast<double>(M);
    double var = 0;
    for (std::size_t m = 0; m < M; ++m) var += (scores[m][i] - mu) * (scores[m][i] - mu);
    var /= static_cast<double>(M);
    out[i] = rule == "worst" ? lo : rule == "uncertainty" ? mu - lambda * var : mu;
  }
  return out;
}

double bon_kl(std::int64_t n) {
  LMLAB_CHECK(n >= 1, "align: bon_kl: n must be >= 1, got {}", n);
  const double x = static_cast<double>(n);
  return std::log(x) - (x - 1) / x;
}

namespace {
// Pool indices sorted by proxy ascending (ties by index: a fixed order).
std::vector<std::size_t> by_proxy(const pool& p) {
  std::vector<std::size_t> idx(p.proxy.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return p.proxy[a] < p.proxy[b]; });
  return idx;
}
double log_choose(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }
void check_pool(const pool& p, std::int64_t n) {
  LMLAB_CHECK(!p.proxy.empty() && p.proxy.size() == p.gold.size(), "align: pool: {} proxy and {} gold rewards",
              p.proxy.size(), p.gold.size());
  LMLAB_CHECK(n >= 1 && n <= static_cast<std::int64_t>(p.proxy.size()), "align: best-of-{} needs a pool of at least {}, have {}",
              n, n, p.proxy.size());
}
}  // namespace

double bon_expected(const pool& p, std::int64_t n, std::span<const double> values) {
  check_pool(p, n);
  LMLAB_CHECK(values.size() == p.proxy.size(), "align: bon_expected: {} values for a pool of {}", values.size(), p.proxy.size());
  const auto idx = by_proxy(p);
  const double N = static_cast<double>(idx.size()), k = static_cast<double>(n);
  const double denom = log_choose(N, k);
  double e = 0;
  for (std::size_t r = static_cast<std::size_t>(n - 1); r < idx.size(); ++r) {  // 0-based rank r: i = r + 1
    const double w = std::exp(log_choose(static_cast<double>(r), k - 1) - denom);
    e += w * values[idx[r]];
  }
  return e;
}

double bon_kl_sampled(const pool& p, std::int64_t n) {
  check_pool(p, n);
  LMLAB_CHECK(p.response_id.size() == p.proxy.size(), "align: bon_kl_sampled: the pool needs a response id per sample");
  // Distinct responses with their empirical mass, ordered by proxy reward.
  std::map<std::int64_t, std::pair<double, double>> distinct;  // id -> (proxy, count)
  for (std::size_t i = 0; i < p.proxy.size(); ++i) {
    auto& e = distinct[p.response_id[i]];
    e.first = p.proxy[i];
    e.second += 1;
  }
  std::vector<std::pair<double, double>> v;
  for (const auto& [id, e] : distinct) v.push_back(e);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const double N = static_cast<double>(p.proxy.size()), k = static_cast<double>(n);
  double F = 0, kl = 0;
  for (std::size_t j = 0; j < v.size();) {
    // Responses with an equal proxy reward form one level of the CDF: best-of-n lands on the
    // level with probability F_hi^n - F_lo^n and picks inside it in proportion to mass.
    std::size_t e = j;
    double mass = 0;
    while (e < v.size() && v[e].first == v[j].first) mass += v[e++].second / N;
    const double level = std::pow(std::min(1.0, F + mass), k) - std::pow(F, k);
    for (std::size_t q = j; q < e; ++q) {
      const double pref = v[q].second / N, pbon = level * pref / mass;
      if (pbon > 0) kl += pbon * std::log(pbon / pref);
    }
    F += mass;
    j = e;
  }
  return kl;
}

namespace {
// Least squares through the origin on two features: min sum (r - a f1 - b f2)^2.
fit_result fit2(std::span<const double> f1, std::span<const double> f2, std::span<const double> r, bool negate_b) {
  double s11 = 0, s12 = 0, s22 = 0, s1r = 0, s2r = 0, srr = 0, mr = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    s11 += f1[i] * f1[i];
    s12 += f1[i] * f2[i];
    s22 += f2[i] * f2[i];
    s1r += f1[i] * r[i];
    s2r += f2[i] * r[i];
    mr += r[i];
  }
  fit_result out;
  const double det = s11 * s22 - s12 * s12;
  if (r.size() < 2 || !(std::abs(det) > 1e-12 * std::max(1.0, s11 * s22))) return out;
  const double a = (s1r * s22 - s2r * s12) / det, b = (s2r * s11 - s1r * s12) / det;
  out.alpha = a;
  out.beta = negate_b ? -b : b;
  mr /= static_cast<double>(r.size());
  double ss_res = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const double e = r[i] - a * f1[i] - b * f2[i];
    ss_res += e * e;
    srr += (r[i] - mr) * (r[i] - mr);
  }
  out.r2 = srr > 0 ? 1 - ss_res / srr : 0;
  out.ok = true;
  return out;
}
}  // namespace

fit_result fit_bon(std::span<const double> d, std::span<const double> r) {
  LMLAB_CHECK(d.size() == r.size(), "align: fit_bon: {} d values, {} rewards", d.size(), r.size());
  std::vector<double> d2(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) d2[i] = d[i] * d[i];
  // ref: Gao et al. 2022 sec. 1: R_bon(d) = alpha d - beta d^2.
  return fit2(d, d2, r, true);
}

fit_result fit_rl(std::span<const double> d, std::span<const double> r) {
  LMLAB_CHECK(d.size() == r.size(), "align: fit_rl: {} d values, {} rewards", d.size(), r.size());
  std::vector<double> dl(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    LMLAB_CHECK(d[i] > 0, "align: fit_rl: d must be > 0, got {}", d[i]);
    dl[i] = d[i] * std::log(d[i]);
  }
  // ref: Gao et al. 2022 sec. 1: R_RL(d) = alpha d - beta d log d.
  return fit2(d, dl, r, true);
}

}  // namespace lmlab::align
