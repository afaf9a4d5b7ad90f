// Report sections for finished probe runs: one section per suite, each with its figure(s),
// the numbers as a table, and a one-sentence answer generated from the measured numbers
// ("Accuracy fell from 92% (original) to 71% (NoOp), a drop of 21 points ± 6 (clustered SE).").
// Figures: sycophancy flip rates with Wilson intervals (bars), calibration reliability
// diagram (bars per confidence bin with the diagonal), lost-in-the-middle accuracy by
// position (lines), nondeterminism agreement per (T, concurrency) (bars), hallucination
// label rates per question kind (bars), perturbation accuracy per variant and per base
// (points ± 1.96 clustered SE), compositional accuracy per SCAN split (bars with Wilson
// intervals). Several runs share each figure, one colour per run.
// Input is the results JSON a run wrote (results_<timestamp>.json), or the same rebuilt from
// the results store's samples when that file is gone (stored_results).
// Not for: rendering HTML (report/), computing the metrics (the suites' aggregate()).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "report/report.hpp"
#include "store/results_store.hpp"

namespace lmlab::probe {

struct report_run {
  std::string label;        // how the run is named in figures ("openai/gpt-4o-mini")
  nlohmann::json results;   // results_<timestamp>.json content (runner.hpp)
};

// The results JSON of a stored probe run: the file recorded as its "results" artifact when it
// still exists, else rebuilt by re-aggregating the run's stored samples per suite.
nlohmann::json stored_results(store::results_store& db, std::int64_t run_id);

// Runs by id or name, labelled by model (with " #<id>" where two runs share a model).
std::vector<report_run> load_report_runs(store::results_store& db, const std::vector<std::string>& refs);

// One section per suite that any run has, in the order of all_suites(); suites without a
// builder get a generic section (a table of their metrics).
std::vector<report::section> probe_report_sections(const std::vector<report_run>& runs);

// The whole document (title, provenance, sections) for write_report.
report::document probe_report_document(const std::vector<report_run>& runs);

// Registers (once) the section source "probe" with the report (report/sources.hpp): the
// sections of the store's finished probe runs, and the probe document for a store of only
// those. Called by the CLI's probe verbs, so `lmlab report` includes probe runs.
void register_report_source();

// Display helpers used in the answers (exposed for tests): 0.923 -> "92%", 0.2104 -> "21".
std::string percent(double p);
std::string points(double p);

}  // namespace lmlab::probe

