// Test helper shared by the datalab suites: a spec parsed with the datalab's tasks
// registered, and the message of the error such a spec raises. Not for: library code.
#pragma once

#include <string>

#include "../error_of.hpp"
#include "datalab/runners.hpp"
#include "lab/spec.hpp"

namespace lmlab::testing {

inline lab::experiment_spec datalab_spec(const std::string& toml, const std::string& file) {
  datalab::register_datalab();
  return lab::parse_spec(toml, file);
}

// "(no error)" when the spec parses.
inline std::string datalab_spec_error(const std::string& toml, const std::string& file) {
  return error_of([&] { datalab_spec(toml, file); });
}

}  // namespace lmlab::testing
