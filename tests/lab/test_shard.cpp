// Sharded sweeps (lab/shard.hpp) and their Slurm script (lab/slurm.hpp): the shards partition
// any grid exactly; a sharded sweep writes one whole run.db per run and never the main store;
// merging is idempotent, skips damaged or half-written files with a warning naming them, and
// never lets a failed run replace a finished one.
#include "lab/shard.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "lab/slurm.hpp"
#include "lab/sweep.hpp"
#include "store/results_store.hpp"
#include "copy_grid.hpp"

namespace fs = std::filesystem;
using namespace lmlab;

namespace {

// A grid of the given d_model axis (a comma list) x `seeds` replicates.
lab::experiment_spec grid_of(const std::string& widths, int seeds) {
  return lmlab::testing::copy_grid("shardtest", widths, std::to_string(seeds));
}

lab::experiment_spec grid(int widths, int seeds) {
  std::string w;
  for (int i = 0; i < widths; ++i) w += (i ? "," : "") + std::to_string(8 * (i + 1));
  return grid_of(w, seeds);
}

struct sandbox {
  fs::path dir = fs::temp_directory_path() / ("lmlab_shard_" + std::to_string(::getpid()));
  sandbox() { fs::remove_all(dir); fs::create_directories(dir); }
  ~sandbox() { fs::remove_all(dir); }
};

// Everything a store holds, as text: equal dumps mean equal stores (ids included).
std::string dump(const fs::path& file) {
  store::results_store db(file);
  std::ostringstream os;
  db.runs_table().print(os, table_format::csv);
  db.metrics_table().print(os, table_format::csv);
  db.evaluations_table().print(os, table_format::csv);
  return os.str();
}

// Runs shards 0..n-1 of `spec` with children that exit 0, except `fail_index` (exits 1).
lab::sweep_options sharded(const sandbox& sb, const lab::experiment_spec& spec, int* started, std::size_t fail_index = 999) {
  lab::sweep_options o;
  o.store = sb.dir / "main.db";
  o.runs_dir = sb.dir / "runs";
  o.progress = nullptr;
  o.child_argv = [&spec, started, fail_index](const std::string& name, const fs::path&, int) {
    if (started) ++*started;
    const bool fail = fail_index < spec.runs.size() && name == lab::run_name(spec, spec.runs[fail_index]);
    return std::vector<std::string>{"/bin/sh", "-c", fail ? "echo 'error: lab: boom' >&2; exit 1" : "exit 0"};
  };
  return o;
}

// Every run of `spec` as one shard (0 of 1), none failing; the options name the stores.
lab::sweep_options run_as_one_shard(const sandbox& sb, const lab::experiment_spec& spec) {
  auto o = sharded(sb, spec, nullptr);
  o.only_shard = lab::shard{0, 1};
  lab::run_sweep(spec, o);
  return o;
}

// As a real run would: metrics and evaluations in the run's own store.
void add_results(const fs::path& run_db, double value) {
  store::results_store db(run_db);
  const auto id = db.list_runs().at(0).id;
  db.log_metric(id, 10, "train_loss", value);
  db.log_metric(id, 20, "nan_metric", NAN);
  db.log_evaluation(id, "test", "all", "accuracy", value / 10, 7);
}

}  // namespace

