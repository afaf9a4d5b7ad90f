// The common task dataset representation and the parameter helpers: see dataset.hpp and
// params.hpp.
#include "tasks/dataset.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

// ---- vocabulary ----

std::int32_t vocabulary::add(std::string_view token) {
  const std::string t(token);
  auto it = index_.find(t);
  if (it != index_.end()) return it->second;
  const auto id = static_cast<std::int32_t>(tokens_.size());
  tokens_.push_back(t);
  index_.emplace(t, id);
  return id;
}

std::int32_t vocabulary::id(std::string_view token) const {
  auto it = index_.find(std::string(token));
  LMLAB_CHECK(it != index_.end(), "vocabulary: unknown token '{}'", token);
  return it->second;
}

const std::string& vocabulary::token(std::int32_t id) const {
  LMLAB_CHECK(id >= 0 && id < size(), "vocabulary: id {} out of range [0, {})", id, size());
  return tokens_[static_cast<std::size_t>(id)];
}

std::string vocabulary::decode(std::span<const std::int32_t> ids, std::string_view sep) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += sep;
    out += ids[i] == ignore_index ? std::string("-100") : token(ids[i]);
  }
  return out;
}

// ---- examples ----

example make_prompt_answer(std::span<const std::int32_t> prompt_ids, std::span<const std::int32_t> answer_ids,
                           std::int32_t bos, std::int32_t eos) {
  // full = <bos> prompt answer <eos>; input = full[:-1]; target[t] = full[t+1] on the answer.
  std::vector<std::int32_t> full;
  full.reserve(prompt_ids.size() + answer_ids.size() + 2);
  full.push_back(bos);
  full.insert(full.end(), prompt_ids.begin(), prompt_ids.end());
  full.insert(full.end(), answer_ids.begin(), answer_ids.end());
  full.push_back(eos);
  example ex;
  ex.input.assign(full.begin(), full.end() - 1);
  ex.target.assign(ex.input.size(), ignore_index);
  const std::size_t first = prompt_ids.size();  // input index whose next token is answer[0]
  for (std::size_t t = first; t < ex.input.size(); ++t) ex.target[t] = full[t + 1];
  return ex;
}

void validate(const dataset& d) {
  const std::int32_t V = d.vocab.size();
  auto check_split = [&](const std::vector<example>& v, const char* split) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const example& ex = v[i];
      LMLAB_CHECK(ex.input.size() == ex.target.size(), "{}: {}[{}]: input has {} tokens, target {}", d.task, split, i,
                  ex.input.size(), ex.target.size());
      bool supervised = false;
      for (std::size_t t = 0; t < ex.input.size(); ++t) {
        LMLAB_CHECK(ex.input[t] >= 0 && ex.input[t] < V, "{}: {}[{}]: input id {} at {} outside vocabulary of {}",
                    d.task, split, i, ex.input[t], t, V);
        if (ex.target[t] == ignore_index) continue;
        supervised = true;
        LMLAB_CHECK(ex.target[t] >= 0 && ex.target[t] < V, "{}: {}[{}]: target id {} at {} outside vocabulary of {}",
                    d.task, split, i, ex.target[t], t, V);
      }
      LMLAB_CHECK(supervised, "{}: {}[{}]: no supervised position", d.task, split, i);
      LMLAB_CHECK(!ex.slice.empty(), "{}: {}[{}]: empty slice name", d.task, split, i);
    }
  };
  check_split(d.train, "train");
  check_split(d.test, "test");
}

bool exact_match(const example& ex, std::span<const std::int32_t> pred) {
  LMLAB_CHECK(pred.size() == ex.input.size(), "exact_match: prediction has {} positions, example {}", pred.size(),
              ex.input.size());
  for (std::size_t t = 0; t < ex.target.size(); ++t)
    if (ex.target[t] != ignore_index && pred[t] != ex.target[t]) return false;
  return true;
}

std::vector<slice_accuracy> tally_by_slice(const std::vector<example>& examples,
                                           const std::function<std::pair<std::int64_t, std::int64_t>(std::size_t)>& score) {
  struct total {
    double difficulty_sum = 0;
    std::int64_t examples = 0;
    slice_accuracy acc;
  };
  std::map<std::string, total> by_name;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    total& t = by_name[examples[i].slice];
    t.difficulty_sum += examples[i].difficulty;
    ++t.examples;
    const auto [n, correct] = score(i);
    t.acc.n += n;
    t.acc.correct += correct;
  }
  std::vector<slice_accuracy> out;
  for (auto& [name, t] : by_name) {
    t.acc.slice = name;
    t.acc.difficulty = t.difficulty_sum / static_cast<double>(t.examples);
    out.push_back(t.acc);
  }
  std::stable_sort(out.begin(), out.end(), [](const slice_accuracy& a, const slice_accuracy& b) {
    return a.difficulty < b.difficulty;  // ties keep name order
  });
  return out;
}

