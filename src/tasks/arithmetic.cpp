// Base-b arithmetic generator: see arithmetic.hpp.
#include "tasks/arithmetic.hpp"

#include <cmath>

#include <algorithm>
#include <string_view>

namespace lmlab::tasks {

const param_table<arithmetic_config>& arithmetic_params() {
  static const param_table<arithmetic_config> t = param_table<arithmetic_config>("arithmetic")
      .add("op", &arithmetic_config::op, "operation", -INFINITY, INFINITY, {"add", "mul"})
      .add("bases", &arithmetic_config::bases, "training bases", 2, 36)
      .add("min_digits", &arithmetic_config::min_digits, "fewest digits of an operand", 1, 1000)
      .add("max_digits", &arithmetic_config::max_digits, "most digits of an operand in train", 1, 1000)
      .add("ood_digits", &arithmetic_config::ood_digits, "test digit lengths beyond max_digits", 1, 1000)
      .add("ood_bases", &arithmetic_config::ood_bases, "test bases not trained on", 2, 36)
      .add("holdout", &arithmetic_config::holdout, "share of in-distribution items held out for test", 0.0, 0.9)
      .add("reverse_answer", &arithmetic_config::reverse_answer, "answer least significant digit first")
      .add_sizes("test examples per slice group");
  return t;
}

void check(const arithmetic_config& c) {
  if (c.bases.empty()) throw param_error("bases", "arithmetic: bases: give at least one training base");
  if (c.min_digits > c.max_digits)
    throw param_error("min_digits", fmt::format("arithmetic: min_digits: {} exceeds max_digits {}", c.min_digits,
                                                c.max_digits));
  for (auto d : c.ood_digits)
    if (d <= c.max_digits)
      throw param_error("ood_digits", fmt::format("arithmetic: ood_digits: {} is not beyond max_digits {}", d,
                                                  c.max_digits),
                        "out-of-distribution lengths must be longer than every training length");
  for (auto b : c.ood_bases)
    if (std::find(c.bases.begin(), c.bases.end(), b) != c.bases.end())
      throw param_error("ood_bases", fmt::format("arithmetic: ood_bases: base {} is also a training base", b));
}

digits add_digits(const digits& a, const digits& b, int base) {
  digits out;
  int carry = 0;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
    int s = carry + (i < a.size() ? a[i] : 0) + (i < b.size() ? b[i] : 0);
    out.push_back(static_cast<std::uint8_t>(s % base));
    carry = s / base;
  }
  while (out.size() > 1 && out.back() == 0) out.pop_back();
  if (out.empty()) out.push_back(0);
  return out;
}

digits mul_digits(const digits& a, const digits& b, int base) {
  std::vector<std::int64_t> acc(a.size() + b.size() + 1, 0);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < b.size(); ++j) acc[i + j] += static_cast<std::int64_t>(a[i]) * b[j];
  digits out;
  std::int64_t carry = 0;
  for (std::size_t i = 0; i < acc.size(); ++i) {
    const std::int64_t s = acc[i] + carry;
    out.push_back(static_cast<std::uint8_t>(s % base));
    carry = s / base;
  }
  while (carry) {
    out.push_back(static_cast<std::uint8_t>(carry % base));
    carry /= base;
  }
  while (out.size() > 1 && out.back() == 0) out.pop_back();
  return out;
}

std::string digits_to_string(const digits& d) {
  static constexpr char names[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string s;
  for (auto it = d.rbegin(); it != d.rend(); ++it) s.push_back(names[*it]);
  return s.empty() ? "0" : s;
}

namespace {

// A uniformly random number with exactly n digits in `base` (n = 1 includes 0).
digits random_number(rng& r, std::int64_t n, int base) {
  digits d(static_cast<std::size_t>(n));
  for (auto& x : d) x = static_cast<std::uint8_t>(r.below(static_cast<std::uint64_t>(base)));
  if (n > 1) d.back() = static_cast<std::uint8_t>(1 + r.below(static_cast<std::uint64_t>(base - 1)));
  return d;
}

// FNV-1a over the item, mixed with the seed: decides the held-out partition.
bool held_out(const std::string& op, int base, const digits& a, const digits& b, std::uint64_t seed, double holdout) {
  std::uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
  auto mix = [&](std::uint8_t byte) {
    h ^= byte;
    h *= 1099511628211ull;
  };
  for (char ch : op) mix(static_cast<std::uint8_t>(ch));
  mix(static_cast<std::uint8_t>(base));
  for (auto x : a) mix(x);
  mix(0xFF);
  for (auto x : b) mix(x);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0) < holdout;
}

struct token_ids {
  std::int32_t bos, eos, base_word, colon, plus, times, equals, digit0;
};

example render(const vocabulary& v, const token_ids& t, const arithmetic_config& c, int base, const digits& a,
               const digits& b) {
  const digits ans = c.op == "add" ? add_digits(a, b, base) : mul_digits(a, b, base);
  std::vector<std::int32_t> prompt{t.base_word}, answer;
  for (char ch : std::to_string(base)) prompt.push_back(t.digit0 + (ch - '0'));
  prompt.push_back(t.colon);
  for (auto it = a.rbegin(); it != a.rend(); ++it) prompt.push_back(t.digit0 + *it);
  prompt.push_back(c.op == "add" ? t.plus : t.times);
  for (auto it = b.rbegin(); it != b.rend(); ++it) prompt.push_back(t.digit0 + *it);
  prompt.push_back(t.equals);
  for (auto it = ans.rbegin(); it != ans.rend(); ++it) answer.push_back(t.digit0 + *it);
  if (c.reverse_answer) std::reverse(answer.begin(), answer.end());
  example ex = make_prompt_answer(prompt, answer, t.bos, t.eos);
  ex.prompt = fmt::format("In base {}, compute {} {} {}. Answer with the base-{} result only, no explanation.", base,
                          digits_to_string(a), c.op == "add" ? "+" : "*", digits_to_string(b), base);
  ex.answer = digits_to_string(ans);
  ex.difficulty = static_cast<double>(std::max(a.size(), b.size()));
  (void)v;
  return ex;
}

token_ids ids_of(const vocabulary& v) {
  return {v.id("<bos>"), v.id("<eos>"), v.id("base"), v.id(":"), v.id("+"), v.id("*"), v.id("="), v.id("0")};
}

}  // namespace

