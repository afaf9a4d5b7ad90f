// Gradient checking: compares an op's analytic backward with central finite differences in
// f64 (llama.cpp's test-backend-ops and flashlight's shared Jacobian helper, in one function).
// The output is reduced to a scalar with fixed random weights r, L = sum(r * f(x)), so every
// output element's gradient path is exercised; dL/dx is compared element by element.
// Not for: f32 checks (finite differences are too noisy there).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

struct gradcheck_options {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  std::uint64_t seed = 1234;
  // Inputs (by index) that get no gradient check (integer ids, masks).
  std::vector<std::size_t> skip_inputs;
  // An element whose finite difference crosses a kink (|x| < kink_width around a point
  // the op declares, e.g. relu at 0) is skipped.
  std::function<bool(std::size_t input, std::int64_t element, double value)> is_kink;
};

struct gradcheck_result {
  bool ok = true;
  std::string report;  // the worst element per input: index, analytic, numeric
  double max_abs_err = 0;
};

// `f` must build its graph from `inputs` (f64 leaves with requires_grad set by gradcheck).
gradcheck_result gradcheck(const std::function<tensor(const std::vector<tensor>&)>& f, std::vector<tensor> inputs,
                           const gradcheck_options& opt = {});

}  // namespace lmlab
