// Matrix products with autograd.
#pragma once

#include "core/tensor.hpp"

namespace lmlab {

// a (..., M, K) @ b (K, N) -> (..., M, N); or batched a (B..., M, K) @ b (B..., K, N) with
// equal batch dims -> (B..., M, N).
tensor matmul(const tensor& a, const tensor& b);

// PyTorch's F.linear: x (..., in) @ w (out, in)^T + b (out) -> (..., out). b may be undefined.
// One GEMM forward, two in backward (dx = dy w, dw = dy^T x), db = sum of dy over rows.
tensor linear(const tensor& x, const tensor& w, const tensor& b = {});

}  // namespace lmlab
