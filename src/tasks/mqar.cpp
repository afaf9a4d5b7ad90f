// MQAR generator: see mqar.hpp.
#include "tasks/mqar.hpp"

#include <algorithm>
#include <cmath>

namespace lmlab::tasks {

const param_table<mqar_config>& mqar_params() {
  static const param_table<mqar_config> t = param_table<mqar_config>("mqar")
      .add("vocab_size", &mqar_config::vocab_size, "tokens; keys use [1, V/2), values [V/2, V)", 4, 1 << 24)
      .add("seq_len", &mqar_config::seq_len, "input length (even)", 4, 1 << 20)
      .add("num_kv_pairs", &mqar_config::num_kv_pairs, "key-value pairs per example", 1, 1 << 20)
      .add("power_a", &mqar_config::power_a, "power-law exponent of query gaps (1 = uniform)", 1e-6, 1.0)
      .add("random_non_queries", &mqar_config::random_non_queries, "fill non-query positions with random tokens")
      .add_sizes("test examples per test slice")
      .add("test_num_kv_pairs", &mqar_config::test_num_kv_pairs, "num_kv_pairs of each test slice", 1, 1 << 20);
  return t;
}

namespace {

void check_kv(const mqar_config& c, std::int64_t kv, const char* key) {
  if (4 * kv > c.seq_len)
    throw param_error(key, fmt::format("mqar: {}: {} pairs need 4·{} = {} positions but seq_len is {}", key, kv, kv,
                                       4 * kv, c.seq_len),
                      "raise seq_len or lower num_kv_pairs (pairs take 2·kv positions, queries need 2·kv more)");
  if (kv > c.vocab_size / 2 - 1)
    throw param_error(key, fmt::format("mqar: {}: {} distinct keys do not fit in [1, {})", key, kv, c.vocab_size / 2));
}

// k distinct integers from [lo, hi), in random order.
std::vector<std::int32_t> distinct(rng& r, std::int64_t lo, std::int64_t hi, std::int64_t k) {
  std::vector<std::int32_t> out;
  out.reserve(static_cast<std::size_t>(k));
  const std::int64_t n = hi - lo;
  if (k * 2 > n) {  // dense: partial Fisher-Yates
    std::vector<std::int32_t> all(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(lo + i);
    for (std::int64_t i = 0; i < k; ++i) {
      const auto j = i + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(n - i)));
      std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
      out.push_back(all[static_cast<std::size_t>(i)]);
    }
    return out;
  }
  while (static_cast<std::int64_t>(out.size()) < k) {
    const auto x = static_cast<std::int32_t>(lo + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(n))));
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  }
  return out;
}

std::string name_of(std::int32_t id, std::int64_t V) {
  return (id < V / 2 ? "k" : "v") + std::to_string(id);
}

