// Curves shared by the alignment runners: see curves.hpp.
#include "align/curves.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/stats.hpp"
#include "core/error.hpp"

namespace lmlab::align {

rm_train_config rm_train_from(const nlohmann::json& train) {
  rm_train_config c;
  c.steps = train.value("steps", c.steps);
  c.batch = train.value("batch_size", c.batch);
  c.lr = train.value("lr", c.lr);
  c.weight_decay = train.value("weight_decay", c.weight_decay);
  c.grad_clip = train.value("grad_clip", c.grad_clip);
  return c;
}

void log_fit(const sink& out, const fit_result& f, const std::function<fit_result(std::span<const double>)>& refit,
             std::size_t n_prompts, std::int64_t resamples, std::uint64_t seed) {
  std::vector<double> idx(n_prompts);
  std::iota(idx.begin(), idx.end(), 0.0);
  analysis::bootstrap_options bo;
  bo.resamples = static_cast<std::size_t>(resamples);
  bo.seed = seed;
  const auto a = analysis::bootstrap_ci(idx, [&](std::span<const double> s) { return refit(s).alpha; }, bo);
  const auto b = analysis::bootstrap_ci(idx, [&](std::span<const double> s) { return refit(s).beta; }, bo);
  out.metric("alpha", f.alpha);
  out.metric("alpha_lo", a.lo);
  out.metric("alpha_hi", a.hi);
  out.metric("beta", f.beta);
  out.metric("beta_lo", b.lo);
  out.metric("beta_hi", b.hi);
  out.metric("fit_r2", f.r2);
  out.say(fmt::format("fit alpha {:.3f} [{:.3f}, {:.3f}], beta {:.3f} [{:.3f}, {:.3f}], R^2 {:.3f}", f.alpha, a.lo, a.hi,
                      f.beta, b.lo, b.hi, f.r2));
}

void log_curve_summary(const sink& out, const std::vector<double>& d, const std::vector<double>& gold,
                       const std::vector<double>& proxy, std::size_t small_index) {
  const std::size_t peak = static_cast<std::size_t>(std::max_element(gold.begin(), gold.end()) - gold.begin());
  out.metric("gold_ref", gold.front());
  out.metric("gold_peak", gold[peak]);
  out.metric("d_peak", d[peak]);
  out.metric("gold_final", gold.back());
  out.metric("d_final", d.back());
  out.metric("gold_drop", gold[peak] - gold.back());
  out.metric("gold_gain_small", gold[small_index] - gold.front());
  out.metric("gold_gain_peak", gold[peak] - gold.front());
  out.metric("gap_growth", (proxy.back() - proxy.front()) - (gold.back() - gold.front()));
}

std::vector<double> bon_sweep(const sink& out, const std::vector<pool>& pools, const std::vector<sample_values>& extras,
                              std::int64_t resamples, std::uint64_t seed) {
  LMLAB_CHECK(!pools.empty(), "align: best-of-n sweep: no pools");
  const auto N = static_cast<std::int64_t>(pools[0].gold.size());
  LMLAB_CHECK(N >= 2 && (N & (N - 1)) == 0, "align: best-of-n sweep: the pool size {} is not a power of 2", N);
  const auto P = static_cast<std::int64_t>(pools.size());
  std::vector<double> d, gold, proxy;
  std::vector<std::vector<double>> by_prompt;  // [k][p]: prompt p's E[gold] under best-of-ns[k]
  for (std::int64_t n = 1; n <= N; n *= 2) {
    std::vector<double> g;
    double pr = 0, kls = 0;
    std::vector<double> ex(extras.size(), 0.0);
    for (std::size_t p = 0; p < pools.size(); ++p) {
      g.push_back(bon_expected(pools[p], n, pools[p].gold));
      pr += bon_expected(pools[p], n, pools[p].proxy);
      kls += bon_kl_sampled(pools[p], n);
      for (std::size_t e = 0; e < extras.size(); ++e) ex[e] += bon_expected(pools[p], n, extras[e].second[p]);
    }
    const double Pd = static_cast<double>(P);
    d.push_back(std::sqrt(bon_kl(n)));
    gold.push_back(std::accumulate(g.begin(), g.end(), 0.0) / Pd);
    proxy.push_back(pr / Pd);
    by_prompt.push_back(std::move(g));
    const std::string slice = fmt::format("n={}", n);
    out.eval(slice, "gold", gold.back(), P);
    out.eval(slice, "proxy", proxy.back(), P);
    std::string line;
    for (std::size_t e = 0; e < extras.size(); ++e) {
      out.eval(slice, extras[e].first, ex[e] / Pd, P);
      line += fmt::format(", {} {:.3f}", extras[e].first, ex[e] / Pd);
    }
    out.eval(slice, "kl", bon_kl(n), P);
    out.eval(slice, "kl_sampled", kls / Pd, P);
    out.eval(slice, "d", d.back(), P);
    out.eval(slice, "difficulty", static_cast<double>(n), P);
    out.say(fmt::format("best-of-{}: KL {:.3f} (sampled {:.3f}), gold {:.3f}, proxy {:.3f}{}", n, bon_kl(n), kls / Pd,
                        gold.back(), proxy.back(), line));
  }
  // R = gold(n) - gold(1) against d, on the prompts given (bootstrap resamples of indices).
  auto refit = [&](std::span<const double> prompt_idx) {
    std::vector<double> rr;
    for (const auto& g : by_prompt) {
      double s = 0;
      for (const double p : prompt_idx) s += g[static_cast<std::size_t>(p)] - by_prompt[0][static_cast<std::size_t>(p)];
      rr.push_back(s / static_cast<double>(prompt_idx.size()));
    }
    return fit_bon(d, rr);
  };
  std::vector<double> all(pools.size());
  std::iota(all.begin(), all.end(), 0.0);
  const fit_result f = refit(all);
  log_fit(out, f, refit, pools.size(), resamples, seed);
  if (f.ok && f.beta > 0) {
    out.metric("d_peak_fit", f.alpha / (2 * f.beta));  // argmax of d (alpha - beta d)
    out.metric("gold_gain_peak_fit", f.alpha * f.alpha / (4 * f.beta));
  }
  log_curve_summary(out, d, gold, proxy, std::min<std::size_t>(2, d.size() - 1));
  return gold;
}

}  // namespace lmlab::align
