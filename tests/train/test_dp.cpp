// Data-parallel training (train/data_parallel.hpp), run by ctest as `mpirun -np 2 test_dp`:
// two ranks with micro-batch b take the same 20 steps as one process with batch 2b (losses
// within float reduction error); overlapping the all-reduce with backward changes no bit;
// a checkpoint written by rank 0 under P = 2 resumes in one process (and the reverse) on the
// same trajectory. Run without mpirun, only the batch split is checked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "synthetic_tokens.hpp"
#include "train/data_parallel.hpp"
#include "train/trainer.hpp"

namespace fs = std::filesystem;
using namespace lmlab;

namespace {

using lmlab::test_data::synthetic_tokens;

// No dropout: its masks are drawn per local batch, so they differ between P = 1 and P = 2.
train::train_config config(const fs::path& out, bool overlap) {
  auto c = train::parse_train_config(R"(
[model]
vocab_size = 17
d_model = 32
n_layers = 2
n_heads = 2
n_ctx = 16
[train]
batch_size = 8
steps = 20
lr = 1e-2
min_lr = 1e-3
warmup_steps = 3
eval_every = 0
eval_batches = 2
threads = 1
dp_bucket_kb = 4
)",
                                     "dp.toml");
  c.train.out_dir = out.string();
  c.train.dp_overlap = overlap;
  return c;
}

// A folder every rank agrees on (rank 0's name, broadcast).
fs::path shared_dir(train::data_parallel& dp) {
  std::string name = (fs::temp_directory_path() / ("lmlab_dp_" + std::to_string(::getpid()))).string();
  std::vector<std::uint8_t> bytes(name.begin(), name.end());
  dp.broadcast(bytes);
  return std::string(bytes.begin(), bytes.end());
}

struct token_data {
  std::vector<std::int32_t> train_ids = synthetic_tokens(4000, 1), val_ids = synthetic_tokens(600, 2);
  train::token_source src{std::span<const std::int32_t>(train_ids), std::span<const std::int32_t>(val_ids), std::nullopt};
};

train::run_options options(train::data_parallel* dp, bool write) {
  train::run_options o;
  o.progress = nullptr;
  o.dp = dp;
  o.write_files = write;
  return o;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    if (d > worst) worst = d, at = i;
    EXPECT_LE(d, 1e-5 + 1e-4 * std::abs(b[i])) << what << ": step " << i + 1 << ": " << a[i] << " vs " << b[i];
  }
  std::printf("%s: worst |difference| %.3g at step %zu over %zu steps\n", what, worst, at + 1, a.size());
}

}  // namespace

