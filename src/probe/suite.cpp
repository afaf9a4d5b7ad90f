// Suite helpers and the explicit registry: see suite.hpp.
#include "probe/suite.hpp"

#include <cmath>
#include <fstream>
#include <map>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "probe/scoring.hpp"
#include "probe/suites.hpp"

namespace lmlab::probe {
using json = nlohmann::json;

void suite::score_text(const item& it, const std::string& text, json& s) const {
  const bool ok = !it.target.empty() && normalize_answer(text).find(normalize_answer(it.target)) != std::string::npos;
  s["correct"] = ok;
}

gen_request request_of(const item& it) {
  gen_request q;
  q.messages = it.messages;
  q.max_tokens = it.max_tokens;
  q.temperature = it.temperature;
  q.seed = it.seed;
  q.repeat = it.repeat;
  return q;
}

const std::vector<const suite*>& all_suites() {
  static const std::vector<const suite*> v = {&sycophancy_suite(), &calibration_suite(), &lost_in_middle_suite(),
                                              &nondeterminism_suite(), &hallucination_suite(),
#ifdef LMLAB_PROBE_HAS_TASKS
                                              &perturbation_suite(), &compositional_suite(),
#endif
#ifdef LMLAB_PROBE_HAS_VLM
                                              &pope_suite(),
#endif
  };
  return v;
}

const suite& find_suite(std::string_view name) {
  std::string names;
  for (const auto* s : all_suites()) {
    if (s->name() == name) return *s;
    names += (names.empty() ? "" : ", ") + s->name();
  }
  throw usage_error(fmt::format("--suite: unknown suite '{}'", name), "available: " + names);
}

json accuracy_metrics(const std::vector<json>& samples, const std::string& prefix) {
  std::size_t n = 0, k = 0;
  for (const auto& s : samples) {
    if (!s.contains("correct")) continue;
    ++n;
    k += s["correct"].get<bool>();
  }
  json m = json::object();
  if (n == 0) return m;
  const double p = static_cast<double>(k) / static_cast<double>(n);
  m[prefix] = p;
  // lm-evaluation-harness reports the sample standard error of the mean: sqrt(p(1-p)/(n-1)).
  m[prefix + "_stderr"] = n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0;
  const auto w = analysis::wilson_interval(k, n, 0.95);
  m[prefix + "_ci95_lo"] = w.lo;
  m[prefix + "_ci95_hi"] = w.hi;
  m[prefix + "_n"] = n;
  return m;
}

std::vector<slice_row> accuracy_by(const std::vector<json>& samples, const std::string& key, const std::string& split) {
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> acc;
  for (const auto& s : samples) {
    if (!s.contains("correct") || !s["doc"].contains(key)) continue;
    const auto& v = s["doc"][key];
    const std::string slice = key + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    auto& [n, k] = acc[slice];
    ++n;
    k += s["correct"].get<bool>();
  }
  std::vector<slice_row> rows;
  for (const auto& [slice, nk] : acc)
    rows.push_back({split, slice, "acc", static_cast<double>(nk.second) / static_cast<double>(nk.first), nk.first});
  return rows;
}

std::string format_mc(const std::string& question, const std::vector<std::string>& choices, const std::string& lang) {
  std::string s = question + "\n";
  for (std::size_t i = 0; i < choices.size(); ++i) s += choice_label(static_cast<int>(i)) + ". " + choices[i] + "\n";
  s += lang == "ko" ? "알맞은 답의 글자 하나로만 답하세요." : "Answer with the letter of the correct choice only.";
  return s;
}

std::vector<json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  LMLAB_CHECK_HINT(in.good(), "check the --data path", "{}: cannot open", path.string());
  std::vector<json> out;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = json::parse(line, nullptr, false);
    LMLAB_CHECK_HINT(!j.is_discarded() && j.is_object(), "each line must be one JSON object (docs/probe.md)",
                     "{}:{}: not a JSON object", path.string(), lineno);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace lmlab::probe
