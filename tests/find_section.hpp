// Test helper shared by the suites under tests/: the report section with a given id, or a
// runtime_error naming it.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace lmlab::testing {

inline const report::section& find_section(const std::vector<report::section>& v, const std::string& id) {
  for (const auto& s : v)
    if (s.id == id) return s;
  throw std::runtime_error("no section " + id);
}

}  // namespace lmlab::testing
