// The opening of the report: the map of the notes — every question of data/notes/questions.json
// with its status — and the fact-check table of data/notes/claims.json. A question's status is
// computed, never typed: "measured here" when a section of the report answers it (a lab
// experiment whose spec names the question and whose runs are in the store, a section listed in
// the question's "sections" such as a probe suite, or a planner section), with that section's
// answer, verdict and link; otherwise "planned" (the question's "plan": the open lab and how;
// or "how": the tool that measures it, not run into this store; or an experiment spec that
// names it, not run) or "not measurable on one machine" (its "not_measurable": why).
// Not for: the experiment sections themselves (lab_report.hpp), the planner's numbers (plan/).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lab/experiment_meta.hpp"
#include "report/lab_report.hpp"
#include "report/report.hpp"

namespace lmlab::report {

struct notes_map_counts {
  std::size_t measured = 0, planned = 0, not_measurable = 0;
};

// The map section (id "notes-map") over the report's other sections; `metas` are the experiment
// specs by name (for questions with a spec but no runs). `counts`, when given, receives the tally.
section notes_map_section(const lab_notes& notes, const std::vector<section>& answered,
                          const std::map<std::string, lab::report_meta>& metas, notes_map_counts* counts = nullptr);

// The fact-check section (id "notes-claims"): every claim with its line, verdict, correction and source.
section fact_check_section(const lab_notes& notes);

// Puts the map first and the fact-check table after `front` (the planner's sections) in front of
// doc.sections; the specs come from experiments_dir.
void add_notes_overview(document& doc, const lab_notes& notes, const std::filesystem::path& experiments_dir,
                        std::vector<section> front = {});

}  // namespace lmlab::report
