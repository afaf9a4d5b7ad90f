// The map of the notes and the fact-check table (see notes_map.hpp).
#include "report/notes_map.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "report/lab_data.hpp"

namespace lmlab::report {

using nlohmann::json;

namespace {

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string lines_of(const json& q) {
  std::vector<std::string> lines;
  for (const auto& l : q.value("lines", json::array())) lines.push_back(l.dump());
  return joined(lines, ", ");
}

// The sections that answer question `q`: those naming it, and those its "sections" list.
std::vector<const section*> answering(const json& q, const std::vector<section>& answered) {
  const std::string id = q.value("id", "");
  const auto listed = q.value("sections", std::vector<std::string>{});
  std::vector<const section*> out;
  for (const auto& s : answered)
    if ((!s.question_id.empty() && s.question_id == id) || std::find(listed.begin(), listed.end(), s.id) != listed.end())
      out.push_back(&s);
  return out;
}

struct status {
  std::string word;  // measured here / planned / not measurable on one machine
  std::string answer, verdict, links;
};

status status_of(const json& q, const std::vector<section>& answered, const std::map<std::string, lab::report_meta>& metas) {
  status st;
  if (const auto secs = answering(q, answered); !secs.empty()) {
    st.word = "measured here";
    std::vector<std::string> answers, verdicts, links;
    for (const auto* s : secs) {
      const std::string who = secs.size() > 1 ? s->title + ": " : "";
      answers.push_back(who + s->answer);
      verdicts.push_back(who + (s->outcome ? s->outcome->word + (s->outcome->detail.empty() ? "" : " — " + s->outcome->detail)
                                           : std::string("no published rule to compare with")));
      links.push_back(s->id);
    }
    st.answer = joined(answers, " | ");
    st.verdict = joined(verdicts, " | ");
    st.links = joined(links, " ");
    return st;
  }
  const std::string id = q.value("id", "");
  if (q.contains("not_measurable")) {
    st.word = "not measurable on one machine";
    st.answer = q["not_measurable"].get<std::string>();
    return st;
  }
  st.word = "planned";
  std::vector<std::string> specs;
  for (const auto& [name, m] : metas)
    if (m.question == id)
      specs.push_back(m.source.empty() ? name : "experiments/" + std::filesystem::path(m.source).filename().string());
  if (!specs.empty())
    st.answer = "experiment ready, no runs in this store: " + joined(specs, ", ") + " (lmlab lab run <file>)";
  else if (q.contains("how"))
    st.answer = "ready, no run in this store: " + q["how"].get<std::string>();
  else if (q.contains("plan"))
    st.answer = "lab: " + q["plan"].value("lab", std::string("?")) + " — " + q["plan"].value("why", std::string(""));
  else
    st.answer = "no experiment yet";
  return st;
}

}  // namespace

section notes_map_section(const lab_notes& notes, const std::vector<section>& answered,
                          const std::map<std::string, lab::report_meta>& metas, notes_map_counts* counts) {
  section s;
  s.id = "notes-map";
  s.title = "Map of the notes: what lmlab has measured and what it has not";
  s.question = "Every measurable question of the seed notes, with its status: measured here (our answer and verdict "
               "with its 95% CI, and a link to the section), planned (the open lab that will measure it), or not "
               "measurable on one machine (why).";
  s.quote_source = notes.questions.value("notes", "shared/seed/open-problems.ko.md");
  table t({"question", "the notes say (lines)", "status", "our answer / plan", "verdict (95% CI)", "section"});
  notes_map_counts n;
  std::size_t agree = 0, differ = 0, undecided = 0;
  // Measured first, then planned, then not measurable; the notes' order within each.
  std::vector<std::pair<int, std::vector<cell>>> rows;
  for (const auto& q : notes.questions.value("questions", json::array())) {
    const status st = status_of(q, answered, metas);
    const int rank = st.word == "measured here" ? 0 : st.word == "planned" ? 1 : 2;
    (rank == 0 ? n.measured : rank == 1 ? n.planned : n.not_measurable)++;
    for (const auto* sec : answering(q, answered)) {
      if (!sec->outcome) continue;
      const std::string& w = sec->outcome->word;
      (w == "agrees" ? agree : w == "differs" ? differ : undecided)++;
    }
    rows.push_back({rank, {q.value("id", "") + ": " + q.value("question_en", ""), q.value("quote", "") + " (lines " + lines_of(q) + ")",
                           st.word, st.answer, st.verdict, st.links}});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& r : rows) t.add_row(std::move(r.second));
  s.answer = fmt::format("Of {} questions of the notes: {} measured here ({} verdicts agree with the published result, {} "
                         "differ, {} undecided), {} planned, {} not measurable on one machine.",
                         n.measured + n.planned + n.not_measurable, n.measured, agree, differ, undecided, n.planned,
                         n.not_measurable);
  s.tables.push_back({"notes-map", "Questions of the notes and their status (measured from the store and the specs)",
                      std::move(t), "section"});
  if (counts) *counts = n;
  return s;
}

section fact_check_section(const lab_notes& notes) {
  section s;
  s.id = "notes-claims";
  s.title = "Fact-check of the notes";
  s.question = "Which factual claims of the notes hold against their primary sources (papers, model cards, configs, "
               "reference code)?";
  s.quote_source = notes.claims.value("notes", "shared/seed/open-problems.ko.md");
  table t({"line", "section", "the notes say", "verdict", "correction", "source"});
  std::map<std::string, std::size_t> by_verdict;
  const auto& claims = notes.claims.value("claims", json::array());
  for (const auto& c : claims) {
    ++by_verdict[c.value("verdict", "?")];
    t.add_row({c.contains("line") ? c["line"].dump() : "", c.value("section", ""), c.value("claim_ko", c.value("claim_en", "")),
               c.value("verdict", ""), c.value("correction", ""), c.value("source", "")});
  }
  std::vector<std::string> parts;
  for (const auto& [v, k] : by_verdict) parts.push_back(fmt::format("{} {}", k, v));
  s.answer = fmt::format("{} claims checked: {}.", claims.size(), joined(parts, ", "));
  if (notes.claims.contains("checked")) s.comparison = "Checked " + notes.claims["checked"].get<std::string>() + ".";
  s.tables.push_back({"notes-claims", "Claims of the notes, by line", std::move(t)});
  return s;
}

void add_notes_overview(document& doc, const lab_notes& notes, const std::filesystem::path& experiments_dir,
                        std::vector<section> front) {
  std::set<std::string> ids;
  for (const auto& q : notes.questions.value("questions", json::array())) ids.insert(q.value("id", ""));
  const auto metas = std::filesystem::exists(experiments_dir) ? lab::load_experiment_metas(experiments_dir, &ids)
                                                              : std::map<std::string, lab::report_meta>{};
  std::vector<section> all = front;
  all.insert(all.end(), doc.sections.begin(), doc.sections.end());
  std::vector<section> out;
  out.push_back(notes_map_section(notes, all, metas));
  for (auto& s : front) out.push_back(std::move(s));
  out.push_back(fact_check_section(notes));
  for (auto& s : doc.sections) out.push_back(std::move(s));
  doc.sections = std::move(out);
}

}  // namespace lmlab::report
