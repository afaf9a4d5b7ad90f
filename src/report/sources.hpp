// Sections that layers above the report (the planner, the probe harness) add to `lmlab report`: each
// registers a source that turns the results store into sections, so the report verb needs no
// knowledge of them and no #ifdef on which layers are built. The CLI file of the owning layer
// registers it (src/cli/probe.cpp, src/cli/report_plan.cpp); a build without that layer simply has no such source.
// Not for: the lab's sections (lab_report.hpp), which the report renders itself.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "report/report.hpp"
#include "store/results_store.hpp"

namespace lmlab::report {

// Where a source's sections go: after the lab sections (the probe's runs), or in front of them,
// right after the map of the notes (the planner's corrections of the notes).
enum class placement { back, front };

struct section_source {
  std::string name;  // e.g. "probe"
  // The source's sections for the runs in the store (empty: none of its runs there).
  std::function<std::vector<section>(store::results_store&)> sections;
  // A document of its own, for a store that holds only this source's runs (back sources).
  std::function<report::document(store::results_store&)> own_document;
  placement where = placement::back;
};

// Adds a source (call from a static initialiser or main; not thread-safe).
void register_section_source(section_source s);
const std::vector<section_source>& section_sources();

}  // namespace lmlab::report
