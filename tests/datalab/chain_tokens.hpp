// Test helper shared by the chain suites (test_synth.cpp, test_chain_verifier.cpp): hand-written
// chain problems and solution tokens. Not for: library code.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "datalab/synth_verify.hpp"

namespace lmlab::testing {

inline datalab::chain_problem chain(int start, std::vector<char> ops, std::vector<int> operands) {
  datalab::chain_problem p;
  p.start = start;
  p.ops = std::move(ops);
  p.operands = std::move(operands);
  return p;
}
// One written step "a op b = r ;".
inline std::vector<std::int32_t> step(int a, char op, int b, int r) {
  namespace tk = datalab::chain_tok;
  return {a / 10, a % 10, op == '+' ? tk::plus : tk::minus, b / 10, b % 10, tk::eq, r / 10, r % 10, tk::semi};
}
inline std::vector<std::int32_t> cat(std::initializer_list<std::vector<std::int32_t>> parts) {
  std::vector<std::int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
// "# r <eos>"
inline std::vector<std::int32_t> final_answer(int r) {
  namespace tk = datalab::chain_tok;
  return {tk::hash, r / 10, r % 10, tk::eos};
}

}  // namespace lmlab::testing
