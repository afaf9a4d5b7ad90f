// Multi-query associative recall (MQAR; Arora, Eyuboglu et al. 2023, "Zoology: Measuring and
// improving recall in efficient language models", §3), with zoology's generator layout:
// keys come from the lower half of the vocabulary [1, V/2) and values from the upper half
// [V/2, V), all distinct within an example; the key-value pairs are written first
// (k v k v ...), then each key is queried once at position 2·kv + 2·gap, with the gaps drawn
// without replacement from a power law p(i) ∝ a·i^(a-1), i = 1..space (short gaps likely).
// The target at a query position is the key's value; nothing else is supervised. Filler
// positions hold 0, or, with random_non_queries, a uniform token from [0, V).
//
// mqar_config{.vocab_size = 20, .seq_len = 16, .num_kv_pairs = 2, .random_non_queries = false},
// seed 0, train[0] (token names: k<id> below V/2, v<id> above; k0 is the filler):
//   Inputs: k4 v17 k8 v16 k0 k0 k0 k0 k4 k0 k8 k0 k0 k0 k0 k0
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 v17 -100 v16 -100 -100 -100 -100 -100
//
// Not for: the multi-pass (JRT) or compositional variants of zoology.
#pragma once

#include <cstdint>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct mqar_config {
  std::int64_t vocab_size = 8192;
  std::int64_t seq_len = 64;
  std::int64_t num_kv_pairs = 8;
  double power_a = 0.01;  // 1.0 = uniform gaps
  bool random_non_queries = true;
  std::int64_t num_train = 1000;
  std::int64_t num_test = 200;
  std::vector<std::int64_t> test_num_kv_pairs;  // test slices; empty: num_kv_pairs only
};

const param_table<mqar_config>& mqar_params();
void check(const mqar_config& c);  // cross-field constraints; param_error names the key
dataset build(const mqar_config& c, std::uint64_t seed);

}  // namespace lmlab::tasks