TEST(shard, parse_shard_accepts_i_of_n_and_rejects_the_rest) {
  EXPECT_EQ(lab::parse_shard("0/1").count, 1);
  EXPECT_EQ(lab::parse_shard("3/4").index, 3);
  for (const char* bad : {"4/4", "-1/4", "1", "a/b", "1/0", "/4", "1/", "1/4x"}) {
    try {
      lab::parse_shard(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--shard ") + bad), std::string::npos) << e.what();
    }
  }
}

TEST(shard, shards_cover_the_grid_exactly_once_for_any_n) {
  for (auto [widths, seeds] : {std::pair{1, 1}, {3, 2}, {5, 7}}) {
    const auto spec = grid(widths, seeds);
    const std::size_t runs = spec.runs.size();
    for (int n = 1; n <= static_cast<int>(runs) + 3; ++n) {
      std::vector<int> owner(runs, -1);
      std::size_t smallest = runs, largest = 0;
      for (int i = 0; i < n; ++i) {
        const auto mine = lab::shard_runs(spec, {i, n});
        smallest = std::min(smallest, mine.size());
        largest = std::max(largest, mine.size());
        for (std::size_t r : mine) {
          ASSERT_LT(r, runs);
          EXPECT_EQ(owner[r], -1) << "run " << r << " in shards " << owner[r] << " and " << i << " of " << n;
          owner[r] = i;
        }
      }
      for (std::size_t r = 0; r < runs; ++r) EXPECT_NE(owner[r], -1) << "run " << r << " in no shard of " << n;
      EXPECT_LE(largest - smallest, 1u) << n << " shards of " << runs << " runs";
    }
  }
}

TEST(shard, assignment_depends_on_run_ids_not_on_grid_order) {
  // The same runs listed in another order (the axis values reversed) land in the same shards.
  const auto a = grid(5, 3);
  const auto b = grid_of("40,32,24,16,8", 3);
  ASSERT_EQ(a.runs.size(), b.runs.size());
  for (int i = 0; i < 4; ++i) {
    std::set<std::string> ia, ib;
    for (auto r : lab::shard_runs(a, {i, 4})) ia.insert(a.runs[r].id);
    for (auto r : lab::shard_runs(b, {i, 4})) ib.insert(b.runs[r].id);
    EXPECT_EQ(ia, ib) << "shard " << i;
  }
}

TEST(shard, sharded_sweep_writes_one_run_store_per_run_and_no_main_store) {
  sandbox sb;
  const auto spec = grid(3, 2);
  int started = 0;
  auto o = sharded(sb, spec, &started, 1);
  for (int i = 0; i < 3; ++i) {
    o.only_shard = lab::shard{i, 3};
    lab::run_sweep(spec, o);
  }
  EXPECT_EQ(started, 6);
  EXPECT_FALSE(fs::exists(o.store)) << "a shard opened the main store";
  for (std::size_t i = 0; i < spec.runs.size(); ++i) {
    const fs::path dir = o.runs_dir / spec.name / spec.runs[i].id;
    ASSERT_TRUE(fs::exists(lab::run_store_path(dir))) << dir;
    EXPECT_FALSE(fs::exists(lab::run_store_partial_path(dir)));
    EXPECT_FALSE(fs::exists(dir / "run.db-wal")) << "a run store must not use WAL (shared filesystems)";
    store::results_store db(lab::run_store_path(dir));
    auto runs = db.list_runs();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].name, lab::run_name(spec, spec.runs[i]));
    EXPECT_EQ(runs[0].status, i == 1 ? store::run_status::failed : store::run_status::finished);
    if (i == 1) EXPECT_EQ(runs[0].failure_reason, "lab: boom");
  }
  // A rerun of every shard starts nothing; --retry-failed starts only the failed run.
  for (int i = 0; i < 3; ++i) {
    o.only_shard = lab::shard{i, 3};
    lab::run_sweep(spec, o);
  }
  EXPECT_EQ(started, 6);
  o.retry_failed = true;
  for (int i = 0; i < 3; ++i) {
    o.only_shard = lab::shard{i, 3};
    lab::run_sweep(spec, o);
  }
  EXPECT_EQ(started, 7);
  // A damaged run.db (a crashed copy) is moved aside and its run starts again.
  const fs::path dir0 = o.runs_dir / spec.name / spec.runs[0].id;
  std::ofstream(lab::run_store_path(dir0), std::ios::trunc) << "not a database";
  o.retry_failed = false;
  for (int i = 0; i < 3; ++i) {
    o.only_shard = lab::shard{i, 3};
    lab::run_sweep(spec, o);
  }
  EXPECT_EQ(started, 8);
  EXPECT_TRUE(fs::exists(dir0 / "run.db.damaged"));
  EXPECT_EQ(store::results_store(lab::run_store_path(dir0)).list_runs().at(0).status, store::run_status::finished);
}

