// The lmlab binary end to end: each test runs it (without a shell) and pins the exit code and
// the error line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "core/process.hpp"
#include "../temp_path.hpp"
#include "../run_lmlab.hpp"

namespace fs = std::filesystem;

namespace {

struct temp_dir : lmlab::testing::temp_dir {
  explicit temp_dir(const std::string& tag) : lmlab::testing::temp_dir("cli", tag) {}
};

using result = lmlab::testing::lmlab_result;
using lmlab::testing::run_lmlab;

// A two-step arithmetic experiment, "tiny", in `dir`.
void write_tiny_spec(const fs::path& dir) {
  fs::create_directories(dir);
  lmlab::write_file_atomic(dir / "tiny.toml", std::string(R"(name = "tiny"
[model]
arch = "gpt"
d_model = 16
n_layers = 1
n_heads = 2
[task]
name = "arithmetic"
op = "add"
bases = [10]
min_digits = 1
max_digits = 2
ood_digits = [3]
num_train = 50
num_test = 10
[train]
steps = 2
batch_size = 4
)"));
}

}  // namespace

TEST(cli, help_after_an_unknown_subcommand_is_a_usage_error) {
  // Printed `lab`'s help and exited 0, as if `unmerge` existed (the report named `merge`, which
  // exists since issue 20).
  const auto r = run_lmlab({"lab", "unmerge", "--help"});
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find("error: lmlab lab: unknown command or argument 'unmerge'\n"), std::string::npos) << r.output;
  const auto ok = run_lmlab({"lab", "--help"});
  EXPECT_EQ(ok.rc, 0) << ok.output;
  EXPECT_NE(ok.output.find("suite"), std::string::npos);
  EXPECT_EQ(run_lmlab({"plan", "memory", "--help"}).rc, 0);
}

TEST(cli, planner_counts_out_of_range_exit_1) {
  // Printed context -9223372036854775808 and exited 0.
  const auto r = run_lmlab({"plan", "memory", "--context", "1e19"});
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("error: --context: 1e+19 is out of range [1, 9007199254740992]\n"), std::string::npos)
      << r.output;
}

TEST(cli, lab_suite_passes_the_report_path_as_an_argument_not_to_a_shell) {
  // `lab suite --out "x'; touch FILE; echo '"` ran `touch FILE` through std::system.
  temp_dir d("suite");
  write_tiny_spec(d.path / "experiments");
  const fs::path pwned = d.path / "pwned";
  const std::string out = (d.path / "x'; touch ").string() + pwned.string() + "; echo '";
  const auto r = run_lmlab({"lab", "suite", "--experiments", (d.path / "experiments").string(), "--store",
                        (d.path / "s.db").string(), "--runs-dir", (d.path / "runs").string(), "--out", out,
                        "--threads", "1"});
  EXPECT_FALSE(fs::exists(pwned)) << r.output;
  EXPECT_NE(r.output.find("suite (quick): 1 runs"), std::string::npos) << r.output;
}