example make_one(const mqar_config& c, std::int64_t kv, const std::vector<double>& weights, rng& r) {
  const std::int64_t V = c.vocab_size, L = c.seq_len, context = 2 * kv;
  const auto keys = distinct(r, 1, V / 2, kv);
  const auto values = distinct(r, V / 2, V, kv);
  // Gaps: kv draws without replacement from [0, space) with probability ∝ weight, as
  // numpy's choice(replace=False, p) in zoology. Efraimidis & Spirakis (2006) give the same
  // distribution in O(space): key_i = log(u_i) / w_i, keep the kv largest keys.
  // ref: Arora et al. 2023 (zoology), multiquery_ar: w_i = a * i^(a-1), i = 1..space.
  const std::size_t space = weights.size();
  std::vector<std::pair<double, std::int64_t>> keyed(space);
  for (std::size_t i = 0; i < space; ++i)
    keyed[i] = {std::log(1.0 - r.uniform()) / weights[i], static_cast<std::int64_t>(i)};
  std::partial_sort(keyed.begin(), keyed.begin() + kv, keyed.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::int64_t> gaps;
  for (std::int64_t q = 0; q < kv; ++q) gaps.push_back(keyed[static_cast<std::size_t>(q)].second);
  example ex;
  ex.input.assign(static_cast<std::size_t>(L), 0);
  ex.target.assign(static_cast<std::size_t>(L), ignore_index);
  for (std::int64_t i = 0; i < kv; ++i) {
    ex.input[static_cast<std::size_t>(2 * i)] = keys[static_cast<std::size_t>(i)];
    ex.input[static_cast<std::size_t>(2 * i + 1)] = values[static_cast<std::size_t>(i)];
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> order;  // (query position, pair index)
  for (std::int64_t i = 0; i < kv; ++i) {
    const std::int64_t pos = context + 2 * gaps[static_cast<std::size_t>(i)];
    ex.input[static_cast<std::size_t>(pos)] = keys[static_cast<std::size_t>(i)];
    ex.target[static_cast<std::size_t>(pos)] = values[static_cast<std::size_t>(i)];
    order.push_back({pos, i});
  }
  if (c.random_non_queries)
    for (auto& t : ex.input)
      if (t == 0) t = static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(V)));
  std::sort(order.begin(), order.end());
  ex.prompt = "Here are key-value pairs:";
  for (std::int64_t i = 0; i < kv; ++i)
    ex.prompt += fmt::format(" {}={}", name_of(keys[static_cast<std::size_t>(i)], V),
                             name_of(values[static_cast<std::size_t>(i)], V));
  ex.prompt += ".\nGive the value of each of these keys, in order, separated by spaces:";
  for (auto [pos, i] : order) {
    ex.prompt += " " + name_of(keys[static_cast<std::size_t>(i)], V);
    ex.answer += (ex.answer.empty() ? "" : " ") + name_of(values[static_cast<std::size_t>(i)], V);
  }
  ex.slice = fmt::format("kv={}", kv);
  ex.difficulty = static_cast<double>(kv);
  return ex;
}

}  // namespace

void check(const mqar_config& c) {
  if (c.seq_len % 2 != 0) throw param_error("seq_len", fmt::format("mqar: seq_len: {} must be even", c.seq_len));
  if (c.vocab_size <= c.seq_len)
    throw param_error("vocab_size", fmt::format("mqar: vocab_size: {} must exceed seq_len {}", c.vocab_size, c.seq_len),
                      "zoology requires vocab_size > seq_len");
  check_kv(c, c.num_kv_pairs, "num_kv_pairs");
  for (auto kv : c.test_num_kv_pairs) check_kv(c, kv, "test_num_kv_pairs");
}

dataset build(const mqar_config& c, std::uint64_t seed) {
  check(c);
  dataset d;
  d.task = "mqar";
  for (std::int64_t i = 0; i < c.vocab_size; ++i) d.vocab.add(name_of(static_cast<std::int32_t>(i), c.vocab_size));
  d.pad_id = 0;
  auto weights_for = [&](std::int64_t kv) {
    const std::int64_t space = (c.seq_len - 2 * kv) / 2;
    std::vector<double> w(static_cast<std::size_t>(space));
    for (std::int64_t i = 1; i <= space; ++i)
      w[static_cast<std::size_t>(i - 1)] = c.power_a * std::pow(static_cast<double>(i), c.power_a - 1.0);  // ref: zoology
    return w;
  };
  const auto train_w = weights_for(c.num_kv_pairs);
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    d.train.push_back(make_one(c, c.num_kv_pairs, train_w, r));
  }
  const std::vector<std::int64_t> test_kv =
      c.test_num_kv_pairs.empty() ? std::vector<std::int64_t>{c.num_kv_pairs} : c.test_num_kv_pairs;
  std::uint64_t j = 0;
  for (auto kv : test_kv) {
    const auto w = weights_for(kv);
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      d.test.push_back(make_one(c, kv, w, r));
    }
  }
  return d;
}

}  // namespace lmlab::tasks