TEST(shard, merge_is_idempotent_and_keeps_values_exactly) {
  sandbox sb;
  const auto spec = grid(2, 2);
  auto o = sharded(sb, spec, nullptr);
  for (int i = 0; i < 2; ++i) {
    o.only_shard = lab::shard{i, 2};
    lab::run_sweep(spec, o);
  }
  for (std::size_t i = 0; i < spec.runs.size(); ++i)
    add_results(lab::run_store_path(o.runs_dir / spec.name / spec.runs[i].id), 1.0 / 3 + static_cast<double>(i));

  store::results_store main(o.store);
  auto m1 = lab::merge_run_stores(main, o.runs_dir, {spec}, nullptr);
  EXPECT_EQ(m1.added, 4);
  EXPECT_TRUE(m1.warnings.empty());
  EXPECT_TRUE(m1.missing.empty());
  const std::string once = dump(o.store);
  auto m2 = lab::merge_run_stores(main, o.runs_dir, {spec}, nullptr);
  EXPECT_EQ(m2.unchanged, 4);
  EXPECT_EQ(m2.added + m2.replaced, 0);
  EXPECT_EQ(dump(o.store), once);

  // Every value as the run wrote it (1/3 + i exactly; NaN stays NaN, i.e. NULL).
  for (std::size_t i = 0; i < spec.runs.size(); ++i) {
    auto r = main.find_run("lab", lab::run_name(spec, spec.runs[i]));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, store::run_status::finished);
    EXPECT_EQ(r->config, lab::stored_config(spec, spec.runs[i]));
    auto loss = main.metrics(r->id, "train_loss");
    ASSERT_EQ(loss.size(), 1u);
    EXPECT_EQ(loss[0].value, 1.0 / 3 + static_cast<double>(i));
    auto rec = main.read_record(r->id);
    ASSERT_EQ(rec.metrics.size(), 2u);
    EXPECT_TRUE(std::isnan(rec.metrics[0].value)) << rec.metrics[0].name;
  }

  // A run redone in its shard (new numbers) replaces the merged one, and only that one.
  add_results(lab::run_store_path(o.runs_dir / spec.name / spec.runs[0].id), 42.0);
  auto m3 = lab::merge_run_stores(main, o.runs_dir, {spec}, nullptr);
  EXPECT_EQ(m3.replaced, 1);
  EXPECT_EQ(m3.unchanged, 3);
  EXPECT_EQ(main.metrics(main.find_run("lab", lab::run_name(spec, spec.runs[0]))->id, "train_loss").at(0).value, 42.0);
}

TEST(shard, merge_skips_damaged_and_half_written_stores_with_a_warning) {
  sandbox sb;
  const auto spec = grid(3, 1);
  const auto o = run_as_one_shard(sb, spec);
  for (std::size_t i = 0; i < spec.runs.size(); ++i) {
    // Enough rows for several pages, so that cutting the file loses some of them.
    store::results_store db(lab::run_store_path(o.runs_dir / spec.name / spec.runs[i].id));
    std::vector<std::pair<std::string, double>> many;
    for (int k = 0; k < 400; ++k) many.emplace_back("metric_with_a_long_name_" + std::to_string(k), k);
    db.log_metrics(db.list_runs().at(0).id, 1, many);
  }
  const fs::path cut = lab::run_store_path(o.runs_dir / spec.name / spec.runs[0].id);
  const fs::path junk = lab::run_store_path(o.runs_dir / spec.name / spec.runs[1].id);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  std::ofstream(junk, std::ios::trunc) << "this is not a SQLite file, it is what a crashed copy left";
  // A run still in progress (or killed): its partial store is not merged, only counted.
  fs::create_directories(sb.dir / "runs/shardtest/ffff");
  std::ofstream(sb.dir / "runs/shardtest/ffff/run.db.partial") << "";

  store::results_store main(o.store);
  auto m = lab::merge_run_stores(main, o.runs_dir, {spec}, nullptr);
  EXPECT_EQ(m.added, 1);
  EXPECT_EQ(m.in_progress, 1);
  ASSERT_EQ(m.warnings.size(), 2u);
  std::set<std::string> named;
  for (const auto& w : m.warnings) {
    for (const auto& f : {cut, junk})
      if (w.find("skipped " + f.string() + ": ") == 0) named.insert(f.string());
  }
  EXPECT_EQ(named.size(), 2u) << m.warnings[0] << "\n" << m.warnings[1];
  EXPECT_EQ(m.missing.size(), 2u);
  EXPECT_EQ(main.list_runs().size(), 1u);
}

