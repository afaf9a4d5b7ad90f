// Induction-head generator: see induction.hpp.
#include "tasks/induction.hpp"

#include "tasks/copying.hpp"

namespace lmlab::tasks {

const param_table<induction_config>& induction_params() {
  static const param_table<induction_config> t = param_table<induction_config>("induction")
      .add("vocab_size", &induction_config::vocab_size, "content tokens", 2, 1 << 20)
      .add("seq_len", &induction_config::seq_len, "input length including the final trigger", 3, 1 << 24)
      .add_sizes("test examples per test length")
      .add("test_seq_lens", &induction_config::test_seq_lens, "seq_len of each test slice", 3, 1 << 24);
  return t;
}

namespace {

example induction_one(const vocabulary& v, std::int32_t trigger, std::int32_t first, std::int64_t content,
                      std::int64_t L, rng& r) {
  example ex;
  ex.input.resize(static_cast<std::size_t>(L));
  for (auto& t : ex.input) t = first + static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(content)));
  // The first trigger sits in [0, L-3] so that its successor precedes the final trigger.
  const auto p = static_cast<std::size_t>(r.below(static_cast<std::uint64_t>(L - 2)));
  ex.input[p] = trigger;
  const std::int32_t b = ex.input[p + 1];
  ex.input.back() = trigger;
  ex.target.assign(ex.input.size(), ignore_index);
  ex.target.back() = b;
  ex.slice = fmt::format("len={}", L);
  ex.difficulty = static_cast<double>(L);
  ex.prompt = "In this token sequence, which token came right after the first '*'? Answer with that token only: " +
              v.decode(ex.input);
  ex.answer = v.token(b);
  return ex;
}

}  // namespace

dataset build(const induction_config& c, std::uint64_t seed) {
  dataset d;
  d.task = "induction";
  d.pad_id = d.vocab.add("<pad>");
  const std::int32_t trigger = d.vocab.add("*");
  const std::int32_t first = d.vocab.size();
  for (std::int64_t i = 0; i < c.vocab_size; ++i) d.vocab.add(content_token_name(i));
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    d.train.push_back(induction_one(d.vocab, trigger, first, c.vocab_size, c.seq_len, r));
  }
  const std::vector<std::int64_t> lens = c.test_seq_lens.empty() ? std::vector<std::int64_t>{c.seq_len} : c.test_seq_lens;
  std::uint64_t j = 0;
  for (auto L : lens)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      d.test.push_back(induction_one(d.vocab, trigger, first, c.vocab_size, L, r));
    }
  return d;
}

}  // namespace lmlab::tasks
