// Cartesian product of sweep axes: every numeric flag of `lmlab plan` accepts the sweep grammar
// (core/sweep.hpp), and a verb prints one row per point of the product of its axes.
// Not for: parsing the sweeps themselves (core/sweep.hpp does that).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/sweep.hpp"

namespace lmlab::plan {

// Values of one axis, parsed from a flag's text; `what` names the flag in errors.
// `positive` rejects zero and negative values with an error naming the flag.
std::vector<double> sweep_axis(std::string_view text, std::string_view what, bool positive = true,
                               bool binary_suffix = false);

// All points of the product, first axis slowest: {{1,2},{10,20}} -> (1,10) (1,20) (2,10) (2,20).
std::vector<std::vector<double>> cartesian(const std::vector<std::vector<double>>& axes);

}  // namespace lmlab::plan
