// The planner's corrections of the seed notes, computed live for `lmlab report`: the notes'
// Chinchilla rule checked against C = 6·N·D and Hoffmann et al.'s fits (plan/chinchilla.hpp),
// and the notes' VLM token counts against each front end's reference rules (plan/vlm_tokens.hpp).
// Each section names the question of data/notes/questions.json it answers and carries a verdict
// on the notes' claim, so the report's map of the notes shows it as measured.
// Not for: the formulas themselves (chinchilla.hpp, vlm_tokens.hpp) or the CLI tables (tables.hpp).
#pragma once

#include <vector>

#include "report/report.hpp"

namespace lmlab::plan {

report::section chinchilla_notes_section();
report::section vlm_tokens_notes_section();

// Registers both as a report section source placed before the lab sections, and, with the store
// layer, the scaling-law fits of the store's sweeps (fit_section.hpp) after them (idempotent;
// called by src/cli/report_plan.cpp).
void register_report_source();

}  // namespace lmlab::plan
