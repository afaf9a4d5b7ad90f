// Parameter initialisation from Philox streams: the value of element i of a parameter is a
// pure function of (seed, stream, i), so a model initialises identically on any thread count
// and independently of the order in which other parameters are drawn.
// Not for: loading weights (nn/safetensors.hpp).
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab::nn {

// Fills `t` (f32 or f64, contiguous) with N(mean, std^2) draws from Philox stream (seed, stream).
void init_normal(const tensor& t, double mean, double std, std::uint64_t seed, std::uint64_t stream);
// Fills with U[lo, hi).
void init_uniform(const tensor& t, double lo, double hi, std::uint64_t seed, std::uint64_t stream);

// A stable stream id for a parameter path (FNV-1a 64), so renaming or adding a parameter does
// not reshuffle the others' initial values.
std::uint64_t stream_of(const std::string& path);

}  // namespace lmlab::nn
