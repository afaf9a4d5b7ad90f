// Sharded sweeps and their merge: see shard.hpp.
#include "lab/shard.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/error.hpp"
#include "lab/sweep.hpp"
#include "store/results_store.hpp"

namespace lmlab::lab {
namespace fs = std::filesystem;

shard parse_shard(std::string_view text) {
  const std::string hint = "write --shard I/N with 0 <= I < N, e.g. --shard 0/4 (Slurm: --shard ${SLURM_ARRAY_TASK_ID}/4)";
  const auto slash = text.find('/');
  auto number = [&](std::string_view part, int& out) {
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && p == part.data() + part.size() && !part.empty();
  };
  shard s;
  if (slash == std::string_view::npos || !number(text.substr(0, slash), s.index) || !number(text.substr(slash + 1), s.count))
    throw usage_error(fmt::format("--shard {}: expected I/N", text), hint);
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    throw usage_error(fmt::format("--shard {}: shard {} of {} does not exist", text, s.index, s.count), hint);
  return s;
}

std::vector<std::size_t> shard_runs(const experiment_spec& spec, shard s) {
  LMLAB_CHECK(s.count >= 1 && s.index >= 0 && s.index < s.count, "lab: shard {}/{} does not exist", s.index, s.count);
  std::vector<std::size_t> by_id(spec.runs.size());
  for (std::size_t i = 0; i < by_id.size(); ++i) by_id[i] = i;
  std::sort(by_id.begin(), by_id.end(), [&](std::size_t a, std::size_t b) { return spec.runs[a].id < spec.runs[b].id; });
  std::vector<std::size_t> mine;
  for (std::size_t rank = static_cast<std::size_t>(s.index); rank < by_id.size(); rank += static_cast<std::size_t>(s.count))
    mine.push_back(by_id[rank]);
  std::sort(mine.begin(), mine.end());  // grid order
  return mine;
}

fs::path run_store_path(const fs::path& run_dir) { return run_dir / "run.db"; }
fs::path run_store_partial_path(const fs::path& run_dir) { return run_dir / "run.db.partial"; }

namespace {

// Merges the runs of one run store, or skips the file with a warning that names it.
void merge_one(store::results_store& into, const fs::path& file, merge_summary& sum, std::FILE* progress) {
  auto warn = [&](const std::string& msg) {
    sum.warnings.push_back(msg);
    if (progress) std::fprintf(progress, "warning: %s\n", msg.c_str());
  };
  std::vector<store::run_record> records;
  try {
    store::open_options ro;
    ro.read_only = true;
    store::results_store from(file, ro);
    from.check_integrity();
    for (const auto& r : from.list_runs()) records.push_back(from.read_record(r.id));
  } catch (const error& e) {
    warn(fmt::format("skipped {}: {}", file.string(), e.what()));
    return;
  }
  if (records.empty()) {
    warn(fmt::format("skipped {}: it holds no run", file.string()));
    return;
  }
  for (const auto& rec : records) {
    if (rec.info.status == store::run_status::failed) {
      if (auto have = into.find_run(rec.info.kind, rec.info.name); have && have->status == store::run_status::finished) {
        warn(fmt::format("kept the finished {} over the failed one in {}", rec.info.name, file.string()));
        continue;
      }
    }
    switch (into.import_record(rec)) {
      case store::results_store::import_result::added: ++sum.added; break;
      case store::results_store::import_result::replaced: ++sum.replaced; break;
      case store::results_store::import_result::unchanged: ++sum.unchanged; break;
    }
  }
}

}  // namespace

merge_summary merge_run_stores(store::results_store& into, const fs::path& runs_dir,
                               const std::vector<experiment_spec>& specs, std::FILE* progress) {
  LMLAB_CHECK_HINT(fs::is_directory(runs_dir), "pass the --runs-dir the shards wrote to", "lab merge: no folder {}",
                   runs_dir.string());
  std::vector<fs::path> files;
  merge_summary sum;
  for (const auto& e : fs::recursive_directory_iterator(runs_dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "run.db") files.push_back(e.path());
    else if (name == "run.db.partial") ++sum.in_progress;
  }
  std::sort(files.begin(), files.end());  // a stable order: merges of the same files insert alike
  for (const auto& f : files) merge_one(into, f, sum, progress);
  for (const auto& spec : specs)
    for (const auto& r : spec.runs) {
      const auto have = into.find_run("lab", run_name(spec, r));
      if (!have || (have->status != store::run_status::finished && have->status != store::run_status::failed))
        sum.missing.push_back(run_name(spec, r));
    }
  return sum;
}

}  // namespace lmlab::lab
