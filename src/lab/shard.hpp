// Sharded sweeps: one spec split into N shards that any launcher (a Slurm job array, GNU
// parallel over ssh, N terminals) runs independently, and the merge that folds their results
// into the main store.
//   lmlab lab run SPEC --shard I/N    runs only shard I's runs; each run records itself in a
//                                     store of its own, <run dir>/run.db, so no SQLite file is
//                                     ever opened by two machines
//   lmlab lab merge [SPEC...]         folds every <runs dir>/**/run.db into the main store
// A run's store is written as run.db.partial (rollback journal, no -shm: safe on a shared
// filesystem) and renamed to run.db only after the run ended and the file was closed, so a
// run.db is always whole; a .partial is a run in progress or one that was killed, and is left
// for the next `lab run --shard` to resume. Merging replaces a run's rows in one transaction,
// and skips a run whose content is already there, so merging twice changes nothing.
// Not for: running the runs (sweep.hpp), what a run does (run.hpp), Slurm scripts (slurm.hpp).
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lab/spec.hpp"

namespace lmlab::store {
class results_store;
}

namespace lmlab::lab {

struct shard {
  int index = 0;  // 0-based, < count
  int count = 1;
};

// Parses "I/N" (0 <= I < N); errors name the flag and give an example.
shard parse_shard(std::string_view text);

// The runs (indices into spec.runs, in grid order) of shard s. The assignment is a function
// of the run ids only: rank the ids in sorted order, and the run of rank k goes to shard
// k mod N. Every shard process computes the same split without talking to the others; the
// shards partition the grid exactly, and their sizes differ by at most one. Editing the spec
// between shards changes the ranks: submit all shards of one spec at once (a job array does).
std::vector<std::size_t> shard_runs(const experiment_spec& spec, shard s);

// A run's own store, once finished or failed, and while running.
std::filesystem::path run_store_path(const std::filesystem::path& run_dir);
std::filesystem::path run_store_partial_path(const std::filesystem::path& run_dir);

struct merge_summary {
  int added = 0, replaced = 0, unchanged = 0;
  int in_progress = 0;                   // run.db.partial files (running, or killed: rerun the shard)
  std::vector<std::string> warnings;     // a skipped file, with why
  std::vector<std::string> missing;      // runs of the given specs that no shard has delivered
};

// Folds every run store under `runs_dir` (any depth) into `into`. A file that cannot be read,
// or fails SQLite's quick_check is skipped with a warning naming
// it; a failed run never replaces a finished one. With specs, their runs still missing from
// `into` afterwards are listed.
merge_summary merge_run_stores(store::results_store& into, const std::filesystem::path& runs_dir,
                               const std::vector<experiment_spec>& specs, std::FILE* progress);

}  // namespace lmlab::lab
