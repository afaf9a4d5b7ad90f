// Key-value retrieval with the relevant pair at every position: the synthetic task of Liu et al.
// 2023 ("Lost in the Middle: How Language Models Use Long Contexts", §3 key-value retrieval:
// a JSON object of UUID key-value pairs, then a key; the model answers its value), at lab
// scale: single-token keys and values. The context holds `num_pairs` pairs with distinct keys;
// the query key is one of them. Training draws the queried position uniformly; the test set has
// `num_test` examples for every position, so accuracy per position is the paper's curve.
//
// `lmlab lab task kv_position --set num_pairs=3 --set num_keys=8 --set num_values=8`, train[0]:
//   Inputs: <bos> k7 v7 k6 v2 k5 v5 ? k6 v2
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 v2 -100      (only the value is scored)
// Slices: edge/first (position 0), edge/last (position num_pairs - 1), mid/pos=NN (the rest);
// difficulty = position / (num_pairs - 1), so slice plots draw the position curve.
// Counts: train = num_train, test = num_pairs · num_test.
//
// Not for: recall inside training data (kb.hpp), MQAR's many queries (tasks/mqar.hpp).
#pragma once

#include <cstdint>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::knowledge {

struct kv_position_config {
  std::int64_t num_pairs = 8;
  std::int64_t num_keys = 32;
  std::int64_t num_values = 32;
  std::int64_t num_train = 5000;
  std::int64_t num_test = 50;  // per position
};

const tasks::param_table<kv_position_config>& kv_position_params();
void check(const kv_position_config& c);
tasks::dataset build(const kv_position_config& c, std::uint64_t seed);

}  // namespace lmlab::knowledge
