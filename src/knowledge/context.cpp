// Key-value retrieval by position: see context.hpp.
#include "knowledge/context.hpp"

#include <algorithm>
#include <numeric>

#include "knowledge/kb.hpp"

namespace lmlab::knowledge {

const tasks::param_table<kv_position_config>& kv_position_params() {
  static const auto t = tasks::param_table<kv_position_config>("kv_position")
        .add("num_pairs", &kv_position_config::num_pairs, "key-value pairs in the context", 2, 4096)
        .add("num_keys", &kv_position_config::num_keys, "distinct key tokens", 2, 1 << 16)
        .add("num_values", &kv_position_config::num_values, "distinct value tokens", 2, 1 << 16)
        .add("num_train", &kv_position_config::num_train, "training examples", 1, 1e9)
        .add("num_test", &kv_position_config::num_test, "test examples per position", 1, 1e9);
  return t;
}

void check(const kv_position_config& c) {
  if (c.num_pairs > c.num_keys)
    throw tasks::param_error("num_pairs",
                             fmt::format("kv_position: {} pairs need distinct keys but num_keys is {}", c.num_pairs, c.num_keys),
                             "raise num_keys or lower num_pairs");
}

namespace {

std::string slice_of(std::int64_t pos, std::int64_t n) {
  if (pos == 0) return "edge/first";
  if (pos == n - 1) return "edge/last";
  return fmt::format("mid/pos={:02d}", pos);
}

tasks::example make_one(const kv_position_config& c, const tasks::vocabulary& v, std::int64_t query_pos, rng& r) {
  std::vector<std::int64_t> keys(static_cast<std::size_t>(c.num_keys));
  std::iota(keys.begin(), keys.end(), 0);
  for (std::int64_t i = 0; i < c.num_pairs; ++i)  // partial Fisher-Yates: distinct keys
    std::swap(keys[static_cast<std::size_t>(i)],
              keys[static_cast<std::size_t>(i + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(c.num_keys - i))))]);
  std::vector<std::string> prompt;
  std::string answer;
  for (std::int64_t i = 0; i < c.num_pairs; ++i) {
    const std::string val = fmt::format("v{}", r.below(static_cast<std::uint64_t>(c.num_values)));
    prompt.push_back(fmt::format("k{}", keys[static_cast<std::size_t>(i)]));
    prompt.push_back(val);
    if (i == query_pos) answer = val;
  }
  prompt.push_back("?");
  prompt.push_back(fmt::format("k{}", keys[static_cast<std::size_t>(query_pos)]));
  return answer_example(v, prompt, {answer}, slice_of(query_pos, c.num_pairs),
                        static_cast<double>(query_pos) / static_cast<double>(c.num_pairs - 1));
}

}  // namespace

tasks::dataset build(const kv_position_config& c, std::uint64_t seed) {
  check(c);
  tasks::dataset d;
  d.task = "kv_position";
  for (const char* s : {"<pad>", "<bos>", "<eos>", "?"}) d.vocab.add(s);
  for (std::int64_t i = 0; i < c.num_keys; ++i) d.vocab.add(fmt::format("k{}", i));
  for (std::int64_t i = 0; i < c.num_values; ++i) d.vocab.add(fmt::format("v{}", i));
  d.pad_id = 0;
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = tasks::train_rng(seed, static_cast<std::uint64_t>(i));
    const auto pos = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(c.num_pairs)));
    d.train.push_back(make_one(c, d.vocab, pos, r));
  }
  std::uint64_t j = 0;
  for (std::int64_t pos = 0; pos < c.num_pairs; ++pos)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = tasks::test_rng(seed, j);
      d.test.push_back(make_one(c, d.vocab, pos, r));
    }
  return d;
}

}  // namespace lmlab::knowledge
