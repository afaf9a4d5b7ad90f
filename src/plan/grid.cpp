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

std::vector<double> count_axis(std::string_view text, std::string_view what, double min, double max, bool binary_suffix) {
  std::vector<double> v = sweep_axis(text, what, false, binary_suffix);
  for (double x : v) {
    LMLAB_CHECK_HINT(x == std::floor(x), "this flag takes whole numbers", "{}: {} is not a whole number", what, x);
    LMLAB_CHECK_HINT(x >= min && x <= max, fmt::format("this flag takes whole numbers from {:.0f} to {:.0f}", min, max),
                     "{}: {} is out of range [{:.0f}, {:.0f}]", what, x, min, max);
  }
  return v;
}

namespace {
double the_one(const std::vector<double>& v, std::string_view text, std::string_view what) {
  LMLAB_CHECK_HINT(v.size() == 1, "this flag is not a sweep; run the command once per value",
                   "{}: takes one value, got {} ('{}')", what, v.size(), text);
  return v[0];
}
}  // namespace

double single_value(std::string_view text, std::string_view what, bool positive) {
  return the_one(sweep_axis(text, what, positive), text, what);
}

double single_count(std::string_view text, std::string_view what, double min, double max) {
  return the_one(count_axis(text, what, min, max), text, what);
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