TEST(data_parallel, local_rows_split_the_batch_and_refuse_an_uneven_one) {
  tensor b = tensor::from<std::int32_t>({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(train::local_rows(b, 1, 2).values<std::int32_t>(), (std::vector<std::int32_t>{4, 5, 6, 7}));
  EXPECT_EQ(train::local_rows(b, 0, 1).values<std::int32_t>(), b.values<std::int32_t>());
  try {
    train::local_rows(b, 0, 3);
    ADD_FAILURE();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "data parallel: batch size 4 does not split over 3 ranks");
  }
}

TEST(data_parallel, two_ranks_match_one_process_with_the_whole_batch) {
  auto& dp = train::data_parallel::world();
  if (dp.size() == 1) GTEST_SKIP() << "run under mpirun -np 2 (ctest does)";
  ASSERT_EQ(dp.size(), 2);
  const fs::path dir = shared_dir(dp);
  token_data d;
  const auto ref = train::run_training(config(dir / "ref", true), d.src, options(nullptr, false));
  const auto dp_run = train::run_training(config(dir / "dp", true), d.src, options(&dp, false));
  EXPECT_EQ(dp_run.dp_ranks, 2);
  EXPECT_GT(dp_run.dp_mean.buckets, 2);
  // Overlap: every bucket but the last one to finish starts its all-reduce inside backward.
  EXPECT_GE(dp_run.dp_mean.started_in_backward, dp_run.dp_mean.buckets - 1);
  expect_close(dp_run.losses, ref.losses, "P=2 (b=4) vs P=1 (b=8)");
  EXPECT_LT(dp_run.losses.back(), dp_run.losses.front());  // it learns
  // The same sums in the same order with or without overlap: bit-identical.
  const auto no_overlap = train::run_training(config(dir / "noov", false), d.src, options(&dp, false));
  EXPECT_EQ(no_overlap.dp_mean.started_in_backward, 0);
  EXPECT_EQ(no_overlap.losses, dp_run.losses);
  dp.barrier();
  if (dp.rank() == 0) fs::remove_all(dir);
}

TEST(data_parallel, a_checkpoint_resumes_under_another_number_of_ranks) {
  auto& dp = train::data_parallel::world();
  if (dp.size() == 1) GTEST_SKIP() << "run under mpirun -np 2 (ctest does)";
  const fs::path dir = shared_dir(dp);
  const bool lead = dp.rank() == 0;
  token_data d;
  const auto ref = train::run_training(config(dir / "ref", true), d.src, options(nullptr, false));

  // P = 2 for 10 steps (rank 0 checkpoints), then one process for the other 10.
  auto first = options(&dp, lead);
  first.stop_after = 10;
  const auto a = train::run_training(config(dir / "two_then_one", true), d.src, first);
  dp.barrier();  // the checkpoint is written
  if (lead) {
    auto second = options(nullptr, true);
    second.resume = true;
    const auto b = train::run_training(config(dir / "two_then_one", true), d.src, second);
    EXPECT_EQ(b.start_step, 10);
    std::vector<float> joined = a.losses;
    joined.insert(joined.end(), b.losses.begin(), b.losses.end());
    expect_close(joined, ref.losses, "P=2 then resumed with P=1");
  }
  // One process for 10 steps, then P = 2 resumes.
  if (lead) {
    auto solo = options(nullptr, true);
    solo.stop_after = 10;
    train::run_training(config(dir / "one_then_two", true), d.src, solo);
  }
  dp.barrier();
  auto resumed = options(&dp, lead);
  resumed.resume = true;
  const auto c = train::run_training(config(dir / "one_then_two", true), d.src, resumed);
  EXPECT_EQ(c.start_step, 10);
  expect_close(c.losses, std::vector<float>(ref.losses.begin() + 10, ref.losses.end()), "P=1 then resumed with P=2");
  dp.barrier();
  if (lead) fs::remove_all(dir);
}

// A killed rank (tests/train/dp_kill_test.sh runs these two in turn, with LMLAB_DP_KILL_DIR
// set): under mpirun -np 2, rank 1 stops after step 13 and kills itself with SIGKILL, after
// rank 0's checkpoint at step 10; mpirun must fail the job. Then, in one process, the run
// resumes from that checkpoint and ends on the single-process trajectory.
TEST(data_parallel_kill, rank_one_is_killed_after_a_checkpoint) {
  const char* dir = std::getenv("LMLAB_DP_KILL_DIR");
  auto& dp = train::data_parallel::world();
  if (!dir || dp.size() != 2) GTEST_SKIP() << "run by tests/train/dp_kill_test.sh";
  token_data d;
  auto cfg = config(fs::path(dir) / "run", true);
  cfg.train.checkpoint_every = 10;
  auto o = options(&dp, dp.rank() == 0);
  if (dp.rank() == 1) o.stop_after = 13;
  train::run_training(cfg, d.src, o);
  if (dp.rank() == 1) std::raise(SIGKILL);
  ADD_FAILURE() << "rank 0 finished although rank 1 died";  // it waits in an all-reduce until mpirun ends it
}

TEST(data_parallel_kill, the_killed_run_resumes_in_one_process) {
  const char* dir = std::getenv("LMLAB_DP_KILL_DIR");
  if (!dir || train::data_parallel::world().size() != 1) GTEST_SKIP() << "run by tests/train/dp_kill_test.sh";
  token_data d;
  auto cfg = config(fs::path(dir) / "run", true);
  cfg.train.checkpoint_every = 10;
  auto o = options(nullptr, true);
  o.resume = true;
  const auto resumed = train::run_training(cfg, d.src, o);
  EXPECT_EQ(resumed.start_step, 10);
  const auto ref = train::run_training(config(fs::path(dir) / "ref", true), d.src, options(nullptr, false));
  expect_close(resumed.losses, std::vector<float>(ref.losses.begin() + 10, ref.losses.end()), "killed at 13, resumed at 10");
}
