// Inference-aware sizing and cost: see inference.hpp.
#include "plan/inference.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace lmlab::plan {

double tokens_for_loss(const loss_fit& f, double n, double loss) {
  const double gap = loss - f.E - f.A / std::pow(n, f.alpha);
  if (gap <= 0) return std::numeric_limits<double>::infinity();
  return std::pow(f.B / gap, 1.0 / f.beta);  // ref: Sardana & Frankle 2023, solving eq. (2) for D
}

namespace {

lifetime_plan make_plan(const loss_fit& f, double n, double loss, double dinf) {
  lifetime_plan p;
  p.n = n;
  p.d_train = tokens_for_loss(f, n, loss);
  p.train_flops = 6.0 * n * p.d_train;      // ref: Kaplan et al. 2020, C ≈ 6ND
  p.inference_flops = 2.0 * n * dinf;       // ref: Kaplan et al. 2020, forward ≈ 2N per token
  p.total_flops = p.train_flops + p.inference_flops;
  return p;
}

lifetime_plan minimise(const loss_fit& f, double loss, double dinf) {
  LMLAB_CHECK_HINT(std::isfinite(loss) && loss > f.E, fmt::format("the fit's irreducible loss is E = {}", f.E),
                   "--loss: target {} is not above the irreducible loss {} of fit '{}'", loss, f.E, f.name);
  LMLAB_CHECK_HINT(dinf >= 0, "lifetime inference tokens, e.g. 1e12", "--inference-tokens: {} must be >= 0", dinf);
  // Smallest N that can reach the loss at all: A/N^alpha < loss - E.
  const double n_min = std::pow(f.A / (loss - f.E), 1.0 / f.alpha);
  auto obj = [&](double logn) { return make_plan(f, std::exp(logn), loss, dinf).total_flops; };
  double lo = std::log(n_min) + 1e-9, hi = std::log(n_min) + std::log(1e8);
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo), f1 = obj(x1), f2 = obj(x2);
  for (int it = 0; it < 400 && hi - lo > 1e-12; ++it) {
    if (f1 < f2) {
      hi = x2, x2 = x1, f2 = f1, x1 = hi - phi * (hi - lo), f1 = obj(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2, x2 = lo + phi * (hi - lo), f2 = obj(x2);
    }
  }
  return make_plan(f, std::exp(0.5 * (lo + hi)), loss, dinf);
}

}  // namespace

lifetime_plan inference_optimal(const loss_fit& f, double loss, double dinf) { return minimise(f, loss, dinf); }

lifetime_plan chinchilla_at_loss(const loss_fit& f, double loss, double dinf) {
  const lifetime_plan train_only = minimise(f, loss, 0.0);
  return make_plan(f, train_only.n, loss, dinf);
}

cost cost_of(const lifetime_plan& p, const cost_options& o) {
  LMLAB_CHECK_HINT(o.peak_flops > 0, "pick --hardware or give --peak-flops", "tco: peak FLOP/s must be > 0");
  LMLAB_CHECK_HINT(o.train_mfu > 0 && o.train_mfu <= 1, "a fraction such as 0.4", "--mfu: {} must be in (0, 1]", o.train_mfu);
  LMLAB_CHECK_HINT(o.serve_utilization > 0 && o.serve_utilization <= 1, "a fraction such as 0.2",
                   "--utilization: {} must be in (0, 1]", o.serve_utilization);
  cost c;
  c.train_hours = p.train_flops / (o.peak_flops * o.train_mfu) / 3600.0;
  c.inference_hours = p.inference_flops / (o.peak_flops * o.serve_utilization) / 3600.0;
  c.train_dollars = c.train_hours * o.price_per_hour;
  c.inference_dollars = c.inference_hours * o.price_per_hour;
  c.total_dollars = c.train_dollars + c.inference_dollars;
  return c;
}

}  // namespace lmlab::plan
