// The sweep runner: executes an expanded experiment spec as isolated child processes, up to
// `jobs` at a time with the cores split between them, and records each run in the results
// store. A crash, a NaN, an out-of-memory kill or any error marks that run failed with its
// reason and the sweep goes on. Rerunning the same command skips finished runs and restarts
// the others (a child resumes from the last checkpoint in its run folder), so `kill -9` of
// the whole sweep loses no finished run and redoes none. With a shard (shard.hpp) it runs
// only that part of the grid and records each run in a store of its own, not the main one.
// Not for: what a run does (lab/run.hpp), specs (lab/spec.hpp).
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lab/shard.hpp"
#include "lab/spec.hpp"

namespace lmlab::store {
class results_store;
}

namespace lmlab::lab {

struct sweep_options {
  int jobs = 1;                                   // parallel child processes
  int threads = 0;                                // total cores to split (0: all online)
  std::filesystem::path store = "lmlab.db";
  std::filesystem::path runs_dir = "runs";        // <runs_dir>/<experiment>/<run id>/
  bool retry_failed = false;                      // also rerun runs marked failed
  // Run only this shard's runs (shard.hpp), each recorded in its own <run dir>/run.db; the
  // main store is not opened (`lab merge` folds the run stores into it later).
  std::optional<shard> only_shard;
  std::FILE* progress = stderr;                   // nullptr: quiet
  // The child's argv for one run (tests substitute a script). Default: this executable
  // with `lab exec --store S --run NAME --dir DIR --threads T`.
  std::function<std::vector<std::string>(const std::string& run_name, const std::filesystem::path& dir, int threads)>
      child_argv;
};

struct sweep_summary {
  int total = 0, skipped = 0, finished = 0, failed = 0;
  std::vector<std::string> failures;  // "run-name: reason"
};

// The store name of a run: "<experiment>/<run id>".
std::string run_name(const experiment_spec& spec, const run_config& run);
// The config stored for a run: the run's config plus {"experiment", "question", "run_id"}.
nlohmann::json stored_config(const experiment_spec& spec, const run_config& run);

sweep_summary run_sweep(const experiment_spec& spec, const sweep_options& opt);
// Several specs' runs in one queue over the same -j workers (`lab suite`, `lab run A B`), so
// no worker idles at the end of one spec while another spec's runs wait. Every run is
// registered first, spec by spec in grid order (the store rows are those of running the specs
// one after another), then the runs start longest expected first (LPT). Returns one summary
// per spec; a run that two specs both hold (one name) runs once and the later spec skips it.
std::vector<sweep_summary> run_sweeps(const std::vector<experiment_spec>& specs, const sweep_options& opt);

// The queue's order. spec_cost: a run's training FLOPs from its stored config (6 x 12 L d^2
// per token of train.steps x batch_size x task.seq_len, or train.flops / train.tokens, plus the
// task's own training loops), a relative measure only. cost_key: the config without seed,
// name and question, so a finished run of another seed stands for this one.
// expected_costs: per config, the known CPU-seconds of its key where there is one, else its
// spec_cost scaled by the median CPU-s per FLOP of the known ones. longest_first: indices by
// cost, largest first, ties in their given order. finished_cpu_seconds: the mean cpu_seconds
// metric of the store's finished lab runs, by cost_key.
double spec_cost(const nlohmann::json& config);
std::string cost_key(const nlohmann::json& stored_config);
std::vector<double> expected_costs(const std::vector<nlohmann::json>& configs, const std::map<std::string, double>& known);
std::vector<std::size_t> longest_first(const std::vector<double>& costs);
std::map<std::string, double> finished_cpu_seconds(store::results_store& db);

// Turns a child's exit status (from waitpid) and the tail of its stderr into a failure reason:
// the last "error: ..." line, else "exit code N", or the signal with a likely cause.
std::string failure_reason(int wait_status, const std::string& stderr_tail);

}  // namespace lmlab::lab
