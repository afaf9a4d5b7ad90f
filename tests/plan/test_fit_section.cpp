// The report's scaling-law fit sections (plan/fit_section.hpp): which experiments of a store
// qualify (read from the runs), and the verdict on runs generated from a known law — Chinchilla's
// own constants (agrees), a law far from them (differs), too few design points (not decided).
#include "plan/fit_section.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "store/results_store.hpp"
#include "../temp_path.hpp"
#include "../find_section.hpp"

namespace fs = std::filesystem;
namespace p = lmlab::plan;

namespace {
struct temp_store : lmlab::testing::temp_db {
  explicit temp_store(const std::string& tag) : temp_db("fitsection", tag) {}
};

// A finished lab run; `tokens` < 0: no train.tokens in its config.
void add_run(lmlab::store::results_store& db, const std::string& experiment, int i, double n, double d, double tokens,
             double loss) {
  nlohmann::json config = {{"experiment", experiment}, {"question", "chinchilla"}};
  if (tokens >= 0) config["train"] = {{"tokens", tokens}};
  const auto id = db.create_run("lab", experiment + "/" + std::to_string(i), config);
  db.log_metric(id, 0, "n_params", n);
  db.log_metric(id, 0, "train_tokens", d);
  db.log_metric(id, 100, "train_loss", loss);
  db.mark_finished(id);
}

// L = E + A/N^α + B/D^β on an nn × nd grid, each loss times (1 + 0.005·u), u a fixed
// pseudo-random number in [-1, 1] per run (so the bootstrap has a spread to measure).
void add_law(lmlab::store::results_store& db, const std::string& experiment, double E, double A, double B, double alpha,
             double beta, int nn, int nd) {
  int i = 0;
  for (int a = 0; a < nn; ++a)
    for (int b = 0; b < nd; ++b, ++i) {
      const double n = 1e5 * std::pow(3.0, a), d = 1e7 * std::pow(3.0, b);
      const double u = std::sin(12.9898 * (i + 1));
      add_run(db, experiment, i, n, d, d, (E + A / std::pow(n, alpha) + B / std::pow(d, beta)) * (1 + 0.005 * u));
    }
}
}  // namespace

TEST(fit_section, only_sweeps_of_tokens_and_size_qualify) {
  temp_store t("which");
  lmlab::store::results_store db(t.path);
  add_law(db, "law", 1.69, 406.4, 410.7, 0.34, 0.28, 2, 2);
  add_run(db, "law", 4, 1e5, 1e7, 1e7, 3.0);  // a second seed of one design point: 5 runs
  for (int i = 0; i < 3; ++i) add_run(db, "one_budget", i, 1e5 * (i + 1), 1e7, 1e7, 3.0);  // one train.tokens
  for (int i = 0; i < 3; ++i) add_run(db, "no_tokens", i, 1e5 * (i + 1), 1e7 * (i + 1), -1, 3.0);  // D from steps
  EXPECT_EQ(p::scaling_sweeps(db), std::vector<std::string>{"law"});
  {  // four runs: too few for five constants, and said so without a fit
    temp_store t4("four");
    lmlab::store::results_store db4(t4.path);
    add_law(db4, "law", 1.69, 406.4, 410.7, 0.34, 0.28, 2, 2);
    const auto s4 = p::scaling_fit_sections(db4, 20, true);
    ASSERT_EQ(s4.size(), 1u);
    EXPECT_EQ(s4[0].outcome->word, "undecided: 4 runs for 5 constants");
    EXPECT_TRUE(s4[0].tables.empty());
  }
  // Four design points for five constants: shown, not decided.
  const auto s = p::scaling_fit_sections(db, 20, /*coarse_grid=*/true);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].id, "plan-fit-law");
  EXPECT_EQ(s[0].question_id, "chinchilla");
  ASSERT_TRUE(s[0].outcome.has_value());
  EXPECT_EQ(s[0].outcome->word.rfind("undecided: 4 design points for 5 constants", 0), 0u) << s[0].outcome->word;
  ASSERT_EQ(s[0].tables.size(), 1u);
  EXPECT_EQ(s[0].tables[0].data.rows()[3][0].text, "alpha");
  EXPECT_DOUBLE_EQ(*s[0].tables[0].data.rows()[3][4].number, 0.34);  // Chinchilla's, beside ours
}

TEST(fit_section, verdict_on_known_laws) {
  temp_store t("laws");
  lmlab::store::results_store db(t.path);
  add_law(db, "chinchilla_law", 1.69, 406.4, 410.7, 0.34, 0.28, 4, 4);
  add_law(db, "other_law", 1.5, 300, 2000, 0.6, 0.5, 4, 4);
  const auto s = p::scaling_fit_sections(db, 40, /*coarse_grid=*/true);
  ASSERT_EQ(s.size(), 2u);
  const auto& same = lmlab::testing::find_section(s, "plan-fit-chinchilla_law");
  ASSERT_TRUE(same.outcome.has_value());
  EXPECT_EQ(same.outcome->word, "agrees") << same.outcome->detail;  // 0.5% noise: CIs narrower than 0.5
  const auto& other = lmlab::testing::find_section(s, "plan-fit-other_law");
  ASSERT_TRUE(other.outcome.has_value());
  EXPECT_EQ(other.outcome->word, "differs") << other.outcome->detail;
  EXPECT_NE(other.outcome->detail.find("α = 0.34 lies outside"), std::string::npos) << other.outcome->detail;
  EXPECT_NE(other.answer.find("16 finished runs at 16 design points"), std::string::npos) << other.answer;
}
