// Test helper shared by the suites under tests/: the message of the lmlab::error that f()
// throws, or "(no error)", so that a test pins an error message with one EXPECT_EQ (any other
// exception fails the test). Older suites still carry their own copy.
#pragma once

#include <string>

#include "core/error.hpp"

namespace lmlab::testing {

inline std::string error_of(auto&& f) {
  try {
    f();
  } catch (const lmlab::error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace lmlab::testing
