// The sweep grammar shared by every numeric flag and spec value (llama-bench's, extended to
// floats): a comma-separated list of items, each a value or a range.
//   "64,128,256"        -> 64 128 256
//   "256-4096*2"        -> 256 512 1024 2048 4096      (geometric: multiply by 2)
//   "64-256+64"         -> 64 128 192 256              (arithmetic: add 64)
//   "1e19-1e25*10"      -> 1e19 1e20 ... 1e25          ("1e-3" is a number, not a range)
//   "128k", "2.5M", "1G" -> suffixes k/M/G/T multiply by 1e3.. (or 2^10.. when binary=true)
// Ranges include their end point when a step lands on it (within 1e-9 relative).
// String-valued lists ("llava-1.6,internvl") are split by split_list; they have no ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

struct sweep_options {
  bool binary_suffix = false;     // k = 1024 instead of 1000
  std::size_t max_points = 100000;  // guards "1-1e12+1"
};

// Parses a sweep; `what` names the flag or key in error messages ("--compute", "d_model").
std::vector<double> parse_sweep(std::string_view text, std::string_view what, sweep_options opt = {});

// As parse_sweep, but every value must be an integer (error names `what` otherwise).
std::vector<std::int64_t> parse_sweep_int(std::string_view text, std::string_view what, sweep_options opt = {});

// One number with an optional k/M/G/T suffix; error names `what`.
double parse_quantity(std::string_view text, std::string_view what, bool binary_suffix = false);

// The non-empty comma-separated items of a string list, untrimmed: "a,,b," -> a b.
std::vector<std::string> split_list(std::string_view text);

}  // namespace lmlab
