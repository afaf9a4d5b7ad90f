// Internal to the report layer: an experiment's runs grouped into variants, with per-seed
// statistics, and the metric lookup (NAME[@SLICE], lab/experiment_meta.hpp) that the figures
// and the agreement rules share.
// Not for: use outside src/report (lab_report.hpp is the interface).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lab/experiment_meta.hpp"
#include "report/lab_report.hpp"

namespace lmlab::report {

struct seed_stat {
  double mean = 0, lo = 0, hi = 0;
  std::size_t n = 0;
  double half() const { return (hi - lo) / 2; }
};
// Mean with a Student-t 95% CI (one value: lo = hi = mean; none: n = 0).
seed_stat stat_of(const std::vector<double>& v);

struct variant {
  std::string label;
  nlohmann::json config;                        // the first run's config
  std::map<std::string, std::string> attrs;     // variant_key(config) + model.pattern
  std::vector<const lab_run*> finished;         // its finished runs
  std::vector<std::int64_t> seeds;              // of the finished runs
  std::vector<std::string> failures;            // "seed 2: reason"
  std::vector<double> accuracy, train_accuracy, final_loss, params, train_flops, steps;
  seed_stat acc;                                // test accuracy, slice "all"
  std::map<std::string, std::vector<double>> slice_acc;  // test split per slice
  // Inference-time variants of the same runs: split "test@yarn:4" -> slice -> accuracies.
  std::map<std::string, std::map<std::string, std::vector<double>>> rescaled_slice_acc;
  std::size_t runs = 0;
};

struct slice_info {
  std::string name;
  double difficulty = 0;
};

struct experiment_data {
  std::string id;
  std::vector<variant> variants;   // in order of first run
  std::vector<slice_info> slices;  // test slices, ordered by (difficulty, name)
  std::size_t runs = 0, failed = 0;
};

// `runs` must outlive the result (variants point into it).
experiment_data gather(const std::string& id, const std::vector<lab_run>& runs);

// The slice a metric names, with "hardest"/"easiest" resolved ("" when there are no slices).
std::string resolved_slice(const experiment_data& d, const lab::metric_ref& m);
// One value per finished seed of `v` (seeds lacking the metric are left out).
std::vector<double> metric_values(const experiment_data& d, const variant& v, const lab::metric_ref& m);
// Whether a variant's config passes every condition of a group ("all": every variant).
bool in_group(const variant& v, const lab::variant_group* g);

// The entry of doc[array_key] whose "id" is `id` (questions.json, claims.json), or null.
const nlohmann::json* find_by_id(const nlohmann::json& doc, const char* array_key, const std::string& id);

std::string fmt2(double v);
// The flag a variant with fewer than 3 seeds carries: "n = 1: no interval", "n = 2: fewer than 3 seeds"; else "".
std::string seed_flag(std::size_t n);
// "0.98 ± 0.02" (two or more seeds) or "0.98" (one).
std::string mean_pm(const seed_stat& s);

// The comparison paragraph's verdict (section::verdict): preconditions first, then the rules.
verdict agreement(const experiment_data& d, const lab::expectation& e);

}  // namespace lmlab::report
