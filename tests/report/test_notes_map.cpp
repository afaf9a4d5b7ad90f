// The map of the notes (report/notes_map.hpp): every question of data/notes/questions.json gets
// a status computed from the report's sections and the specs — measured here (with the
// section's answer, verdict and link), planned, or not measurable — and the fact-check table
// lists every claim of claims.json.
#include <gtest/gtest.h>

#include <set>

#include "core/fs.hpp"
#include "report/notes_map.hpp"

namespace rp = lmlab::report;
using nlohmann::json;

namespace {

rp::lab_notes notes_of(const json& questions, const json& claims = json{{"claims", json::array()}}) {
  rp::lab_notes n;
  n.questions = questions;
  n.claims = claims;
  return n;
}

const json kQuestions = json::parse(R"json({"notes": "notes.md", "questions": [
  {"id": "q_lab", "section": "S", "quote": "가", "lines": [1], "question_en": "Lab?"},
  {"id": "q_probe", "section": "S", "quote": "나", "lines": [2], "question_en": "Probe?", "sections": ["probe-x"],
   "how": "lmlab probe"},
  {"id": "q_spec", "section": "S", "quote": "다", "lines": [3], "question_en": "Spec?"},
  {"id": "q_plan", "section": "S", "quote": "라", "lines": [4, 5], "question_en": "Later?",
   "plan": {"lab": "alignment", "why": "a reward model"}},
  {"id": "q_never", "section": "S", "quote": "마", "lines": [6], "question_en": "Never?", "not_measurable": "needs a cluster"}
]})json");

rp::section answered(const std::string& id, const std::string& question, std::optional<rp::verdict> v) {
  rp::section s;
  s.id = id;
  s.title = "T " + id;
  s.question_id = question;
  s.answer = "Best: A at 0.95 ± 0.02 test accuracy.";
  s.outcome = std::move(v);
  return s;
}

// The map's row for a question id (the first column starts with "<id>: ").
std::vector<std::string> row_of(const rp::section& map, const std::string& id) {
  for (const auto& r : map.tables.at(0).data.rows())
    if (r[0].text.rfind(id + ": ", 0) == 0) {
      std::vector<std::string> out;
      for (const auto& c : r) out.push_back(c.text);
      return out;
    }
  return {};
}

}  // namespace

TEST(notes_map, status_is_computed_from_sections_and_specs) {
  std::map<std::string, lmlab::lab::report_meta> metas;
  metas["exp_spec"].question = "q_spec";
  metas["exp_spec"].source = "/somewhere/experiments/exp_spec.toml";
  metas["exp_lab"].question = "q_lab";
  rp::notes_map_counts counts;
  const std::vector<rp::section> secs = {answered("exp-lab", "q_lab", rp::verdict{"agrees", "A at 0.95 ± 0.02 > B at 0.10 ± 0.05"})};
  const auto map = rp::notes_map_section(notes_of(kQuestions), secs, metas, &counts);
  EXPECT_EQ(map.id, "notes-map");
  EXPECT_EQ(counts.measured, 1u);
  EXPECT_EQ(counts.planned, 3u);
  EXPECT_EQ(counts.not_measurable, 1u);
  EXPECT_EQ(map.answer, "Of 5 questions of the notes: 1 measured here (1 verdicts agree with the published result, 0 differ, "
                        "0 undecided), 3 planned, 1 not measurable on one machine.");
  ASSERT_EQ(map.tables.size(), 1u);
  EXPECT_EQ(map.tables[0].link_column, "section");
  // Measured rows come first, with the answer, the verdict and its CI, and the link.
  EXPECT_EQ(map.tables[0].data.rows()[0][0].text, "q_lab: Lab?");
  EXPECT_EQ(row_of(map, "q_lab"), (std::vector<std::string>{"q_lab: Lab?", "가 (lines 1)", "measured here",
                                                              "Best: A at 0.95 ± 0.02 test accuracy.",
                                                              "agrees — A at 0.95 ± 0.02 > B at 0.10 ± 0.05", "exp-lab"}));
  // A probe question without a probe run: planned, with the tool that measures it.
  EXPECT_EQ(row_of(map, "q_probe")[2], "planned");
  EXPECT_EQ(row_of(map, "q_probe")[3], "ready, no run in this store: lmlab probe");
  // A spec names the question but the store has no runs of it.
  EXPECT_EQ(row_of(map, "q_spec")[3], "experiment ready, no runs in this store: experiments/exp_spec.toml (lmlab lab run <file>)");
  EXPECT_EQ(row_of(map, "q_plan")[3], "lab: alignment — a reward model");
  EXPECT_EQ(row_of(map, "q_plan")[1], "라 (lines 4, 5)");
  EXPECT_EQ(row_of(map, "q_never")[2], "not measurable on one machine");
  EXPECT_EQ(row_of(map, "q_never")[3], "needs a cluster");
  EXPECT_EQ(map.tables[0].data.rows().back()[0].text, "q_never: Never?");
}

