// Synthetic verifiable data: chained two-digit arithmetic problems with step-by-step solutions,
// a verifier that checks every step, and the token form the lab's small models read and write.
// A problem is a start value and k operations (+ or −) whose running total stays within
// 0..max_value (at most 99); numbers are always two digits, so every solution step is 9 tokens:
//   problem 12 + 07 − 03, solution 12+07=19; 19−03=16; #16
//   Inputs:  <bos> 1 2 + 0 7 - 0 3 = 1 2 + 0 7 = 1 9 ; 1 9 - 0 3 = 1 6 ; # 1 6
//   Labels:  -100 ... (prompt)  -100 1 2 + 0 7 = 1 9 ; 1 9 - 0 3 = 1 6 ; # 1 6 <eos>
// The verifier (verify_solution) reads a solution's tokens and checks that it has one step per
// operation, that step i starts from the previous step's result (the first from the start
// value), applies the problem's i-th operation and operand, and computes it correctly, and that
// the final answer is the last result. A solution can reach the right answer with a wrong step
// (two errors that cancel) or be well-formed and wrong; both are told apart.
// Not for: training or sampling (synth_runner.cpp), the word-problem task (tasks/word_problems.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace lmlab::datalab {

struct chain_problem {
  int start = 0;
  std::vector<char> ops;   // '+' or '-'
  std::vector<int> operands;
  int answer() const;      // the exact running total after every operation
};

// k operations; the start value in 0..max_value, each operation + or − (uniform among those
// possible) with an operand in 1..max_value that keeps the running total in 0..max_value.
// max_value <= 99 (two-digit numbers); 9 makes every number one digit (written 00..09).
chain_problem sample_chain_problem(int k, rng& g, int max_value = 99);
// A stable 64-bit key of the problem (held-out partitions, deduplication).
std::uint64_t problem_key(const chain_problem& p);

// Tokens: ids 0-9 are the digits, then these.
namespace chain_tok {
inline constexpr std::int32_t plus = 10, minus = 11, eq = 12, semi = 13, hash = 14, bos = 15, eos = 16, pad = 17;
inline constexpr std::int32_t vocab = 18;
}  // namespace chain_tok
std::string chain_token_text(std::int32_t id);  // for messages and docs

// <bos> start (op operand)... =
std::vector<std::int32_t> problem_tokens(const chain_problem& p);
// The gold step-by-step solution, ending with <eos>.
std::vector<std::int32_t> gold_solution(const chain_problem& p);
// The solution in which step `step` writes `value` (0..99) as its result and every other step
// computes from what the step before it wrote (wrapped into 0..99); step −1: the gold solution.
std::vector<std::int32_t> solution_with_result(const chain_problem& p, int step, int value);
// A solution with only the final answer ("#16 <eos>"), for an answer-only baseline.
std::vector<std::int32_t> answer_only_solution(const chain_problem& p);

struct verdict {
  bool well_formed = false;   // k steps of "dd o dd = dd ;" then "# dd" (then <eos> or the end)
  int valid_steps = 0;        // leading steps that check out
  bool all_steps_valid = false;
  bool answer_correct = false;  // the final "# dd" equals the true answer (parsed even when steps are wrong)
  bool verified() const { return well_formed && all_steps_valid && answer_correct; }
};
// The final answer where "# d d" first appears in `solution` (nothing when no digits follow it):
// a malformed solution can still be scored on its answer, as an answer-only checker would.
std::optional<int> final_answer(std::span<const std::int32_t> solution);
// Reads `solution` (the tokens after the problem's "=", possibly ending in <eos>).
verdict verify_solution(const chain_problem& p, std::span<const std::int32_t> solution);

}  // namespace lmlab::datalab
