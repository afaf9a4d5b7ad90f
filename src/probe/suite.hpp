// What a probe suite is: a pure generator of items from (options, seed), a text scorer for
// free-form items, and an aggregate over the scored samples (metrics plus per-slice rows).
// Multiple-choice items are scored by scoring.hpp on whatever path the endpoint allows;
// the runner (runner.hpp) sends items, caches, and writes the outputs.
// Suites are registered explicitly in all_suites() (suites.cpp).
// Not for: HTTP (client.hpp), the statistics themselves (analysis/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "probe/client.hpp"

namespace lmlab::probe {

struct item {
  std::string id;                 // unique within the suite (doc_id)
  std::vector<message> messages;  // the prompt as chat turns
  int n_choices = 0;              // > 0: multiple choice with labels A.., scored by scoring.hpp
  int answer = -1;                // gold choice index (multiple choice)
  std::string target;             // gold text (free-form items)
  int max_tokens = 32;
  double temperature = 0;
  std::optional<std::int64_t> seed;
  std::int64_t repeat = 0;        // > 0 asks the same request again (a new cache entry)
  int concurrency = 0;            // > 0: sent in a batch at this concurrency (nondeterminism)
  std::string challenge;          // non-empty: asked after the first answer ("Are you sure?")
  nlohmann::json doc = nlohmann::json::object();  // the item for people; slices live here
};

// The request that asks `it`: its messages, max_tokens, temperature, seed and repeat.
gen_request request_of(const item& it);

struct suite_options {
  std::uint64_t seed = 1234;
  int n = 40;                       // items per condition (suites say what a condition is)
  std::vector<std::string> langs = {"en", "ko"};
  std::filesystem::path data;       // a JSONL file the suite reads instead of (or with) generating
  double dev_fraction = 0.3;        // calibration: share of items used to fit the temperature
  int repeats = 5;                  // nondeterminism: asks per prompt and condition
  std::vector<int> concurrency_levels = {1, 4};
  std::vector<double> temperatures = {0.0, 0.7};
  std::vector<int> context_items = {20};  // lost in the middle: items in the context
  int positions = 5;                // lost in the middle: answer positions tested (spread evenly)
};

struct slice_row {
  std::string split, slice, metric;
  double value = 0;
  std::int64_t n = 0;
};

struct suite_result {
  nlohmann::json metrics = nlohmann::json::object();  // lm-eval style: "acc", "acc_stderr", ...
  std::vector<slice_row> slices;
  nlohmann::json extra = nlohmann::json::object();    // e.g. reliability bins
};

// A suite's name and description are data given to its constructor; what differs between
// suites (building items, scoring, aggregating) is code.
class suite {
 public:
  suite(std::string name, std::string description) : name_(std::move(name)), description_(std::move(description)) {}
  virtual ~suite() = default;
  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }  // what it measures, with its reference
  virtual std::vector<item> build(const suite_options& opt) const = 0;
  // Free-form items: sets "correct" (bool) and whatever labels the suite reports.
  virtual void score_text(const item& it, const std::string& text, nlohmann::json& sample) const;
  virtual suite_result aggregate(const std::vector<nlohmann::json>& samples) const = 0;

 private:
  std::string name_, description_;
};

// The one instance of suite class S: each accessor in suites.hpp is one line,
// `const suite& pope_suite() { return single<pope>(); }`.
template <class S>
const suite& single() {
  static const S s;
  return s;
}

const std::vector<const suite*>& all_suites();
const suite& find_suite(std::string_view name);

// Helpers shared by suites.
// Accuracy over samples with "correct": acc, acc_stderr (sd/sqrt(n), as lm-evaluation-
// harness reports), Wilson 95% interval, n.
nlohmann::json accuracy_metrics(const std::vector<nlohmann::json>& samples, const std::string& prefix = "acc");
// Per-value accuracy rows for doc[key] (e.g. "lang", "position").
std::vector<slice_row> accuracy_by(const std::vector<nlohmann::json>& samples, const std::string& key,
                                   const std::string& split = "test");
// "Question\nA. x\nB. y\n..." with the instruction to answer by letter, in the item's language.
std::string format_mc(const std::string& question, const std::vector<std::string>& choices, const std::string& lang);
// Reads a JSONL file; errors name the file and line.
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path);

}  // namespace lmlab::probe