TEST(notes_map, a_listed_section_measures_its_question_and_verdicts_are_tallied) {
  const std::vector<rp::section> secs = {
      answered("probe-x", "", std::nullopt),
      answered("exp-a", "q_lab", rp::verdict{"differs", "x"}),
      answered("exp-b", "q_lab", rp::verdict{"undecided: the model did not learn the task", "y"})};
  rp::notes_map_counts counts;
  const auto map = rp::notes_map_section(notes_of(kQuestions), secs, {}, &counts);
  EXPECT_EQ(counts.measured, 2u);
  const auto probe = row_of(map, "q_probe");
  EXPECT_EQ(probe[2], "measured here");
  EXPECT_EQ(probe[4], "no published rule to compare with");
  EXPECT_EQ(probe[5], "probe-x");
  // Two sections answer one question: both, named, and both links.
  const auto lab = row_of(map, "q_lab");
  EXPECT_EQ(lab[4], "T exp-a: differs — x | T exp-b: undecided: the model did not learn the task — y");
  EXPECT_EQ(lab[5], "exp-a exp-b");
  EXPECT_NE(map.answer.find("(0 verdicts agree with the published result, 1 differ, 1 undecided)"), std::string::npos)
      << map.answer;
  // The links render as anchors to the sections.
  rp::document doc;
  doc.sections = {map};
  const std::string html = rp::render_index_html(doc);
  EXPECT_NE(html.find("<a href=\"#exp-a\">exp-a</a> <a href=\"#exp-b\">exp-b</a>"), std::string::npos);
}

TEST(notes_map, the_overview_opens_the_report) {
  rp::document doc;
  doc.sections = {answered("exp-lab", "q_lab", rp::verdict{"agrees", ""})};
  const json claims = json::parse(R"({"checked": "against papers", "claims": [
    {"id": "c1", "section": "1", "line": 15, "claim_ko": "가나", "verdict": "wrong", "correction": "X", "source": "P"},
    {"id": "c2", "section": "1", "line": 16, "claim_ko": "다라", "verdict": "correct", "correction": "", "source": "Q"}]})");
  rp::add_notes_overview(doc, notes_of(kQuestions, claims), "no-such-folder", {answered("plan-x", "q_spec", rp::verdict{"differs", "27x"})});
  ASSERT_EQ(doc.sections.size(), 4u);
  EXPECT_EQ(doc.sections[0].id, "notes-map");
  EXPECT_EQ(doc.sections[1].id, "plan-x");
  EXPECT_EQ(doc.sections[2].id, "notes-claims");
  EXPECT_EQ(doc.sections[3].id, "exp-lab");
  // The front sections count as answers too.
  EXPECT_EQ(row_of(doc.sections[0], "q_spec")[2], "measured here");
  EXPECT_EQ(doc.sections[2].answer, "2 claims checked: 1 correct, 1 wrong.");
  EXPECT_EQ(doc.sections[2].tables[0].data.rows()[0][2].text, "가나");
  EXPECT_EQ(doc.sections[2].tables[0].data.rows()[0][3].text, "wrong");
}

// The notes files themselves: every question has a way to a status (a section, a spec, a tool,
// a plan or a reason), and none types its status in.
TEST(notes_map, every_question_of_the_notes_has_a_status_source) {
  const auto n = rp::load_lab_notes("data/notes");
  const auto metas = lmlab::lab::load_experiment_metas("experiments");
  std::set<std::string> spec_questions;
  for (const auto& [name, m] : metas) spec_questions.insert(m.question);
  const auto& qs = n.questions["questions"];
  ASSERT_GE(qs.size(), 30u);
  std::set<std::string> labs;
  for (const auto& q : qs) {
    const std::string id = q.value("id", "");
    SCOPED_TRACE(id);
    EXPECT_FALSE(q.contains("status")) << "a status is computed, never typed in";
    const int ways = static_cast<int>(spec_questions.count(id)) + q.contains("sections") + q.contains("how") +
                     q.contains("plan") + q.contains("not_measurable");
    EXPECT_GE(ways, 1);
    EXPECT_FALSE(q.contains("plan") && q.contains("not_measurable"));
    if (q.contains("plan")) labs.insert(q["plan"].value("lab", ""));
    EXPECT_FALSE(q.value("quotes", json::array()).empty());
    EXPECT_EQ(q["quotes"].size(), q["lines"].size());
  }
  for (const char* lab : {"alignment", "data/collapse", "interpretability", "VLM", "knowledge", "real models", "scale-out"})
    EXPECT_TRUE(labs.count(lab)) << lab;
  // The whole map over the real notes: the counts add up to every question.
  rp::notes_map_counts c;
  rp::notes_map_section(n, {}, metas, &c);
  EXPECT_EQ(c.measured + c.planned + c.not_measurable, qs.size());
  EXPECT_EQ(c.measured, 0u);  // nothing is measured without sections
  EXPECT_EQ(rp::fact_check_section(n).tables[0].data.rows().size(), n.claims["claims"].size());
}
