// Sweep axes and their product: see grid.hpp.
#include "plan/grid.hpp"

#include <cmath>

#include "core/error.hpp"

namespace lmlab::plan {

std::vector<double> sweep_axis(std::string_view text, std::string_view what, bool positive, bool binary_suffix) {
  sweep_options opt;
  opt.binary_suffix = binary_suffix;
  std::vector<double> v = parse_sweep(text, what, opt);
  for (double x : v) {
    LMLAB_CHECK_HINT(std::isfinite(x), "give a finite number", "{}: value {} is not finite", what, x);
    if (positive)
      LMLAB_CHECK_HINT(x > 0, "every value of this flag must be greater than zero", "{}: value {} must be > 0", what,
                       x);
  }
  return v;
}

std::vector<std::vector<double>> cartesian(const std::vector<std::vector<double>>& axes) {
  std::vector<std::vector<double>> out{{}};
  for (const auto& axis : axes) {
    std::vector<std::vector<double>> next;
    next.reserve(out.size() * axis.size());
    for (const auto& prefix : out)
      for (double x : axis) {
        auto p = prefix;
        p.push_back(x);
        next.push_back(std::move(p));
      }
    out = std::move(next);
  }
  return out;
}

}  // namespace lmlab::plan