std::vector<slice_accuracy> accuracy_by_slice(const std::vector<example>& examples,
                                              const std::vector<std::vector<std::int32_t>>& predictions) {
  LMLAB_CHECK(examples.size() == predictions.size(), "accuracy_by_slice: {} examples but {} predictions",
              examples.size(), predictions.size());
  return tally_by_slice(examples, [&](std::size_t i) {
    return std::pair<std::int64_t, std::int64_t>{1, exact_match(examples[i], predictions[i]) ? 1 : 0};
  });
}

batch make_batch(const std::vector<example>& examples, std::span<const std::size_t> indices, std::int32_t pad_id,
                 std::int64_t fixed_T) {
  batch b;
  b.B = static_cast<std::int64_t>(indices.size());
  std::int64_t longest = 0;
  for (std::size_t i : indices) {
    LMLAB_CHECK(i < examples.size(), "make_batch: index {} out of range ({} examples)", i, examples.size());
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(examples[i].input.size()));
  }
  b.T = fixed_T > 0 ? fixed_T : longest;
  LMLAB_CHECK(longest <= b.T, "make_batch: an example has {} tokens, more than T = {}", longest, b.T);
  b.input.assign(static_cast<std::size_t>(b.B * b.T), pad_id);
  b.target.assign(static_cast<std::size_t>(b.B * b.T), ignore_index);
  for (std::int64_t r = 0; r < b.B; ++r) {
    const example& ex = examples[indices[static_cast<std::size_t>(r)]];
    std::copy(ex.input.begin(), ex.input.end(), b.input.begin() + r * b.T);
    std::copy(ex.target.begin(), ex.target.end(), b.target.begin() + r * b.T);
  }
  return b;
}

std::string format_example(const vocabulary& vocab, const example& ex) {
  return "Inputs: " + vocab.decode(ex.input) + "\nLabels: " + vocab.decode(ex.target);
}

nlohmann::json summary(const dataset& d) {
  nlohmann::json j;
  j["task"] = d.task;
  j["vocab_size"] = d.vocab.size();
  std::size_t longest = 0;
  auto split = [&](const std::vector<example>& v) {
    std::map<std::string, std::int64_t> slices;
    for (const auto& ex : v) {
      ++slices[ex.slice];
      longest = std::max(longest, ex.input.size());
    }
    nlohmann::json s;
    s["n"] = v.size();
    s["slices"] = slices;
    return s;
  };
  j["train"] = split(d.train);
  j["test"] = split(d.test);
  j["max_len"] = longest;
  return j;
}

std::string to_base_string(std::uint64_t value, int base) {
  LMLAB_CHECK(base >= 2 && base <= 36, "to_base_string: base {} outside [2, 36]", base);
  static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  if (value == 0) return "0";
  std::string s;
  while (value) {
    s.push_back(digits[value % static_cast<std::uint64_t>(base)]);
    value /= static_cast<std::uint64_t>(base);
  }
  std::reverse(s.begin(), s.end());
  return s;
}

void shuffle_examples(std::vector<example>& v, rng& r) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
}

// ---- params.hpp helpers ----

const char* param_kind_name(param_kind k) {
  switch (k) {
    case param_kind::integer: return "integer";
    case param_kind::number: return "number";
    case param_kind::boolean: return "boolean";
    case param_kind::string: return "string";
    case param_kind::integer_list: return "list of integers";
    case param_kind::string_list: return "list of strings";
  }
  return "?";
}

std::string closest_name(const std::string& key, const std::vector<std::string>& known) {
  auto dist = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (const auto& k : known) {
    const std::size_t d = dist(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  return best;
}

std::int64_t json_to_integer(const nlohmann::json& v, const std::string& owner, const std::string& key) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::round(d) == d && std::abs(d) < 9e18) return static_cast<std::int64_t>(d);
  }
  throw param_error(key, fmt::format("{}: {}: expected an integer, got {}", owner, key, v.dump()));
}

double json_to_number(const nlohmann::json& v, const std::string& owner, const std::string& key) {
  if (v.is_number()) return v.get<double>();
  throw param_error(key, fmt::format("{}: {}: expected a number, got {}", owner, key, v.dump()));
}

void check_range(double v, const param_spec& s, const std::string& owner) {
  if (v >= s.min && v <= s.max) return;
  std::string range;
  if (std::isfinite(s.min) && std::isfinite(s.max)) range = fmt::format("[{}, {}]", s.min, s.max);
  else if (std::isfinite(s.min)) range = fmt::format(">= {}", s.min);
  else range = fmt::format("<= {}", s.max);
  throw param_error(s.name, fmt::format("{}: {}: {} is out of range (must be {})", owner, s.name, v, range), s.help);
}

void check_choice(const std::string& v, const param_spec& s, const std::string& owner) {
  if (s.choices.empty() || std::find(s.choices.begin(), s.choices.end(), v) != s.choices.end()) return;
  std::string list;
  for (std::size_t i = 0; i < s.choices.size(); ++i) list += (i ? ", " : "") + s.choices[i];
  throw param_error(s.name, fmt::format("{}: {}: '{}' is not one of: {}", owner, s.name, v, list), s.help);
}

}  // namespace lmlab::tasks
