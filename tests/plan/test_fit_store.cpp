// Scaling-law observations from the results store (plan/fit_store.hpp) and `plan fit --store`:
// N, D and the tail-mean loss read back by hand, errors that name the experiment, and a fit
// of runs generated from a known law recovering its exponents.
#include "plan/fit_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "plan/tables.hpp"
#include "store/results_store.hpp"
#include "../temp_path.hpp"

namespace fs = std::filesystem;
namespace p = lmlab::plan;

namespace {
struct temp_store : lmlab::testing::temp_db {
  explicit temp_store(const std::string& tag) : temp_db("fitstore", tag) {}
};

// A finished lab run of `experiment` with N, D and train_loss = `loss(step)` at steps 10..100.
void add_run(lmlab::store::results_store& db, const std::string& experiment, const std::string& name, double n, double d,
             const std::function<double(int)>& loss, bool finish = true) {
  const auto id = db.create_run("lab", name, {{"experiment", experiment}});
  db.log_metric(id, 0, "n_params", n);
  db.log_metric(id, 0, "train_tokens", d);
  for (int s = 10; s <= 100; s += 10) db.log_metric(id, s, "train_loss", loss(s));
  db.log_metric(id, 100, "final_train_loss", loss(100));
  if (finish) db.mark_finished(id);
}
}  // namespace

TEST(fit_store, reads_n_d_and_the_tail_mean_loss) {
  temp_store t("read");
  {
    lmlab::store::results_store db(t.path);
    add_run(db, "sweep", "sweep/a", 1000, 5e5, [](int s) { return 10.0 - s / 10.0; });  // 9, 8, ..., 0
    add_run(db, "sweep", "sweep/b", 2000, 1e6, [](int) { return 2.0; }, /*finish=*/false);
    add_run(db, "other", "other/a", 1, 1, [](int) { return 1.0; });
  }
  auto r = p::observations_from_store(t.path, "sweep");
  ASSERT_EQ(r.obs.size(), 1u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.runs[0], "sweep/a");
  EXPECT_EQ(r.obs[0].n, 1000);
  EXPECT_EQ(r.obs[0].d, 5e5);
  EXPECT_DOUBLE_EQ(r.obs[0].loss, (1.0 + 0.0) / 2);  // steps 90 and 100 are the last 10%
  EXPECT_DOUBLE_EQ(p::observations_from_store(t.path, "sweep", "tail_mean", 0.3).obs[0].loss, (3.0 + 2 + 1 + 0) / 4);
  EXPECT_DOUBLE_EQ(p::observations_from_store(t.path, "sweep", "final_train_loss").obs[0].loss, 0.0);
  try {
    p::observations_from_store(t.path, "swep");
    FAIL() << "an unknown experiment was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("'swep'"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("other, sweep"), std::string::npos) << e.hint();
  }
  EXPECT_THROW(p::observations_from_store(t.path, "sweep", "no_such_metric"), lmlab::error);
  EXPECT_THROW(p::observations_from_store(t.path.string() + ".missing", "sweep"), lmlab::error);
}

TEST(fit_store, plan_fit_recovers_a_known_law_from_the_store) {
  temp_store t("law");
  const double E = 1.5, A = 300, B = 800, alpha = 0.4, beta = 0.3;
  {
    lmlab::store::results_store db(t.path);
    int i = 0;
    for (double n : {1e5, 3e5, 1e6, 3e6, 1e7})
      for (double d : {1e7, 3e7, 1e8, 3e8, 1e9}) {
        const double l = E + A / std::pow(n, alpha) + B / std::pow(d, beta);
        add_run(db, "law", "law/" + std::to_string(i++), n, d, [l](int) { return l; });
      }
  }
  p::fit_args a;
  a.store = t.path.string();
  a.experiment = "law";
  a.bootstrap = "0";
  a.coarse = true;
  const auto tab = p::fit_table(a);
  auto value = [&](const std::string& k) {
    for (const auto& row : tab.rows())
      if (row[0].text == k) return *row[1].number;
    ADD_FAILURE() << "no row " << k;
    return std::nan("");
  };
  EXPECT_NEAR(value("alpha"), alpha, 0.01);
  EXPECT_NEAR(value("beta"), beta, 0.01);
  EXPECT_NEAR(value("E"), E, 0.01);
  a.csv = "x.csv";
  EXPECT_THROW(p::fit_table(a), lmlab::usage_error);  // --csv and --store together
}
