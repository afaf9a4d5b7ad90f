// Test helper shared by the golden tests in tests/golden: compares a tensor from lmlab with
// the PyTorch reference as |a - b| <= atol + rtol |b| for every element (shared/STYLE.md #3),
// reports the worst element as a test failure, and prints each max |a - b| when
// LMLAB_GOLDEN_VERBOSE is set (how the tolerances in each test were measured).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/tensor.hpp"

namespace lmlab::testing {

// Returns true when within tolerance.
inline bool golden_close(const std::string& what, const tensor& a, const tensor& b, double atol, double rtol) {
  if (a.shape() != b.shape()) {
    ADD_FAILURE() << what << ": shape " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
    return false;
  }
  compare_result r = compare(a, b, atol, rtol);
  if (std::getenv("LMLAB_GOLDEN_VERBOSE")) std::printf("%-50s max|a-b| %.3g\n", what.c_str(), r.max_abs_diff);
  if (!r.ok)
    ADD_FAILURE() << what << ": worst element " << r.worst_index << ": lmlab " << r.worst_a << " vs torch " << r.worst_b
                  << " (exceeds atol " << atol << " + rtol " << rtol << "*|b| by " << r.worst_excess
                  << "; max |a-b| " << r.max_abs_diff << ")";
  return r.ok;
}

}  // namespace lmlab::testing
