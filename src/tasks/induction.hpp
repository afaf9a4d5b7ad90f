// Induction heads (Olsson et al. 2022, "In-context learning and induction heads"; the
// synthetic form of Fu et al. 2023 "Hungry Hungry Hippos" §3.1 and Gu & Dao 2023 "Mamba"
// §4.1.2): a random token string contains the trigger `*` once, followed by some token b;
// the string ends with `*` again and the model must predict b, i.e. "find the previous
// occurrence of the current token and copy what came after it". Only the last position is
// supervised. Content tokens are a..z (then t26, ...); `*` never appears elsewhere.
//
// induction_config{.vocab_size = 6, .seq_len = 10}, seed 0, train[0]:
//   Inputs: c * e d f c e a a *
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 e
//
// Not for: measuring induction heads inside a trained model (hooks/, analysis/).
#pragma once

#include <cstdint>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct induction_config {
  std::int64_t vocab_size = 16;  // content tokens
  std::int64_t seq_len = 64;     // input length, final `*` included
  std::int64_t num_train = 1000;
  std::int64_t num_test = 200;              // per test length
  std::vector<std::int64_t> test_seq_lens;  // empty: seq_len only
};

const param_table<induction_config>& induction_params();
dataset build(const induction_config& c, std::uint64_t seed);

}  // namespace lmlab::tasks
