// Finite-difference gradient checking: see gradcheck.hpp.
#include "autograd/gradcheck.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"

namespace lmlab {

namespace {
double weighted_sum(const tensor& y, const std::vector<double>& r) {
  auto v = y.to_vector();
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) s += r[i] * v[i];
  return s;
}
}  // namespace

gradcheck_result gradcheck(const std::function<tensor(const std::vector<tensor>&)>& f, std::vector<tensor> inputs,
                           const gradcheck_options& opt) {
  auto skipped = [&](std::size_t i) {
    return std::find(opt.skip_inputs.begin(), opt.skip_inputs.end(), i) != opt.skip_inputs.end();
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (skipped(i)) continue;
    LMLAB_CHECK(inputs[i].type() == dtype::f64, "gradcheck: input {} is {}, expected f64", i, dtype_name(inputs[i].type()));
    inputs[i] = inputs[i].clone_raw();
    inputs[i].set_requires_grad(true);
  }
  tensor y = f(inputs);
  rng g(opt.seed);
  std::vector<double> r(static_cast<std::size_t>(y.numel()));
  for (auto& x : r) x = g.uniform() * 2.0 - 1.0;
  tensor rt = tensor::from<double>(y.shape(), std::span<const double>(r));
  backward(y, rt);

  gradcheck_result res;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (skipped(i)) continue;
    tensor analytic = inputs[i].grad();
    std::vector<double> an = analytic.defined() ? analytic.to_vector() : std::vector<double>(static_cast<std::size_t>(inputs[i].numel()), 0.0);
    double* p = inputs[i].data<double>();
    double worst = -1;
    std::string worst_msg;
    bool bad = false;
    no_grad ng;
    for (std::int64_t e = 0; e < inputs[i].numel(); ++e) {
      const double x0 = p[e];
      if (opt.is_kink && opt.is_kink(i, e, x0)) continue;
      p[e] = x0 + opt.eps;
      const double lp = weighted_sum(f(inputs), r);
      p[e] = x0 - opt.eps;
      const double lm = weighted_sum(f(inputs), r);
      p[e] = x0;
      const double num = (lp - lm) / (2 * opt.eps);
      const double a = an[static_cast<std::size_t>(e)];
      const double err = std::abs(a - num);
      const double excess = err - (opt.atol + opt.rtol * std::abs(num));
      res.max_abs_err = std::max(res.max_abs_err, err);
      if (excess > worst) {
        worst = excess;
        worst_msg = fmt::format("input {} element {}: analytic {:.10g}, numeric {:.10g}, |diff| {:.3g}", i, e, a, num, err);
      }
      if (excess > 0 || std::isnan(a)) bad = true;
    }
    if (bad) res.ok = false;
    if (!worst_msg.empty()) res.report += (bad ? "FAIL " : "ok   ") + worst_msg + "\n";
  }
  return res;
}

}  // namespace lmlab
