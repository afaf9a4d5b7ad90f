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

TEST(sweep, longest_first_orders_by_cost_and_keeps_ties_in_order) {
  EXPECT_EQ(lab::longest_first({1.0, 5.0, 3.0, 5.0, 0.5}), (std::vector<std::size_t>{1, 3, 2, 0, 4}));
  EXPECT_TRUE(lab::longest_first({}).empty());
}

TEST(sweep, expected_costs_use_a_finished_seed_else_the_spec_scaled_to_cpu_seconds) {
  const auto spec = lmlab::testing::copy_grid("costs", "8,16,24", "[0, 1]");  // d_model-major, seeds inner
  ASSERT_EQ(spec.runs.size(), 6u);
  std::vector<nlohmann::json> configs;
  for (const auto& r : spec.runs) configs.push_back(lab::stored_config(spec, r));
  // Wider is costlier; the seed, the run id and the name do not change the key.
  EXPECT_LT(lab::spec_cost(configs[0]), lab::spec_cost(configs[2]));
  EXPECT_LT(lab::spec_cost(configs[2]), lab::spec_cost(configs[4]));
  EXPECT_EQ(lab::cost_key(configs[0]), lab::cost_key(configs[1]));
  EXPECT_NE(lab::cost_key(configs[0]), lab::cost_key(configs[2]));
  nlohmann::json steps = configs[0];
  steps["train"]["steps"] = 10;
  EXPECT_DOUBLE_EQ(lab::spec_cost(steps), 10 * lab::spec_cost(configs[0]));
  // d_model 16 seed 1 finished in 4 CPU-s: both d_model 16 runs expect 4; the others are their
  // FLOPs at d_model 16's CPU-s per FLOP (d^2: 8 -> 1 CPU-s, 24 -> 9 CPU-s).
  const auto c = lab::expected_costs(configs, {{lab::cost_key(configs[3]), 4.0}});
  EXPECT_DOUBLE_EQ(c[2], 4.0);
  EXPECT_DOUBLE_EQ(c[3], 4.0);
  EXPECT_NEAR(c[0], 4.0 * lab::spec_cost(configs[0]) / lab::spec_cost(configs[2]), 1e-12);
  EXPECT_NEAR(c[4], 4.0 * lab::spec_cost(configs[4]) / lab::spec_cost(configs[2]), 1e-12);
  EXPECT_EQ(lab::longest_first(c), (std::vector<std::size_t>{4, 5, 2, 3, 0, 1}));
  // Known costs override the spec's order: d_model 8 took longest.
  const auto k = lab::expected_costs(
      configs, {{lab::cost_key(configs[0]), 100.0}, {lab::cost_key(configs[2]), 4.0}, {lab::cost_key(configs[4]), 5.0}});
  EXPECT_EQ(lab::longest_first(k), (std::vector<std::size_t>{0, 1, 4, 5, 2, 3}));
}

TEST(sweep, two_specs_in_one_queue_store_the_rows_of_running_them_one_by_one_longest_first) {
  sandbox sb;
  const auto a = lmlab::testing::copy_grid("qa", "8,24", "[0]");
  const auto b = lmlab::testing::copy_grid("qb", "16,32", "[0, 1]");
  const fs::path starts = sb.dir / "starts.txt";
  lab::sweep_options o;
  o.jobs = 1;  // one worker: the start order is the queue's order
  o.threads = 1;
  o.runs_dir = sb.dir / "runs";
  o.progress = nullptr;
  o.child_argv = [&](const std::string& name, const fs::path&, int) {
    const std::string fail = name == lab::run_name(b, b.runs[1]) ? "exit 3" : "exit 0";
    return std::vector<std::string>{"/bin/sh", "-c", "echo " + name + " >> " + starts.string() + "; " + fail};
  };
  o.store = sb.dir / "queue.db";
  const auto sums = lab::run_sweeps({a, b}, o);
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].total, 2);
  EXPECT_EQ(sums[0].finished, 2);
  EXPECT_EQ(sums[1].total, 4);
  EXPECT_EQ(sums[1].finished, 3);
  EXPECT_EQ(sums[1].failed, 1);
  ASSERT_EQ(sums[1].failures.size(), 1u);
  EXPECT_EQ(sums[1].failures[0], lab::run_name(b, b.runs[1]) + ": exit code 3");
  // Longest first across the two specs: qb's d_model 32 (2 seeds), qa's 24, qb's 16, qa's 8.
  std::vector<std::string> order;
  {
    std::ifstream in(starts);
    for (std::string l; std::getline(in, l);) order.push_back(l);
  }
  EXPECT_EQ(order, (std::vector<std::string>{lab::run_name(b, b.runs[2]), lab::run_name(b, b.runs[3]),
                                             lab::run_name(a, a.runs[1]), lab::run_name(b, b.runs[0]),
                                             lab::run_name(b, b.runs[1]), lab::run_name(a, a.runs[0])}));
  // The same specs one after the other, two workers: the same rows (ids, names, configs,
  // seeds, statuses, failure reasons) in the store.
  o.jobs = 2;
  o.store = sb.dir / "one_by_one.db";
  lab::run_sweep(a, o);
  lab::run_sweep(b, o);
  store::results_store q(sb.dir / "queue.db"), s(o.store);
  const auto qr = q.list_runs("lab"), sr = s.list_runs("lab");
  ASSERT_EQ(qr.size(), 6u);
  ASSERT_EQ(sr.size(), 6u);
  for (std::size_t i = 0; i < qr.size(); ++i) {
    EXPECT_EQ(qr[i].id, sr[i].id);
    EXPECT_EQ(qr[i].name, sr[i].name);
    EXPECT_EQ(qr[i].config, sr[i].config);
    EXPECT_EQ(qr[i].seed, sr[i].seed);
    EXPECT_EQ(qr[i].status, sr[i].status);
    EXPECT_EQ(qr[i].failure_reason, sr[i].failure_reason);
  }
  // Rerun in one queue: everything is skipped, the failure is reported as earlier.
  o.store = sb.dir / "queue.db";
  const auto again = lab::run_sweeps({a, b}, o);
  EXPECT_EQ(again[0].skipped + again[1].skipped, 6);
  ASSERT_EQ(again[1].failures.size(), 1u);
  EXPECT_EQ(again[1].failures[0], lab::run_name(b, b.runs[1]) + ": exit code 3 (earlier)");
}
