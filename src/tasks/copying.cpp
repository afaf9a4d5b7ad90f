// Copying and selective copying generators: see copying.hpp.
#include "tasks/copying.hpp"

#include <algorithm>

namespace lmlab::tasks {

std::string content_token_name(std::int64_t i) {
  if (i < 26) return std::string(1, static_cast<char>('a' + i));
  return "t" + std::to_string(i);
}

const param_table<copy_config>& copy_params() {
  static const param_table<copy_config> t = param_table<copy_config>("copy")
      .add("vocab_size", &copy_config::vocab_size, "content tokens", 2, 1 << 20)
      .add("min_len", &copy_config::min_len, "shortest training string", 1, 1 << 20)
      .add("max_len", &copy_config::max_len, "longest training string", 1, 1 << 20)
      .add_sizes("test examples per test length")
      .add("test_lengths", &copy_config::test_lengths, "string lengths of the test slices", 1, 1 << 20);
  return t;
}

const param_table<selective_copy_config>& selective_copy_params() {
  static const param_table<selective_copy_config> t = param_table<selective_copy_config>("selective_copy")
      .add("vocab_size", &selective_copy_config::vocab_size, "content tokens", 2, 1 << 20)
      .add("seq_len", &selective_copy_config::seq_len, "positions holding content and noise", 1, 1 << 20)
      .add("num_tokens", &selective_copy_config::num_tokens, "content tokens to copy", 1, 1 << 20)
      .add_sizes("test examples per test length")
      .add("test_seq_lens", &selective_copy_config::test_seq_lens, "seq_len of each test slice", 1, 1 << 20);
  return t;
}

void check(const copy_config& c) {
  if (c.min_len > c.max_len)
    throw param_error("min_len", fmt::format("copy: min_len: {} exceeds max_len {}", c.min_len, c.max_len));
}

void check(const selective_copy_config& c) {
  if (c.num_tokens > c.seq_len)
    throw param_error("num_tokens",
                      fmt::format("selective_copy: num_tokens: {} exceeds seq_len {}", c.num_tokens, c.seq_len));
  for (auto L : c.test_seq_lens)
    if (c.num_tokens > L)
      throw param_error("test_seq_lens",
                        fmt::format("selective_copy: test_seq_lens: {} is shorter than num_tokens {}", L, c.num_tokens));
}

namespace {

struct specials {
  std::int32_t pad, bos, sep, eos, noise, first_content;
};

specials add_specials(vocabulary& v, std::int64_t content) {
  specials s{};
  s.pad = v.add("<pad>");
  s.bos = v.add("<bos>");
  s.sep = v.add("<sep>");
  s.eos = v.add("<eos>");
  s.noise = v.add(".");
  s.first_content = v.size();
  for (std::int64_t i = 0; i < content; ++i) v.add(content_token_name(i));
  return s;
}

std::string join_names(const vocabulary& v, const std::vector<std::int32_t>& ids) {
  return v.decode(ids);
}

example copy_one(const vocabulary& v, const specials& s, std::int64_t content, std::int64_t n, rng& r) {
  std::vector<std::int32_t> x(static_cast<std::size_t>(n));
  for (auto& t : x) t = s.first_content + static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(content)));
  std::vector<std::int32_t> prompt = x;
  prompt.push_back(s.sep);
  example ex = make_prompt_answer(prompt, x, s.bos, s.eos);
  ex.slice = fmt::format("len={}", n);
  ex.difficulty = static_cast<double>(n);
  ex.prompt = "Repeat this sequence of tokens exactly, separated by spaces: " + join_names(v, x);
  ex.answer = join_names(v, x);
  return ex;
}

example selective_one(const vocabulary& v, const specials& s, const selective_copy_config& c, std::int64_t L,
                      rng& r) {
  // Positions of the content tokens: num_tokens distinct positions of [0, L), increasing.
  std::vector<std::int64_t> pos;
  while (static_cast<std::int64_t>(pos.size()) < c.num_tokens) {
    const auto p = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(L)));
    if (std::find(pos.begin(), pos.end(), p) == pos.end()) pos.push_back(p);
  }
  std::sort(pos.begin(), pos.end());
  std::vector<std::int32_t> x(static_cast<std::size_t>(L), s.noise), content;
  for (auto p : pos) {
    const auto t = s.first_content + static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(c.vocab_size)));
    x[static_cast<std::size_t>(p)] = t;
    content.push_back(t);
  }
  std::vector<std::int32_t> prompt = x;
  prompt.push_back(s.sep);
  example ex = make_prompt_answer(prompt, content, s.bos, s.eos);
  ex.slice = fmt::format("len={}", L);
  ex.difficulty = static_cast<double>(L);
  ex.prompt = "Write the tokens that are not '.', in order, separated by spaces: " + join_names(v, x);
  ex.answer = join_names(v, content);
  return ex;
}

}  // namespace

dataset build(const copy_config& c, std::uint64_t seed) {
  check(c);
  dataset d;
  d.task = "copy";
  const specials s = add_specials(d.vocab, c.vocab_size);
  d.pad_id = s.pad;
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    const std::int64_t n = r.range(c.min_len, c.max_len);
    d.train.push_back(copy_one(d.vocab, s, c.vocab_size, n, r));
  }
  std::uint64_t j = 0;
  if (c.test_lengths.empty()) {
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      const std::int64_t n = r.range(c.min_len, c.max_len);
      d.test.push_back(copy_one(d.vocab, s, c.vocab_size, n, r));
    }
  }
  for (auto n : c.test_lengths)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      d.test.push_back(copy_one(d.vocab, s, c.vocab_size, n, r));
    }
  return d;
}

dataset build(const selective_copy_config& c, std::uint64_t seed) {
  check(c);
  dataset d;
  d.task = "selective_copy";
  const specials s = add_specials(d.vocab, c.vocab_size);
  d.pad_id = s.pad;
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    d.train.push_back(selective_one(d.vocab, s, c, c.seq_len, r));
  }
  const std::vector<std::int64_t> lens = c.test_seq_lens.empty() ? std::vector<std::int64_t>{c.seq_len} : c.test_seq_lens;
  std::uint64_t j = 0;
  for (auto L : lens)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      d.test.push_back(selective_one(d.vocab, s, c, L, r));
    }
  return d;
}

}  // namespace lmlab::tasks
