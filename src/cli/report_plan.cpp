// `lmlab report` gets the planner's corrections of the notes (plan/notes_section.hpp) as sections
// in front of the lab's. A file of its own, named after both layers, so that a build without
// either leaves it out (src/cli/CMakeLists.txt).
// Not for: the sections themselves (src/plan/notes_section.cpp).
#include "plan/notes_section.hpp"

namespace {
[[maybe_unused]] const bool kRegistered = (lmlab::plan::register_report_source(), true);
}  // namespace
