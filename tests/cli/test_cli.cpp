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

namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag)
      : path(fs::temp_directory_path() / ("lmlab_cli_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

struct result {
  int rc;
  std::string output;  // stdout and stderr
};

result run_lmlab(std::vector<std::string> args) {
  static int n = 0;
  const fs::path out = fs::temp_directory_path() / ("lmlab_cli_out_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  args.insert(args.begin(), LMLAB_BINARY);
  const int rc = lmlab::run_process(args, out.string());
  result r{rc, lmlab::read_text_file(out)};
  fs::remove(out);
  return r;
}

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
  // Printed `lab`'s help and exited 0, as if `merge` existed.
  const auto r = run_lmlab({"lab", "merge", "--help"});
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find("error: lmlab lab: unknown command or argument 'merge'\n"), std::string::npos) << r.output;
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
