// The lab section of the report: turns the lab runs in the results store (kind "lab", name
// "<experiment>/<run id>", written by src/lab/run.cpp) into one report section per experiment:
//   - the research question (English, plus the Korean quote and its lines from
//     data/notes/questions.json) and the notes' wrong/imprecise claims from claims.json;
//   - figures, each with its data CSV: loss curves (mean over seeds per variant), test accuracy
//     per difficulty slice (mean ± 95% CI over seeds), a slice × variant accuracy heatmap, and
//     final test accuracy per variant;
//   - a table of variants (seeds, parameters, accuracy mean ± CI, failures with their reason);
//   - a measured one-sentence answer and a comparison with the published qualitative result,
//     decided from the data by the rule in the experiment's spec;
//   - the spec's extra [[report.plot]] figures (e.g. accuracy against state size).
// What is experiment-specific (title, question id, figures, expectation and rule) comes from
// the spec TOML ([report], [expect]: lab/experiment_meta.hpp); no experiment is named here.
// A "variant" is a run's config minus the replicate keys (seed, run_id, derived_seed, ...);
// its label lists only the keys that differ across the experiment ("pattern=M d_model=64").
// Not for: running experiments (lab/), rendering HTML (report.hpp), probe runs (probe/).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lab/experiment_meta.hpp"
#include "report/report.hpp"
#include "store/results_store.hpp"

namespace lmlab::report {

// data/notes/questions.json and claims.json, parsed (errors name the file).
struct lab_notes {
  nlohmann::json questions = nlohmann::json::object();  // {"questions": [...]}
  nlohmann::json claims = nlohmann::json::object();     // {"claims": [...]}
};
lab_notes load_lab_notes(const std::filesystem::path& notes_dir);

// The variant of a run config as dotted keys -> display values ("model.d_model" -> "64"),
// without the replicate keys seed, run_id, derived_seed, question and experiment.
std::map<std::string, std::string> variant_key(const nlohmann::json& config);

// One label per config: the keys whose values differ across the configs, by their last
// dotted component (the full path where two differing keys share one), in key order:
// "pattern=MMMM d_model=64". All configs equal: every label is "all runs".
std::vector<std::string> variant_labels(const std::vector<nlohmann::json>& configs);

// The runs of one experiment, with what the store holds for each.
struct lab_run {
  store::run_info info;
  std::vector<store::metric_point> metrics;
  std::vector<store::evaluation> evaluations;
};

// The section of one experiment (its runs in store order). `notes` may be empty objects;
// `meta` (title, question id, figures, expectation: lab/experiment_meta.hpp) may be null: the
// experiment's name as title and question id, the built-in figures, no expectation.
section lab_experiment_section(const std::string& experiment, const std::vector<lab_run>& runs, const lab_notes& notes,
                               const lab::report_meta* meta = nullptr);

// The full-size paragraph of an experiment's section, from its archive (lab/archive.hpp):
// "Full size (archived DATE at COMMIT, N seeds, R runs, C CPU-s): Verdict: ... Key numbers: ...",
// the verdict computed by the same rule as the store's (agreement on the archived runs). When
// the quick verdict (`quick`) is undecided and the spec's [expect] quick_limit says why the
// quick size cannot decide, that comes first. No archive file: only the quick_limit part.
// An unreadable archive, one of another experiment, or one whose run ids the spec no longer
// produces at its size: the paragraph says so instead of a verdict, and `warnings` gets the
// message (file and line). Runs identical to `quick_runs` (the store is the archived one): no
// full-size line.
struct full_size_text {
  std::string text;
  std::optional<verdict> archived;  // the archived runs' verdict, when one was computed
  std::vector<std::string> warnings;
};
full_size_text full_size_paragraph(const std::string& experiment, const std::filesystem::path& archive,
                                   const lab::report_meta* meta, const std::optional<verdict>& quick,
                                   const std::vector<lab_run>& quick_runs);

struct lab_report_options {
  std::vector<std::string> filter;            // experiment names; empty: all in the store
  std::filesystem::path notes_dir = "data/notes";
  std::filesystem::path experiments_dir = "experiments";  // the specs' [report] and [expect] tables
  std::filesystem::path archive_dir = "results/full";      // <experiment>.jsonl archives (lab/archive.hpp)
};

// Experiment names of the lab runs in the store, ordered as questions.json lists their
// questions (an experiment's question id is its meta's, else its name), then by name.
std::vector<std::string> lab_experiments(store::results_store& db, const lab_notes& notes = {},
                                         const std::map<std::string, lab::report_meta>& metas = {});

// The sections of every (filtered) experiment. An empty store, or a filter naming an
// experiment the store lacks, is an error with a hint.
std::vector<section> lab_report_sections(store::results_store& db, const lab_report_options& opt = {});

// The whole document (title, provenance from the store, sections) for write_report.
document lab_report_document(store::results_store& db, const lab_report_options& opt = {});

}  // namespace lmlab::report
