// Paired comparison of two runs from the store: discordant counts, McNemar verdicts, the
// paired bootstrap interval, and the error when runs share nothing.
#include "probe/compare.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "core/error.hpp"

namespace fs = std::filesystem;

TEST(probe_compare, verdicts_from_paired_samples) {
  const auto dir = fs::temp_directory_path() / ("lmlab_compare_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    lmlab::store::results_store db(dir / "r.db");
    const auto a = db.create_run("probe", "a", {});
    const auto b = db.create_run("probe", "b", {});
    // suite "x": A right on all 20, B right on 5 -> 15 discordant, all for A.
    // suite "y": both right on 19 of 20 items, differing on one -> tied.
    for (int i = 0; i < 20; ++i) {
      const auto id = "q" + std::to_string(i);
      db.put_sample(a, "x", id, 0, {{"correct", true}});
      db.put_sample(b, "x", id, 0, {{"correct", i < 5}});
      db.put_sample(a, "y", id, 0, {{"correct", i != 0}});
      db.put_sample(b, "y", id, 0, {{"correct", i != 1}});
    }
    db.put_sample(a, "x", "only_in_a", 0, {{"correct", true}});  // unpaired: ignored
    const auto rows = lmlab::probe::compare_runs(db, a, b);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].suite, "x");
    EXPECT_EQ(rows[0].n_paired, 20u);
    EXPECT_EQ(rows[0].mcnemar.a_only, 15u);
    EXPECT_EQ(rows[0].mcnemar.b_only, 0u);
    EXPECT_TRUE(rows[0].mcnemar.exact);
    EXPECT_NEAR(rows[0].mcnemar.p_value, 2 * std::pow(0.5, 15), 1e-12);  // exact two-sided binomial
    EXPECT_EQ(rows[0].verdict, "A better");
    EXPECT_DOUBLE_EQ(rows[0].diff.estimate, 0.75);
    EXPECT_GT(rows[0].diff.lo, 0.0);
    EXPECT_EQ(rows[1].verdict, "tied");
    EXPECT_EQ(rows[1].mcnemar.a_only, 1u);
    EXPECT_EQ(rows[1].mcnemar.b_only, 1u);
    const auto c = db.create_run("probe", "c", {});
    db.put_sample(c, "z", "q0", 0, {{"correct", true}});
    EXPECT_THROW(lmlab::probe::compare_runs(db, a, c), lmlab::error);
  }
  fs::remove_all(dir);
}
