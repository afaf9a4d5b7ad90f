// Archives of finished runs: an experiment's runs at one size, copied out of a results store
// into a committed, line-oriented text file (results/full/<experiment>.jsonl), so the report
// can show a full-size verdict that took hours without the store that holds it.
//
// The file is JSON Lines. Line 1, the header:
//   {"lmlab_archive": 1, "experiment": "scan", "size": "full", "specs": ["experiments/scan.toml"],
//    "command": "lmlab lab archive ...", "commit": "<git hash of the archiving binary>",
//    "date": "2026-12-08T04:05:00Z", "store": "full.db", "cpu": "<CPU model of the archiving host>",
//    "run_ids": [<every run id the specs produce at that size, sorted>], "runs": <lines that follow>}
// Then one line per finished run, in store order:
//   {"run": "scan/8ae77809e5b8d49a", "id": "8ae77809e5b8d49a", "replicate": 0, "seed": <derived>,
//    "config": {...}, "status": "finished", "git_hash": "...", "host": "...", "created_at": "...",
//    "started_at": "...", "finished_at": "...", "cpu_seconds": 41.2,
//    "metrics": {"train_loss": [[step, value], ...], ...},            (every metric the store holds)
//    "evaluations": [["test", "kv=8", "accuracy", 0.95, 200], ...]}   (split, slice, metric, value, n)
// A value that is not finite is written as null and read back as NaN.
//
// Matching: an archive matches an experiment when the run ids its header and lines carry are
// the ids the experiment's spec files (every experiments/*.toml with that name) produce at the
// archive's size today: a run id is the hash of the run's resolved config, so any change to
// the grid, the size's overrides or a default the config records makes the ids differ and the
// archive stale. Runs of the spec that the archive lacks (not finished when archived) make it
// incomplete, not stale.
// Not for: rendering (report/lab_report.cpp reads archives), running runs (sweep.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "store/results_store.hpp"

namespace lmlab::lab {

struct archived_run {
  store::run_info info;
  std::vector<store::metric_point> metrics;
  std::vector<store::evaluation> evaluations;
};

struct run_archive {
  std::filesystem::path path;
  std::string experiment, size, command, commit, date, store, cpu;
  std::vector<std::string> specs;
  std::vector<std::string> run_ids;  // what the specs produced at `size` when archived
  std::vector<archived_run> runs;
};

// The run ids (16 hex digits) that spec files sharing one experiment name produce at `size`
// (their [sizes.NAME] applied), sorted. Throws if the files name different experiments.
std::vector<std::string> size_run_ids(const std::vector<std::filesystem::path>& specs, std::string_view size,
                                      std::string* experiment = nullptr);

struct archive_summary {
  std::string experiment;
  std::size_t archived = 0, expected = 0;
  std::vector<std::string> missing;  // run names of the spec not finished in the store
  double cpu_seconds = 0;
};

// Writes the finished runs of `specs` (one experiment, files sharing a name) at `size` from
// `db` into `out` (a temp file renamed into place). `command` is recorded in the header.
// Throws when none of the spec's runs is finished in the store.
archive_summary write_archive(store::results_store& db, const std::vector<std::filesystem::path>& specs,
                              std::string_view size, const std::filesystem::path& out, const std::string& command);

// Reads an archive; errors name the file and line ("results/full/x.jsonl:3: ...").
run_archive read_archive(const std::filesystem::path& path);

// How an archive compares with what the specs produce at its size today.
struct archive_match {
  std::vector<std::string> stale;    // archived run ids the specs no longer produce
  std::vector<std::string> missing;  // run ids the specs produce that the archive lacks
  bool matches() const { return stale.empty(); }
  std::string describe(std::size_t archived) const;  // "" when the ids are equal
};
archive_match match_archive(const run_archive& a, const std::vector<std::string>& spec_ids);

}  // namespace lmlab::lab
