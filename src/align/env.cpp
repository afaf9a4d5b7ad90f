// Environment (a): see env.hpp.
#include "align/env.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace lmlab::align {

void check(const env_config& c) {
  LMLAB_CHECK(c.digits >= 1 && c.digits <= 6, "align: digits {} outside [1, 6]", c.digits);
  LMLAB_CHECK(c.sft_error_rate >= 0 && c.sft_error_rate <= 1, "align: sft_error_rate {} outside [0, 1]", c.sft_error_rate);
  LMLAB_CHECK(c.filler_p >= 0 && c.filler_p < 1, "align: filler_p {} outside [0, 1)", c.filler_p);
  LMLAB_CHECK(c.max_filler >= 0 && c.max_filler <= 64, "align: max_filler {} outside [0, 64]", c.max_filler);
  LMLAB_CHECK(c.style_cap >= 0, "align: style_cap {} is negative", c.style_cap);
}

arithmetic_env::arithmetic_env(const env_config& c) : cfg_(c) {
  check(c);
  arith_.bases = {10};
  arith_.min_digits = arith_.max_digits = c.digits;
  arith_.num_train = 1;
  arith_.num_test = 1;
  base_ = tasks::build(arith_, 0);
  vocab_ = base_.vocab;
  pad_ = base_.pad_id;
  eos_ = vocab_.id("<eos>");
  filler_ = vocab_.add("!");
  for (int d = 0; d < 10; ++d) digit_id_.push_back(vocab_.id(std::to_string(d)));
  rng r(0);
  prompt_length_ = static_cast<std::int64_t>(draw(r).prompt.size());  // every item renders to this length
}


item arithmetic_env::draw(rng& r) const {
  std::int64_t lo = 0, hi = 9;
  for (std::int64_t i = 1; i < cfg_.digits; ++i) hi = hi * 10 + 9;
  if (cfg_.digits > 1) lo = (hi + 1) / 10;
  item it;
  it.a = r.range(lo, hi);
  it.b = r.range(lo, hi);
  const tasks::example ex = tasks::arithmetic_item(base_, arith_, 10, std::to_string(it.a), std::to_string(it.b));
  std::size_t first = 0;  // first supervised position: the prompt ends there
  while (ex.target[first] == tasks::ignore_index) ++first;
  it.prompt.assign(ex.input.begin(), ex.input.begin() + static_cast<std::ptrdiff_t>(first) + 1);
  for (std::size_t t = first; t < ex.target.size() && ex.target[t] != eos_; ++t) it.answer.push_back(ex.target[t]);
  LMLAB_CHECK(prompt_length_ == 0 || static_cast<std::int64_t>(it.prompt.size()) == prompt_length_,
              "align: prompt of {} tokens, expected {}", it.prompt.size(), prompt_length_);
  return it;
}

std::vector<std::int32_t> arithmetic_env::pretraining_response(const item& it, rng& r) const {
  std::vector<std::int32_t> out = it.answer;
  if (r.uniform() < cfg_.sft_error_rate) {  // one digit replaced by a different one
    const std::size_t pos = r.below(out.size());
    std::size_t v = 0;
    while (digit_id_[v] != out[pos]) ++v;
    out[pos] = digit_id_[(v + 1 + r.below(9)) % 10];
  }
  std::int64_t k = 0;
  while (k < cfg_.max_filler && r.uniform() < cfg_.filler_p) ++k;
  out.insert(out.end(), static_cast<std::size_t>(k), filler_);
  out.push_back(eos_);
  return out;
}

gold_score arithmetic_env::score(const item& it, const std::vector<std::int32_t>& response) const {
  gold_score s;
  s.length = static_cast<std::int64_t>(response.size());
  s.filler = std::count(response.begin(), response.end(), filler_);
  std::size_t i = 0;
  auto is_digit = [&](std::int32_t t) { return std::find(digit_id_.begin(), digit_id_.end(), t) != digit_id_.end(); };
  while (i < response.size() && is_digit(response[i])) ++i;
  const std::size_t n_digits = i;
  while (i < response.size() && response[i] == filler_) ++i;
  s.well_formed = n_digits > 0 && i + 1 == response.size() && response[i] == eos_;
  s.correct = s.well_formed && std::equal(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(n_digits),
                                          it.answer.begin(), it.answer.end());
  s.reward = (s.correct ? 1.0 : 0.0) + cfg_.style_bonus * static_cast<double>(std::min(s.filler, cfg_.style_cap)) -
             cfg_.style_penalty * static_cast<double>(std::max<std::int64_t>(0, s.filler - cfg_.style_cap));
  return s;
}

}  // namespace lmlab::align
