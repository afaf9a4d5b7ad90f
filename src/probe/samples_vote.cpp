// n samples per item, majority vote and pass@k for served models: see samples_vote.hpp.
#include "probe/samples_vote.hpp"

#include <map>

#include "core/error.hpp"
#include "probe/scoring.hpp"

namespace lmlab::probe {
using json = nlohmann::json;

double unbiased_pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k) {
  LMLAB_CHECK(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n, "pass@k: need 0 <= c <= n and 1 <= k <= n, got n={} c={} k={}",
              n, c, k);
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  double miss = 1.0;          // C(n−c, k)/C(n, k)
  for (std::int64_t i = n - c + 1; i <= n; ++i) miss *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - miss;
}

std::vector<std::int64_t> sample_ks(std::int64_t n) {
  std::vector<std::int64_t> ks;
  for (std::int64_t k = 1; k <= n; k *= 2) ks.push_back(k);
  if (!ks.empty() && ks.back() != n) ks.push_back(n);
  return ks;
}

std::string vote_key(const json& scored, const std::string& text) {
  if (!scored.value("parsed", true)) return "";
  if (scored.contains("pred")) {
    const json& p = scored["pred"];
    if (p.is_null() || (p.is_number() && p.get<double>() < 0) || (p.is_string() && p.get<std::string>().empty())) return "";
    return p.dump();
  }
  return normalize_answer(text);
}

bool majority_correct(const json& samples, std::int64_t k) {
  std::map<std::string, std::pair<std::int64_t, std::size_t>> votes;  // key -> (count, first index)
  for (std::size_t i = 0; i < samples.size() && static_cast<std::int64_t>(i) < k; ++i) {
    const std::string key = samples[i].value("key", "");
    if (key.empty()) continue;
    auto [it, fresh] = votes.try_emplace(key, 0, i);
    ++it->second.first;
  }
  std::int64_t best = 0;
  std::size_t first = 0;
  for (const auto& [key, v] : votes)
    if (v.first > best || (v.first == best && v.second < first)) best = v.first, first = v.second;
  return best > 0 && samples[first].value("correct", false);
}

void summarise_samples(json samples, json& s) {
  const auto n = static_cast<std::int64_t>(samples.size());
  LMLAB_CHECK(n >= 1, "samples: an item has no samples");
  std::int64_t c = 0;
  for (auto& x : samples) {
    if (!x.contains("key")) x["key"] = vote_key(x, x.value("text", ""));
    c += x.value("correct", false);
  }
  json pass = json::object(), maj = json::object();
  for (auto k : sample_ks(n)) {
    pass[std::to_string(k)] = unbiased_pass_at_k(n, c, k);
    maj[std::to_string(k)] = majority_correct(samples, k) ? 1.0 : 0.0;
  }
  s["samples"] = std::move(samples);
  s["n_correct"] = c;
  s["pass@k"] = pass;
  s["majority@k"] = maj;
}

void add_samples(client& c, const capabilities& caps, const suite& su, const item& it, json& s, const sampling_options& opt) {
  if (opt.n <= 1 || it.n_choices > 0) return;
  LMLAB_CHECK_HINT(opt.temperature > 0, "pass --sample-temperature 0.7 (or any value > 0)",
                   "probe: --samples {} needs a sampling temperature > 0, got {}", opt.n, opt.temperature);
  json samples = json::array();
  bool cached = s.value("from_cache", false);
  for (int j = 0; j < opt.n; ++j) {
    gen_request q = request_of(it);
    q.temperature = opt.temperature;
    q.seed = it.seed.value_or(0) + 7919 * static_cast<std::int64_t>(j + 1);
    const auto r = c.generate(caps.preferred, q);
    cached = cached && r.from_cache;
    json scored = json::object();
    su.score_text(it, r.text, scored);
    samples.push_back({{"text", r.text},
                       {"pred", scored.value("pred", json(nullptr))},
                       {"correct", scored.value("correct", false)},
                       {"key", vote_key(scored, r.text)}});
  }
  summarise_samples(std::move(samples), s);
  s["sample_temperature"] = opt.temperature;
  s["from_cache"] = cached;
}

void add_sample_aggregates(const std::vector<json>& samples, suite_result& r) {
  std::map<std::int64_t, std::pair<double, double>> sums;  // k -> (pass, majority)
  std::map<std::int64_t, std::int64_t> counts;
  for (const auto& s : samples) {
    if (!s.contains("pass@k")) continue;
    for (auto it = s["pass@k"].begin(); it != s["pass@k"].end(); ++it) {
      const std::int64_t k = std::stoll(it.key());
      sums[k].first += it.value().get<double>();
      sums[k].second += s["majority@k"].value(it.key(), 0.0);
      ++counts[k];
    }
  }
  for (const auto& [k, v] : sums) {
    const double n = static_cast<double>(counts[k]);
    r.metrics[fmt::format("pass@{}", k)] = v.first / n;
    r.metrics[fmt::format("majority@{}", k)] = v.second / n;
    r.slices.push_back({"samples", fmt::format("k={}", k), "pass", v.first / n, counts[k]});
    r.slices.push_back({"samples", fmt::format("k={}", k), "majority", v.second / n, counts[k]});
  }
}

}  // namespace lmlab::probe
