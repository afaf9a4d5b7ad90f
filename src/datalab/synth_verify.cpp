// Chained arithmetic with verifiable steps: see synth_verify.hpp.
#include "datalab/synth_verify.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace lmlab::datalab {

namespace {
void push_number(std::vector<std::int32_t>& t, int v) {
  t.push_back(v / 10);
  t.push_back(v % 10);
}
int apply(int x, char op, int y) { return op == '+' ? x + y : x - y; }
}  // namespace

int chain_problem::answer() const {
  int x = start;
  for (std::size_t i = 0; i < ops.size(); ++i) x = apply(x, ops[i], operands[i]);
  return x;
}

chain_problem sample_chain_problem(int k, rng& g, int max_value) {
  LMLAB_CHECK(k >= 1 && k <= 16, "chain problem: operations must be in 1..16, got {}", k);
  LMLAB_CHECK(max_value >= 1 && max_value <= 99, "chain problem: max_value must be in 1..99, got {}", max_value);
  chain_problem p;
  p.start = static_cast<int>(g.below(static_cast<std::uint64_t>(max_value + 1)));
  int x = p.start;
  for (int i = 0; i < k; ++i) {
    // Pick the operation so that a legal operand exists, then an operand in range.
    const bool can_add = x < max_value, can_sub = x >= 1;
    const char op = (can_add && (!can_sub || g.below(2) == 0)) ? '+' : '-';
    const int hi = op == '+' ? max_value - x : x;  // operand in 1..hi keeps the total in 0..max_value
    const int y = 1 + static_cast<int>(g.below(static_cast<std::uint64_t>(hi)));
    p.ops.push_back(op);
    p.operands.push_back(y);
    x = apply(x, op, y);
  }
  return p;
}

std::uint64_t problem_key(const chain_problem& p) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the problem's tokens
  for (auto t : problem_tokens(p)) h = (h ^ static_cast<std::uint64_t>(t)) * 0x100000001b3ull;
  return h;
}

std::string chain_token_text(std::int32_t id) {
  using namespace chain_tok;
  if (id >= 0 && id <= 9) return std::to_string(id);
  switch (id) {
    case plus: return "+";
    case minus: return "-";
    case eq: return "=";
    case semi: return ";";
    case hash: return "#";
    case bos: return "<bos>";
    case eos: return "<eos>";
    case pad: return "<pad>";
    default: return "?";
  }
}

std::vector<std::int32_t> problem_tokens(const chain_problem& p) {
  std::vector<std::int32_t> t = {chain_tok::bos};
  push_number(t, p.start);
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    t.push_back(p.ops[i] == '+' ? chain_tok::plus : chain_tok::minus);
    push_number(t, p.operands[i]);
  }
  t.push_back(chain_tok::eq);
  return t;
}

std::vector<std::int32_t> gold_solution(const chain_problem& p) { return solution_with_result(p, -1, 0); }

std::vector<std::int32_t> solution_with_result(const chain_problem& p, int step, int value) {
  std::vector<std::int32_t> t;
  int x = p.start;
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    const int y = static_cast<int>(i) == step ? value : ((apply(x, p.ops[i], p.operands[i]) % 100) + 100) % 100;
    push_number(t, x);
    t.push_back(p.ops[i] == '+' ? chain_tok::plus : chain_tok::minus);
    push_number(t, p.operands[i]);
    t.push_back(chain_tok::eq);
    push_number(t, y);
    t.push_back(chain_tok::semi);
    x = y;
  }
  t.push_back(chain_tok::hash);
  push_number(t, x);
  t.push_back(chain_tok::eos);
  return t;
}

std::vector<std::int32_t> answer_only_solution(const chain_problem& p) {
  std::vector<std::int32_t> t = {chain_tok::hash};
  push_number(t, p.answer());
  t.push_back(chain_tok::eos);
  return t;
}

namespace {
bool digit_at(std::span<const std::int32_t> s, std::size_t i) { return i < s.size() && s[i] >= 0 && s[i] <= 9; }
int number_at(std::span<const std::int32_t> s, std::size_t i) { return static_cast<int>(s[i] * 10 + s[i + 1]); }
}  // namespace

std::optional<int> final_answer(std::span<const std::int32_t> s) {
  const auto h = std::find(s.begin(), s.end(), chain_tok::hash);
  const auto i = static_cast<std::size_t>(h - s.begin());
  if (h == s.end() || !digit_at(s, i + 1) || !digit_at(s, i + 2)) return std::nullopt;
  return number_at(s, i + 1);
}

verdict verify_solution(const chain_problem& p, std::span<const std::int32_t> s) {
  verdict v;
  const std::size_t k = p.ops.size();
  auto digit = [&](std::size_t i) { return digit_at(s, i); };
  auto number = [&](std::size_t i) { return number_at(s, i); };
  if (const auto a = final_answer(s)) v.answer_correct = *a == p.answer();
  bool ok = true;
  int x = p.start;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < k; ++i, pos += 9) {
    const bool shape = pos + 9 <= s.size() && digit(pos) && digit(pos + 1) &&
                       (s[pos + 2] == chain_tok::plus || s[pos + 2] == chain_tok::minus) && digit(pos + 3) && digit(pos + 4) &&
                       s[pos + 5] == chain_tok::eq && digit(pos + 6) && digit(pos + 7) && s[pos + 8] == chain_tok::semi;
    if (!shape) return v;  // not well formed
    const char op = s[pos + 2] == chain_tok::plus ? '+' : '-';
    const int a = number(pos), b = number(pos + 3), r = number(pos + 6);
    const bool step_ok = a == x && op == p.ops[i] && b == p.operands[i] && r == apply(a, op, b);
    if (ok && step_ok) ++v.valid_steps;
    ok = ok && step_ok;
    x = r;  // the next step must start from what this one wrote
  }
  v.all_steps_valid = ok;
  const bool tail = pos + 3 <= s.size() && s[pos] == chain_tok::hash && digit(pos + 1) && digit(pos + 2) &&
                    (pos + 3 == s.size() || s[pos + 3] == chain_tok::eos);
  v.well_formed = tail;
  if (tail) v.answer_correct = number(pos + 1) == p.answer();
  if (tail && ok) v.all_steps_valid = number(pos + 1) == x;
  return v;
}

}  // namespace lmlab::datalab
