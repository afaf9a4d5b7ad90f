// Token streams for training tests: short arithmetic runs mod 17 from an LCG, learnable in a
// few steps (the loss falls), the same for the same salt. Shared by test_train and test_dp.
#pragma once

#include <cstdint>
#include <vector>

namespace lmlab::test_data {

inline std::vector<std::int32_t> synthetic_tokens(std::size_t n, std::uint32_t salt) {
  std::vector<std::int32_t> v;
  std::uint32_t x = salt;
  while (v.size() < n) {
    x = x * 1664525u + 1013904223u;
    const int start = static_cast<int>(x >> 28), stride = 1 + static_cast<int>((x >> 20) % 3);
    for (int k = 0; k < 12 && v.size() < n; ++k) v.push_back((start + k * stride) % 17);
  }
  return v;
}

}  // namespace lmlab::test_data
