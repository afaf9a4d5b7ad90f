// `lmlab lab slurm SPEC`: an sbatch script that runs a spec as a Slurm job array, one array
// task per shard (shard.hpp), at most K at once (`--array=0-(N-1)%K`), each task with its
// cores, memory and time limit, its log under a folder of its own. The array's tasks write
// only their runs' own stores; `lmlab lab merge` (after the array, e.g. as a job with
// `--dependency=afterany:JOBID`) folds them into the main store.
// Cores, memory and time come from the spec's optional [resources] table, overridden by flags:
//   [resources]
//   cpus_per_task = 2        # threads for each array task (its runs split them with -j)
//   mem = "4G"               # sbatch --mem
//   time = "02:00:00"        # sbatch --time
// Not for: submitting or watching jobs (sbatch/squeue do that), running runs (sweep.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmlab::lab {

struct slurm_resources {
  int cpus_per_task = 1;
  std::string mem = "2G";
  std::string time = "01:00:00";
};

// The [resources] table of a spec (defaults where absent); errors name the file and key.
slurm_resources read_resources(std::string_view toml_text, std::string_view source);

struct slurm_job {
  std::string name;                 // job name (the experiment's)
  std::string lmlab;                // absolute path of the lmlab binary on the cluster
  std::string workdir;              // absolute; the tasks cd here
  std::vector<std::string> run_args;  // after `lmlab lab run`: SPEC, --size, --set ..., --store, --runs-dir
  int shards = 1;                   // N: array tasks 0..N-1
  int max_running = 1;              // K: at most K tasks at once
  int jobs_per_task = 1;            // -j inside a task
  slurm_resources res;
  std::string partition;            // empty: the cluster's default
  std::string log_dir;              // %x-%A_%a.out per task
  std::string merge_command;        // printed in the script's header for after the array
};

// The script's text. Every argument is quoted for the shell.
std::string sbatch_script(const slurm_job& job);

// Quotes one word for sh: 'it'\''s' (a word of safe characters is left bare).
std::string shell_quote(std::string_view word);

}  // namespace lmlab::lab
