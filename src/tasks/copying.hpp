// Copying and selective copying, the two memory probes of the state-space-model literature.
//  - copy: reproduce a random string after a separator (the length axis makes it the
//    standard length-extrapolation probe for positional encodings).
//  - selective copy (Gu & Dao 2023, "Mamba", §3.1 and Fig. 2; after Arjovsky et al. 2016):
//    num_tokens content tokens are scattered, in order, among noise tokens `.` over seq_len
//    positions; after <sep> the model writes the content tokens in order. Solving it needs
//    content-dependent (selective) memory, not just a fixed time offset.
// Content tokens are named a..z (then t26, t27, ...); specials are <pad> <bos> <sep> <eos> and `.`.
//
// copy_config{.vocab_size = 8, .min_len = 4, .max_len = 4}, seed 0, train[0]:
//   Inputs: <bos> d h f e <sep> d h f e
//   Labels: -100 -100 -100 -100 -100 d h f e <eos>
// selective_copy_config{.vocab_size = 8, .seq_len = 8, .num_tokens = 3}, seed 0, train[0]:
//   Inputs: <bos> . . . e . h . c <sep> e h c
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 e h c <eos>
//
// Not for: natural-text copying (data/).
#pragma once

#include <cstdint>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct copy_config {
  std::int64_t vocab_size = 16;  // content tokens
  std::int64_t min_len = 1;
  std::int64_t max_len = 16;
  std::int64_t num_train = 1000;
  std::int64_t num_test = 200;             // per test length (or total when test_lengths is empty)
  std::vector<std::int64_t> test_lengths;  // empty: test lengths drawn like train
};

struct selective_copy_config {
  std::int64_t vocab_size = 16;  // content tokens
  std::int64_t seq_len = 64;     // positions holding content + noise
  std::int64_t num_tokens = 8;   // content tokens to copy
  std::int64_t num_train = 1000;
  std::int64_t num_test = 200;              // per test length
  std::vector<std::int64_t> test_seq_lens;  // empty: seq_len only
};

const param_table<copy_config>& copy_params();
const param_table<selective_copy_config>& selective_copy_params();
void check(const copy_config& c);
void check(const selective_copy_config& c);
dataset build(const copy_config& c, std::uint64_t seed);
dataset build(const selective_copy_config& c, std::uint64_t seed);

// Content token name for index i (a..z, then t26, ...); shared with induction.
std::string content_token_name(std::int64_t i);

}  // namespace lmlab::tasks