TEST(shard, a_failed_shard_never_replaces_a_finished_run) {
  sandbox sb;
  const auto spec = grid(1, 1);
  const auto o = run_as_one_shard(sb, spec);
  store::results_store main(o.store);
  EXPECT_EQ(lab::merge_run_stores(main, o.runs_dir, {}, nullptr).added, 1);
  {
    store::results_store db(lab::run_store_path(o.runs_dir / spec.name / spec.runs[0].id));
    db.mark_failed(db.list_runs().at(0).id, "later attempt crashed");
  }
  auto m = lab::merge_run_stores(main, o.runs_dir, {}, nullptr);
  EXPECT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(main.list_runs().at(0).status, store::run_status::finished);
}

TEST(slurm, script_has_the_array_resources_logs_and_shard_command) {
  lab::slurm_job j;
  j.name = "recall";
  j.lmlab = "/opt/lmlab/bin/lmlab";
  j.workdir = "/home/me/my experiments";
  j.run_args = {"/home/me/exp/recall.toml", "--size", "quick", "--set", "model.d_model=64,128", "--runs-dir", "/scratch/runs"};
  j.shards = 12;
  j.max_running = 4;
  j.jobs_per_task = 2;
  j.res = {4, "8G", "00:30:00"};
  j.partition = "cpu";
  j.log_dir = "/scratch/logs";
  j.merge_command = "lmlab lab merge ...";
  const std::string s = lab::sbatch_script(j);
  for (const char* line :
       {"#!/bin/bash\n", "#SBATCH --array=0-11%4\n", "#SBATCH --cpus-per-task=4\n", "#SBATCH --mem=8G\n",
        "#SBATCH --time=00:30:00\n", "#SBATCH --partition=cpu\n", "#SBATCH --output=/scratch/logs/%x-%A_%a.out\n",
        "#SBATCH --chdir='/home/me/my experiments'\n",
        "exec /opt/lmlab/bin/lmlab lab run /home/me/exp/recall.toml --size quick --set model.d_model=64,128 --runs-dir "
        "/scratch/runs --shard \"${SLURM_ARRAY_TASK_ID}/12\" -j 2 --threads \"${SLURM_CPUS_PER_TASK:-4}\"\n"})
    EXPECT_NE(s.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << s;
}

TEST(slurm, resources_come_from_the_spec_and_bad_keys_are_named) {
  const std::string text = "name = \"x\"\n[resources]\ncpus_per_task = 3\nmem = \"6G\"\n[task]\nname = \"copy\"\n"
                           "[train]\nsteps = 1\n";
  EXPECT_NO_THROW(lab::parse_spec(text, "x.toml"));  // the spec parser leaves [resources] to read_resources
  auto r = lab::read_resources(text, "x.toml");
  EXPECT_EQ(r.cpus_per_task, 3);
  EXPECT_EQ(r.mem, "6G");
  EXPECT_EQ(r.time, "01:00:00");
  try {
    lab::read_resources("[resources]\ncpus = 3\n", "x.toml");
    ADD_FAILURE();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "x.toml:2: resources.cpus: unknown key");
  }
  EXPECT_EQ(lab::shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(lab::shell_quote("a/b-c.toml"), "a/b-c.toml");
  EXPECT_EQ(lab::shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
}
