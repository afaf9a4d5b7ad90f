// The sbatch script of a sharded sweep: see slurm.hpp.
#include "lab/slurm.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.hpp"

namespace lmlab::lab {

std::string shell_quote(std::string_view w) {
  const bool safe = !w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                      "_-./=:,+%@") == std::string_view::npos;
  if (safe) return std::string(w);
  std::string out = "'";
  for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

slurm_resources read_resources(std::string_view toml_text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(source));
  } catch (const toml::parse_error& e) {
    throw error(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  slurm_resources r;
  const toml::node* t = root.get("resources");
  if (!t) return r;
  LMLAB_CHECK_HINT(t->is_table(), "write a [resources] table", "{}: resources: expected a table", source);
  for (auto&& [k, v] : *t->as_table()) {
    const std::string key(k.str());
    const std::string where = fmt::format("{}:{}: resources.{}", source, v.source().begin.line, key);
    if (key == "cpus_per_task") {
      LMLAB_CHECK_HINT(v.is_integer() && v.as_integer()->get() >= 1, "e.g. cpus_per_task = 2", "{}: expected a positive integer",
                       where);
      r.cpus_per_task = static_cast<int>(v.as_integer()->get());
    } else if (key == "mem" || key == "time") {
      LMLAB_CHECK_HINT(v.is_string(), key == "mem" ? "e.g. mem = \"4G\"" : "e.g. time = \"02:00:00\"",
                       "{}: expected a string", where);
      (key == "mem" ? r.mem : r.time) = v.as_string()->get();
    } else {
      throw error(fmt::format("{}: unknown key", where), "resources keys: cpus_per_task, mem, time");
    }
  }
  return r;
}

std::string sbatch_script(const slurm_job& j) {
  LMLAB_CHECK(j.shards >= 1 && j.max_running >= 1 && j.jobs_per_task >= 1,
              "lab slurm: shards, max running and jobs per task must be at least 1");
  std::string run;
  for (const auto& a : j.run_args) run += " " + shell_quote(a);
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Written by `lmlab lab slurm`: {} shards of experiment {}, at most {} at once.\n", j.shards, j.name,
                   j.max_running);
  s += "# Submit:   sbatch THIS_FILE\n";
  s += fmt::format("# Then:     {}\n", j.merge_command);
  s += "#           (or submit that with --dependency=afterany:JOBID; merging twice changes nothing)\n";
  s += fmt::format("#SBATCH --job-name={}\n", shell_quote("lmlab-" + j.name));
  s += fmt::format("#SBATCH --array=0-{}%{}\n", j.shards - 1, j.max_running);
  s += "#SBATCH --ntasks=1\n";
  s += fmt::format("#SBATCH --cpus-per-task={}\n", j.res.cpus_per_task);
  s += fmt::format("#SBATCH --mem={}\n", j.res.mem);
  s += fmt::format("#SBATCH --time={}\n", j.res.time);
  if (!j.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", j.partition);
  s += fmt::format("#SBATCH --output={}/%x-%A_%a.out\n", shell_quote(j.log_dir));
  s += fmt::format("#SBATCH --chdir={}\n", shell_quote(j.workdir));
  s += "set -euo pipefail\n";
  s += ": \"${SLURM_ARRAY_TASK_ID:?this script is a Slurm job array: submit it with sbatch}\"\n";
  s += fmt::format("exec {} lab run{} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" -j {} --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
                   shell_quote(j.lmlab), run, j.shards, j.jobs_per_task, j.res.cpus_per_task);
  return s;
}

}  // namespace lmlab::lab
