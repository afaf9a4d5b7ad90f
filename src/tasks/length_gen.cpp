// Length-generalisation protocol: see length_gen.hpp.
#include "tasks/length_gen.hpp"

#include <cmath>

#include "tasks/arithmetic.hpp"
#include "tasks/copying.hpp"
#include "tasks/induction.hpp"

namespace lmlab::tasks {

const param_table<length_gen_config>& length_gen_params() {
  static const param_table<length_gen_config> t = param_table<length_gen_config>("length_gen")
      .add("task", &length_gen_config::task, "wrapped task", -INFINITY, INFINITY,
        {"copy", "selective_copy", "induction", "arithmetic"})
      .add("train_max", &length_gen_config::train_max, "L: the longest training length", 1, 1 << 20)
      .add("max_multiple", &length_gen_config::max_multiple, "evaluate at 1x..max_multiple x L", 1, 64)
      .add("vocab_size", &length_gen_config::vocab_size, "content tokens", 2, 1 << 20)
      .add("num_tokens", &length_gen_config::num_tokens, "selective_copy: tokens to copy", 1, 1 << 20)
      .add("op", &length_gen_config::op, "arithmetic operation", -INFINITY, INFINITY, {"add", "mul"})
      .add("base", &length_gen_config::base, "arithmetic base", 2, 36)
      .add_sizes("test examples per length");
  return t;
}

void check(const length_gen_config& c) {
  if (c.task == "induction" && c.train_max < 3)
    throw param_error("train_max", fmt::format("length_gen: train_max: induction needs at least 3, got {}", c.train_max));
  if (c.task == "selective_copy" && c.num_tokens > c.train_max)
    throw param_error("num_tokens", fmt::format("length_gen: num_tokens: {} exceeds train_max {}", c.num_tokens,
                                                c.train_max));
}

dataset build(const length_gen_config& c, std::uint64_t seed) {
  check(c);
  const std::int64_t L = c.train_max;
  std::vector<std::int64_t> lengths;
  for (std::int64_t k = 1; k <= c.max_multiple; ++k) lengths.push_back(k * L);
  dataset d;
  if (c.task == "copy") {
    copy_config cc{.vocab_size = c.vocab_size, .min_len = 1, .max_len = L, .num_train = c.num_train,
                   .num_test = c.num_test, .test_lengths = lengths};
    d = build(cc, seed);
  } else if (c.task == "selective_copy") {
    selective_copy_config sc{.vocab_size = c.vocab_size, .seq_len = L, .num_tokens = c.num_tokens,
                             .num_train = c.num_train, .num_test = c.num_test, .test_seq_lens = lengths};
    d = build(sc, seed);
  } else if (c.task == "induction") {
    induction_config ic{.vocab_size = c.vocab_size, .seq_len = L, .num_train = c.num_train, .num_test = c.num_test,
                        .test_seq_lens = lengths};
    d = build(ic, seed);
  } else {
    arithmetic_config ac;
    ac.op = c.op;
    ac.bases = {c.base};
    ac.min_digits = 1;
    ac.max_digits = L;
    ac.ood_digits.assign(lengths.begin() + 1, lengths.end());
    ac.num_train = c.num_train;
    ac.num_test = c.num_test;
    d = build(ac, seed);
  }
  // Relabel: every test example belongs to the multiple k with length in ((k-1)·L, k·L].
  for (auto& ex : d.test) {
    const auto len = static_cast<std::int64_t>(ex.difficulty);
    const std::int64_t k = std::max<std::int64_t>(1, (len + L - 1) / L);
    ex.slice = fmt::format("x{}", k);
    ex.difficulty = static_cast<double>(k * L);
  }
  d.task = "length_gen/" + c.task;
  return d;
}

lmlab::table slice_table(const std::vector<slice_accuracy>& slices, const std::string& difficulty_name) {
  lmlab::table t({"slice", difficulty_name, "n", "correct", "accuracy"});
  for (const auto& s : slices) t.add_row({s.slice, s.difficulty, s.n, s.correct, s.accuracy()});
  return t;
}

}  // namespace lmlab::tasks