TEST(cli, lab_suite_runs_its_specs_in_one_queue_and_stores_what_running_them_one_by_one_stores) {
  // The suite ran each spec through its own sweep: a core idled at the end of every spec.
  temp_dir d("queue");
  const fs::path exp = d.path / "experiments";
  write_tiny_spec(exp);
  std::string wide = lmlab::read_text_file(exp / "tiny.toml");
  wide.replace(wide.find("name = \"tiny\""), 13, "name = \"wide\"\nseeds = [0, 1]");
  wide.replace(wide.find("d_model = 16"), 12, "d_model = 32");
  lmlab::write_file_atomic(exp / "wide.toml", wide);
  const std::string q = (d.path / "queue.db").string(), s = (d.path / "one.db").string();
  const auto suite = run_lmlab({"lab", "suite", "--experiments", exp.string(), "--store", q, "--runs-dir",
                                (d.path / "runs_q").string(), "--no-report", "-j", "2", "--threads", "2"});
  ASSERT_EQ(suite.rc, 0) << suite.output;
  EXPECT_NE(suite.output.find("lab: 3 runs of 2 specs in one queue, longest expected first"), std::string::npos)
      << suite.output;
  EXPECT_NE(suite.output.find("suite (quick): 3 runs: 3 finished now, 0 skipped (done before), 0 failed"), std::string::npos)
      << suite.output;
  // The wider spec's runs start first although "tiny" sorts first.
  EXPECT_LT(suite.output.find("lab: start  wide/"), suite.output.find("lab: start  tiny/")) << suite.output;
  for (const char* spec : {"tiny.toml", "wide.toml"}) {  // one thread per run, as in the suite
    const auto r = run_lmlab({"lab", "run", (exp / spec).string(), "--store", s, "--runs-dir",
                              (d.path / "runs_s").string(), "--threads", "1"});
    ASSERT_EQ(r.rc, 0) << r.output;
  }
  // The same rows: run ids, names, configs and every evaluation to the last digit.
  for (const char* table : {"runs", "evaluations"}) {
    auto rows = [&](const std::string& db) {
      const auto r = run_lmlab({"lab", "export", "--store", db, "--table", table, "-o", "jsonl"});
      EXPECT_EQ(r.rc, 0) << r.output;
      std::vector<std::string> keep;
      for (std::size_t pos = 0, nl; (nl = r.output.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        std::string line = r.output.substr(pos, nl - pos);
        // Not the clock: timestamps differ between the two stores.
        for (const char* key : {"\"created_at\"", "\"started_at\"", "\"finished_at\""}) {
          const auto at = line.find(key);
          if (at != std::string::npos) line.erase(at, line.find(',', at) - at);
        }
        keep.push_back(line);
      }
      return keep;
    };
    const auto a = rows(q), b = rows(s);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b) << table;
  }
}

TEST(cli, the_report_opens_with_the_map_of_the_notes_then_the_planner_and_the_fact_check) {
  temp_dir d("report");
  write_tiny_spec(d.path / "experiments");
  const std::string db = (d.path / "s.db").string();
  const auto run = run_lmlab({"lab", "run", (d.path / "experiments" / "tiny.toml").string(), "--store", db, "--runs-dir",
                              (d.path / "runs").string(), "--threads", "1"});
  ASSERT_EQ(run.rc, 0) << run.output;
  const auto rep = run_lmlab({"report", "--store", db, "--out", (d.path / "rep").string(), "--notes", "data/notes",
                              "--experiments", (d.path / "experiments").string()});
  ASSERT_EQ(rep.rc, 0) << rep.output;
  const std::string html = lmlab::read_text_file(d.path / "rep" / "index.html");
  std::vector<std::size_t> at;
  for (const char* id : {"notes-map", "plan-chinchilla", "plan-vlm-tokens", "notes-claims", "tiny"}) {
    at.push_back(html.find(std::string("<section class=\"experiment\" id=\"") + id + "\""));
    EXPECT_NE(at.back(), std::string::npos) << id;
  }
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end()));
  // The planner's numbers are computed, and the map counts them as measured.
  EXPECT_NE(html.find("6·N·D/C = 27.18"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"#plan-chinchilla\">plan-chinchilla</a>"), std::string::npos);
  // --filter keeps the experiments only.
  const auto only = run_lmlab({"report", "--store", db, "--out", (d.path / "rep").string(), "--notes", "data/notes",
                               "--experiments", (d.path / "experiments").string(), "--filter", "tiny"});
  ASSERT_EQ(only.rc, 0) << only.output;
  EXPECT_EQ(lmlab::read_text_file(d.path / "rep" / "index.html").find("id=\"notes-map\""), std::string::npos);
}

TEST(cli, lab_run_with_a_shard_that_does_not_exist_is_a_usage_error) {
  temp_dir d("shard_usage");
  write_tiny_spec(d.path);
  const auto r = run_lmlab({"lab", "run", (d.path / "tiny.toml").string(), "--shard", "2/2", "--runs-dir",
                            (d.path / "runs").string()});
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find("error: --shard 2/2: shard 2 of 2 does not exist\n"), std::string::npos) << r.output;
}

