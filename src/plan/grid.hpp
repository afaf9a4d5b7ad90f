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

// As sweep_axis, for a flag that counts something (tokens, devices, degrees): every value must
// be a whole number in [min, max] (the table prints it as an integer, and 1e19 must not wrap).
inline constexpr double kMaxCount = 9007199254740992.0;  // 2^53: every integer up to it is a double
inline constexpr double kMaxDegree = 2147483647.0;       // parallel degrees and device counts are ints
std::vector<double> count_axis(std::string_view text, std::string_view what, double min = 1, double max = kMaxCount,
                               bool binary_suffix = false);

// A flag that is not a sweep: exactly one value (a list is an error, never silently cut to its
// first item). single_count also checks it as count_axis does.
double single_value(std::string_view text, std::string_view what, bool positive = true);
double single_count(std::string_view text, std::string_view what, double min = 1, double max = kMaxCount);

// All points of the product, first axis slowest: {{1,2},{10,20}} -> (1,10) (1,20) (2,10) (2,20).
std::vector<std::vector<double>> cartesian(const std::vector<std::vector<double>>& axes);

}  // namespace lmlab::plan
