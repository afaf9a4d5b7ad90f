// Helpers the zoo model tests share (test_zoo.cpp, test_zoo_step.cpp): a tiny config, fixed
// token ids, the worst difference of two tensors, and step-mode logits stacked like a forward.
// Not for: library code (tests only).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "models/lm.hpp"
#include "../lm_test_config.hpp"

namespace lmlab::zoo_test {

// Every mixer at toy size: vocab 13, d_model 16, 2 heads, n_ctx 12, one block per letter.
inline models::lm_config tiny(const std::string& pattern = "A") {
  models::lm_config c = lmlab::testing::small_lm(13, 16, pattern, 2, 12);
  c.d_state = 4;
  c.d_mlp = 24;
  return c;
}

// (B, T) int32 ids in [0, V), a fixed function of the position and `salt`.
inline tensor ids_of(std::int64_t B, std::int64_t T, std::int32_t V, int salt = 0) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(B * T));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>((i * 7 + 3 + salt * 5 + i * i) % V);
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

// Worst |a - b| over two tensors of one shape.
inline double max_diff(const tensor& a, const tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Step-mode logits at every position, stacked as (B, T, V).
inline tensor step_logits(models::lm& m, const tensor& ids) {
  const std::int64_t B = ids.size(0), T = ids.size(1), V = m.vocab_size();
  auto st = m.new_state(B);
  tensor out = tensor::zeros({B, T, V});
  for (std::int64_t t = 0; t < T; ++t) {
    tensor l = m.step(*st, ids.narrow_raw(1, t, 1).contiguous_raw().view_raw({B}));
    out.narrow_raw(1, t, 1).copy_from(l.view_raw({B, 1, V}));
  }
  return out;
}

}  // namespace lmlab::zoo_test
