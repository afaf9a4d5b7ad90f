// Linked into the test executables that load the repository's experiments/*.toml (see
// lmlab_test_register_labs in cmake/lmlab_helpers.cmake): registers every lab's tasks and
// runners before the tests run, as the binary does.
#include "labs/labs.hpp"

namespace {
const bool registered = [] {
  lmlab::labs::register_all_labs();
  return true;
}();
}  // namespace
