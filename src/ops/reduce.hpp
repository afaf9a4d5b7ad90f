// Reductions with autograd.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

tensor sum(const tensor& x);                                                  // all -> scalar
tensor mean(const tensor& x);                                                 // all -> scalar
tensor sum(const tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
tensor mean(const tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
tensor amax(const tensor& x, std::int64_t dim, bool keepdim = false);  // gradient to the first max

}  // namespace lmlab
