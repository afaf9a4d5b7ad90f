// Group baseline and PPO-clip: see ppo.hpp.
#include "align/ppo.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "ops/ops.hpp"

namespace lmlab::align {

std::vector<double> group_advantages(std::span<const double> reward, std::int64_t group) {
  LMLAB_CHECK(group >= 2 && reward.size() % static_cast<std::size_t>(group) == 0,
              "align: group_advantages: {} rewards do not split into groups of {} (>= 2)", reward.size(), group);
  const std::size_t G = static_cast<std::size_t>(group);
  std::vector<double> adv(reward.size());
  for (std::size_t p = 0; p < reward.size(); p += G) {
    double tot = 0;
    for (std::size_t j = 0; j < G; ++j) tot += reward[p + j];
    // ref: Kool et al. 2019, "Buy 4 REINFORCE samples, get a baseline for free": the baseline
    // of sample j is the mean reward of the group's other samples.
    for (std::size_t j = 0; j < G; ++j) adv[p + j] = reward[p + j] - (tot - reward[p + j]) / static_cast<double>(G - 1);
  }
  return adv;
}

namespace {
// Whether sample i's min picks the clipped term strictly (then it carries no gradient).
bool clipped(double ratio, double a, double eps) {
  return (a > 0 && ratio > 1 + eps) || (a < 0 && ratio < 1 - eps);
}
}  // namespace

tensor ppo_clip_loss(const tensor& logp_new, const tensor& logp_old, std::span<const double> adv, double eps) {
  LMLAB_CHECK(eps > 0, "align: ppo_clip_loss: eps must be > 0, got {}", eps);
  LMLAB_CHECK(logp_new.dim() == 1 && logp_new.shape() == logp_old.shape() && static_cast<std::size_t>(logp_new.numel()) == adv.size(),
              "align: ppo_clip_loss: log-probabilities must be two (B) tensors and adv B values, got {}, {} and {}",
              shape_str(logp_new.shape()), shape_str(logp_old.shape()), adv.size());
  const auto nv = logp_new.to_vector(), ov = logp_old.to_vector();
  const std::size_t B = adv.size();
  // ref: Schulman et al. 2017 eq. 7: min(r A, clip(r, 1-eps, 1+eps) A). Where the clipped term
  // is the min it is a constant in the parameters, so the loss is written as
  // sum_i (m_i A_i) r_i + sum_i (1 - m_i) clip(r_i) A_i, m_i = 1 where the unclipped term is the
  // min: the same value, and autograd sees only the first sum.
  std::vector<double> coef(B), konst(B);
  for (std::size_t i = 0; i < B; ++i) {
    const double r = std::exp(nv[i] - ov[i]);
    const bool c = clipped(r, adv[i], eps);
    coef[i] = c ? 0.0 : adv[i];
    konst[i] = c ? std::clamp(r, 1 - eps, 1 + eps) * adv[i] : 0.0;
  }
  tensor ratio = exp(sub(logp_new, logp_old.detach()));
  tensor cf, kt;
  dispatch_float(logp_new.type(), "align: ppo_clip_loss", [&]<class F>() {
    std::vector<F> a(coef.begin(), coef.end()), k(konst.begin(), konst.end());
    cf = tensor::from<F>({static_cast<std::int64_t>(B)}, std::span<const F>(a));
    kt = tensor::from<F>({static_cast<std::int64_t>(B)}, std::span<const F>(k));
  });
  return neg(mean(add(mul(ratio, cf), kt)));
}

double ppo_clip_fraction(std::span<const double> logp_new, std::span<const double> logp_old, std::span<const double> adv,
                         double eps) {
  LMLAB_CHECK(logp_new.size() == logp_old.size() && logp_new.size() == adv.size() && !adv.empty(),
              "align: ppo_clip_fraction: {} new, {} old log-probabilities, {} advantages", logp_new.size(), logp_old.size(),
              adv.size());
  double n = 0;
  for (std::size_t i = 0; i < adv.size(); ++i) n += clipped(std::exp(logp_new[i] - logp_old[i]), adv[i], eps) ? 1 : 0;
  return n / static_cast<double>(adv.size());
}

}  // namespace lmlab::align
