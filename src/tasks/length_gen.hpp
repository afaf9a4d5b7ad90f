// The length-generalisation protocol: train on lengths <= L, evaluate at 1x, 2x, ..., up to
// max_multiple x L, accuracy per length slice ("x1" .. "x8", difficulty = the length). It
// wraps a task that has a length axis:
//   copy            string length: train 1..L, test exactly k·L
//   selective_copy  context positions: train L, test k·L
//   induction       sequence length: train L, test k·L (Mamba §4.1.2 trains at 256 and
//                   tests up to 2^20)
//   arithmetic      operand digits: train 1..L (held-out items form x1), test exactly k·L
//
// length_gen_config{.task = "copy", .train_max = 2, .max_multiple = 2, .vocab_size = 4}, seed 0,
// test[0] (slice x1):
//   Inputs: <bos> c c <sep> c c
//   Labels: -100 -100 -100 c c <eos>
//
// Not for: position-encoding choices (models/) or the plots (report/).
#pragma once

#include <cstdint>
#include <string>

#include "core/table.hpp"
#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct length_gen_config {
  std::string task = "copy";  // copy | selective_copy | induction | arithmetic
  std::int64_t train_max = 16;
  std::int64_t max_multiple = 8;
  std::int64_t vocab_size = 16;  // content tokens (copy, selective_copy, induction)
  std::int64_t num_tokens = 4;   // selective_copy: tokens to copy
  std::string op = "add";        // arithmetic
  std::int64_t base = 10;        // arithmetic
  std::int64_t num_train = 1000;
  std::int64_t num_test = 100;  // per evaluated length
};

const param_table<length_gen_config>& length_gen_params();
void check(const length_gen_config& c);
dataset build(const length_gen_config& c, std::uint64_t seed);

// Per-slice accuracy as a table (slice, length or difficulty, n, correct, accuracy), for `-o`.
lmlab::table slice_table(const std::vector<slice_accuracy>& slices, const std::string& difficulty_name = "difficulty");

}  // namespace lmlab::tasks