TEST(cli, lab_slurm_then_shards_then_merge) {
  // The Slurm path without Slurm: the script, a shard run by hand, and merge (which fails,
  // naming the missing run, until the shard has run). scripts/test-slurm.sh does it on Slurm.
  temp_dir d("slurm");
  write_tiny_spec(d.path);
  const std::string spec = (d.path / "tiny.toml").string(), runs = (d.path / "runs").string(),
                    store = (d.path / "main.db").string();
  const auto s = run_lmlab({"lab", "slurm", spec, "--shards", "4", "--max-running", "2", "--runs-dir", runs, "--logs",
                            (d.path / "logs").string(), "-o", (d.path / "tiny.sbatch").string()});
  ASSERT_EQ(s.rc, 0) << s.output;
  const std::string script = lmlab::read_text_file(d.path / "tiny.sbatch");
  EXPECT_NE(script.find("#SBATCH --array=0-0%1\n"), std::string::npos) << script;  // one run: one task
  EXPECT_NE(script.find("--shard \"${SLURM_ARRAY_TASK_ID}/1\""), std::string::npos) << script;
  EXPECT_TRUE(fs::is_directory(d.path / "logs"));

  fs::create_directories(runs);
  const auto early = run_lmlab({"lab", "merge", spec, "--runs-dir", runs, "--store", store});
  EXPECT_EQ(early.rc, 1) << early.output;
  EXPECT_NE(early.output.find("  missing: tiny/"), std::string::npos) << early.output;
  EXPECT_NE(early.output.find("error: lab merge: 1 runs of the spec have no result yet"), std::string::npos) << early.output;

  const fs::path untouched = d.path / "never.db";
  const auto shard =
      run_lmlab({"lab", "run", spec, "--shard", "0/1", "--runs-dir", runs, "--store", untouched.string(), "--threads", "1"});
  ASSERT_EQ(shard.rc, 0) << shard.output;
  EXPECT_FALSE(fs::exists(untouched)) << "a shard opened the main store";
  const auto merged = run_lmlab({"lab", "merge", spec, "--runs-dir", runs, "--store", store});
  EXPECT_EQ(merged.rc, 0) << merged.output;
  EXPECT_NE(merged.output.find(": 1 added, 0 replaced, 0 unchanged, 0 files skipped"), std::string::npos) << merged.output;
  const auto shown = run_lmlab({"lab", "ls", "--store", store, "-o", "csv"});
  EXPECT_NE(shown.output.find(",finished,"), std::string::npos) << shown.output;
}

// `lmlab datalab stats`: one row per file (documents are lines, or .jsonl "text" strings), and a
// bad line names the file and line.
TEST(cli, datalab_stats_reads_text_and_jsonl_and_names_a_bad_line) {
  temp_dir d("datalab");
  lmlab::write_file_atomic(d.path / "a.txt", std::string("the cat sat\n\nthe cat ran\n"));
  lmlab::write_file_atomic(d.path / "b.jsonl", std::string("{\"text\": \"the dog sat\"}\n{\"text\": \"a dog\"}\n"));
  lmlab::write_file_atomic(d.path / "bad.jsonl", std::string("{\"text\": \"ok\"}\n{\"txt\": 1}\n"));
  auto r = run_lmlab({"datalab", "stats", (d.path / "a.txt").string(), (d.path / "b.jsonl").string(), "--reference",
                      (d.path / "a.txt").string(), "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  // a.txt: 2 documents, 6 words, distinct-1 = 4/6 (the cat sat ran)
  EXPECT_NE(r.output.find("a.txt,2,6,0.666"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("b.jsonl,2,5,"), std::string::npos) << r.output;
  r = run_lmlab({"datalab", "stats", (d.path / "bad.jsonl").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("bad.jsonl:2: no \"text\" string"), std::string::npos) << r.output;
  r = run_lmlab({"datalab", "stats", (d.path / "missing.txt").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("missing.txt: cannot open"), std::string::npos) << r.output;
}
