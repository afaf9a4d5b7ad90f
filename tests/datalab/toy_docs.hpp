// Test helper of the datalab suites: the toy corpus that the n-gram and the neural collapse
// tests both train on. Not for: library code.
#pragma once

#include <string>
#include <vector>

namespace lmlab::testing {

// n documents of 200 words from w0..w59, with a skewed, position-dependent distribution;
// `offset` shifts which documents are drawn (real vs held-out text).
inline std::vector<std::string> toy_docs(int n, int offset) {
  std::vector<std::string> docs;
  for (int d = 0; d < n; ++d) {
    std::string t;
    for (int i = 0; i < 200; ++i) {
      const int k = ((d + offset) * 7 + i * i) % 60;
      t += "w" + std::to_string(k % (1 + (i % 12) * 5)) + " ";
    }
    docs.push_back(t);
  }
  return docs;
}

}  // namespace lmlab::testing
