// Elementwise ops with NumPy/PyTorch broadcasting, and activations.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab {

// Broadcasting binary ops: shapes align from the right; a dim of 1 broadcasts.
// The gradient of a broadcast input is summed over the broadcast dims.
tensor add(const tensor& a, const tensor& b);
tensor sub(const tensor& a, const tensor& b);
tensor mul(const tensor& a, const tensor& b);
tensor div(const tensor& a, const tensor& b);

tensor add_scalar(const tensor& x, double s);
tensor mul_scalar(const tensor& x, double s);
tensor neg(const tensor& x);
tensor exp(const tensor& x);
tensor log(const tensor& x);
tensor sqrt(const tensor& x);
tensor tanh(const tensor& x);
tensor sigmoid(const tensor& x);
tensor pow_scalar(const tensor& x, double p);
tensor relu(const tensor& x);
tensor silu(const tensor& x);       // x * sigmoid(x)
tensor softplus(const tensor& x);   // log(1 + e^x), stable; PyTorch's threshold 20
enum class gelu_approx { none, tanh };
tensor gelu(const tensor& x, gelu_approx approx = gelu_approx::none);  // PyTorch F.gelu

// Inverted dropout: keeps each element with probability 1-p and scales by 1/(1-p). The mask
// for element i is a pure function of (seed, offset + i) (Philox), so it does not depend on
// threads. Identity when p == 0 or !training.
tensor dropout(const tensor& x, double p, bool training, std::uint64_t seed, std::uint64_t offset = 0);

}  // namespace lmlab
