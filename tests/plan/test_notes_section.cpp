// The planner's corrections of the notes as report sections (plan/notes_section.hpp): computed
// from the planner's functions, with the question they answer and a verdict on the notes' claim.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "plan/chinchilla.hpp"
#include "plan/notes_section.hpp"
#include "report/sources.hpp"

namespace lp = lmlab::plan;

TEST(plan_notes_section, the_chinchilla_rule_spends_27_times_its_budget) {
  const auto s = lp::chinchilla_notes_section();
  EXPECT_EQ(s.question_id, "chinchilla");
  ASSERT_TRUE(s.outcome.has_value());
  EXPECT_EQ(s.outcome->word, "differs");
  // 6·N·D/C of the notes' rule is 6·7.7/1.7 = 27.18 at every C (the exponents sum to 1).
  EXPECT_NE(s.answer.find("spends 27.2× its budget: 6·N·D/C = 27.18"), std::string::npos) << s.answer;
  const auto& t = s.tables.at(0).data;
  ASSERT_EQ(t.rows().size(), 3u);
  for (const auto& r : t.rows()) EXPECT_EQ(r[3].text, "27.18");
  // The table's Approach 2 column is the planner's own optimum.
  const auto o = lp::optimum_for_compute(lp::find_allocation("approach2"), 1e23);
  EXPECT_EQ(t.rows()[1][4].text, fmt::format("{:.3g}", o.n));
  EXPECT_NE(s.comparison.find("arXiv:2203.15556"), std::string::npos);
  EXPECT_NE(s.comparison.find("Verdict: differs — "), std::string::npos);
}

TEST(plan_notes_section, vlm_token_counts_of_the_cited_front_ends) {
  const auto s = lp::vlm_tokens_notes_section();
  EXPECT_EQ(s.question_id, "vlm_tokens");
  ASSERT_TRUE(s.outcome.has_value());
  EXPECT_EQ(s.outcome->word, "differs");
  const auto& t = s.tables.at(0).data;
  ASSERT_EQ(t.rows().size(), 5u);
  EXPECT_EQ(t.rows()[0][2].text, "5329");  // the notes' 73×73 holds for a plain ViT only
  EXPECT_EQ(t.rows()[1][2].text, "2928");  // LLaVA-1.6 (docs/plan.md)
  EXPECT_EQ(t.rows()[2][2].text, "2560");  // InternVL, max_num 12
  EXPECT_EQ(t.rows()[3][2].text, "1369");  // Qwen2-VL
  EXPECT_NE(t.rows()[4][3].text, "81");
}

TEST(plan_notes_section, registers_a_front_source_once) {
  lp::register_report_source();
  lp::register_report_source();
  int n = 0;
  for (const auto& src : lmlab::report::section_sources())
    if (src.name == "plan") {
      ++n;
      EXPECT_EQ(src.where, lmlab::report::placement::front);
    }
  EXPECT_EQ(n, 1);
}