example arithmetic_item(const dataset& d, const arithmetic_config& c, int base, std::string_view a,
                        std::string_view b) {
  LMLAB_CHECK(base >= 2 && base <= 36, "arithmetic: base {} outside [2, 36]", base);
  auto parse = [&](std::string_view s) {
    LMLAB_CHECK(!s.empty(), "arithmetic: empty operand");
    digits out;
    for (const char ch : s) {  // most significant first, so the error names the leftmost bad digit
      const int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'Z' ? ch - 'A' + 10 : 99;
      LMLAB_CHECK(v < base, "arithmetic: '{}' is not a base-{} number (digit '{}')", s, base, ch);
      out.insert(out.begin(), static_cast<std::uint8_t>(v));
    }
    while (out.size() > 1 && out.back() == 0) out.pop_back();
    return out;
  };
  example ex = render(d.vocab, ids_of(d.vocab), c, base, parse(a), parse(b));
  ex.slice = "item";
  return ex;
}

dataset build(const arithmetic_config& c, std::uint64_t seed) {
  check(c);
  dataset d;
  d.task = "arithmetic";
  d.pad_id = d.vocab.add("<pad>");
  for (const char* s : {"<bos>", "<eos>", "base", ":", "+", "*", "="}) d.vocab.add(s);
  for (int i = 0; i < 36; ++i) d.vocab.add(to_base_string(static_cast<std::uint64_t>(i), 36));
  const token_ids t = ids_of(d.vocab);

  auto draw_id = [&](rng& r, bool want_test) {
    for (int attempt = 0; attempt < 100000; ++attempt) {
      const int base = static_cast<int>(c.bases[r.below(c.bases.size())]);
      const digits a = random_number(r, r.range(c.min_digits, c.max_digits), base);
      const digits b = random_number(r, r.range(c.min_digits, c.max_digits), base);
      if (held_out(c.op, base, a, b, seed, c.holdout) != want_test) continue;
      example ex = render(d.vocab, t, c, base, a, b);
      ex.slice = fmt::format("id/d={}", static_cast<int>(ex.difficulty));
      return ex;
    }
    throw param_error("holdout", fmt::format("arithmetic: holdout: no {} item found in 100000 draws (holdout = {})",
                                             want_test ? "held-out" : "training", c.holdout),
                      "the item space is too small for this split: raise max_digits or change holdout");
  };
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    d.train.push_back(draw_id(r, false));
  }
  std::uint64_t j = 0;
  if (c.holdout > 0)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      d.test.push_back(draw_id(r, true));
    }
  for (auto n : c.ood_digits)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      const int base = static_cast<int>(c.bases[r.below(c.bases.size())]);
      const digits a = random_number(r, n, base);
      const digits b = random_number(r, n, base);
      example ex = render(d.vocab, t, c, base, a, b);
      ex.slice = fmt::format("ood_len/d={}", n);
      d.test.push_back(std::move(ex));
    }
  for (auto base : c.ood_bases)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      const digits a = random_number(r, r.range(c.min_digits, c.max_digits), static_cast<int>(base));
      const digits b = random_number(r, r.range(c.min_digits, c.max_digits), static_cast<int>(base));
      example ex = render(d.vocab, t, c, static_cast<int>(base), a, b);
      ex.slice = fmt::format("ood_base/b={}", base);
      d.test.push_back(std::move(ex));
    }
  return d;
}

}  // namespace lmlab::tasks
