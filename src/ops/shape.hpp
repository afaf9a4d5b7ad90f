// Differentiable views and copies: reshape, transpose, narrow, cat, ...
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

tensor reshape(const tensor& x, const shape_t& shape);          // view when contiguous, else copy
tensor transpose(const tensor& x, std::int64_t d0, std::int64_t d1);  // view
tensor permute(const tensor& x, const std::vector<std::int64_t>& dims);
tensor contiguous(const tensor& x);
tensor narrow(const tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length);  // view
tensor cat(const std::vector<tensor>& xs, std::int64_t dim);
tensor unsqueeze(const tensor& x, std::int64_t dim);
tensor squeeze(const tensor& x, std::int64_t dim);
// Broadcasts x to `shape` (a copy); gradient sums back.
tensor expand(const tensor& x, const shape_t& shape);

}  // namespace lmlab
