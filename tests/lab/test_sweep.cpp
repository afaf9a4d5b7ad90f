// The sweep runner with scripted children (sh): a run that succeeds, one that prints an
// error and exits 1, one that is killed by SIGKILL; rerunning skips finished and failed runs
// and redoes nothing; --retry-failed reruns only the failed ones.
#include "lab/sweep.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/results_store.hpp"
#include "copy_grid.hpp"

namespace fs = std::filesystem;
using namespace lmlab;

namespace {

lab::experiment_spec three_runs() {
  return lmlab::testing::copy_grid("sweeptest", "8,16,24", "[0]");
}

struct sandbox {
  fs::path dir = fs::temp_directory_path() / ("lmlab_sweep_" + std::to_string(::getpid()));
  sandbox() { fs::remove_all(dir); fs::create_directories(dir); }
  ~sandbox() { fs::remove_all(dir); }
};

}  // namespace

TEST(sweep, failures_are_isolated_recorded_and_not_redone) {
  sandbox sb;
  auto spec = three_runs();
  ASSERT_EQ(spec.runs.size(), 3u);
  const fs::path counter = sb.dir / "starts.txt";
  lab::sweep_options o;
  o.jobs = 2;
  o.threads = 2;
  o.store = sb.dir / "s.db";
  o.runs_dir = sb.dir / "runs";
  o.progress = nullptr;
  // d_model 8 succeeds, 16 fails with an error line, 24 is killed by SIGKILL.
  o.child_argv = [&](const std::string& name, const fs::path& dir, int threads) {
    std::string body = "echo " + name + " >> " + counter.string() + "; ";
    if (name == lab::run_name(spec, spec.runs[0])) body += "echo 'step 1/1 loss 0.5'; exit 0";
    else if (name == lab::run_name(spec, spec.runs[1])) body += "echo 'error: lab: training loss is nan at step 3' >&2; echo 'hint: lower train.lr' >&2; exit 1";
    else body += "kill -9 $$";
    return std::vector<std::string>{"/bin/sh", "-c", body};
  };
  auto s = lab::run_sweep(spec, o);
  EXPECT_EQ(s.finished, 1);
  EXPECT_EQ(s.failed, 2);
  store::results_store db(o.store);
  auto r1 = db.find_run("lab", lab::run_name(spec, spec.runs[1]));
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, store::run_status::failed);
  EXPECT_EQ(r1->failure_reason, "lab: training loss is nan at step 3 (hint: lower train.lr)");
  auto r2 = db.find_run("lab", lab::run_name(spec, spec.runs[2]));
  EXPECT_EQ(r2->failure_reason, "killed by SIGKILL (killed: out of memory, or by hand)");
  EXPECT_TRUE(fs::exists(o.runs_dir / "sweeptest" / spec.runs[1].id / "log.txt"));

  // Rerun: nothing starts again.
  auto again = lab::run_sweep(spec, o);
  EXPECT_EQ(again.skipped, 3);
  EXPECT_EQ(again.finished + again.failed, 0);
  // --retry-failed: only the two failed runs start again.
  o.retry_failed = true;
  auto retry = lab::run_sweep(spec, o);
  EXPECT_EQ(retry.skipped, 1);
  EXPECT_EQ(retry.finished + retry.failed, 2);
  std::ifstream in(counter);
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 5);  // 3 + 0 + 2 starts
}

TEST(sweep, a_run_left_running_by_a_killed_sweep_is_restarted) {
  sandbox sb;
  auto spec = three_runs();
  lab::sweep_options o;
  o.store = sb.dir / "s.db";
  o.runs_dir = sb.dir / "runs";
  o.progress = nullptr;
  {
    store::results_store db(o.store);
    auto id0 = db.ensure_run("lab", lab::run_name(spec, spec.runs[0]), lab::stored_config(spec, spec.runs[0]));
    db.mark_running(id0);  // as if the sweep was killed mid-run
    auto id1 = db.ensure_run("lab", lab::run_name(spec, spec.runs[1]), lab::stored_config(spec, spec.runs[1]));
    db.mark_finished(id1);
  }
  int started = 0;
  o.child_argv = [&](const std::string&, const fs::path&, int) {
    ++started;
    return std::vector<std::string>{"/bin/sh", "-c", "exit 0"};
  };
  auto s = lab::run_sweep(spec, o);
  EXPECT_EQ(started, 2);  // the interrupted run and the never-started one; not the finished one
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.finished, 2);
}

TEST(sweep, failure_reason_from_exit_status) {
  EXPECT_EQ(lab::failure_reason(256 * 3, "no error line\n"), "exit code 3");
  EXPECT_EQ(lab::failure_reason(256, "x\nerror: a\nerror: b\n"), "b");
}
