// A small report with one figure of each kind, a table, and text that needs escaping; shared
// by the unit tests and the headless-Chromium test.
#pragma once

#include "report/report.hpp"

namespace lmlab::report::testing {
document sample_document();
}
