// The repository's experiments/*.toml name the tasks of every lab, which the binary registers at
// start-up (src/cli/<lab>.cpp). The tests that load those specs register them the same way.
#include "knowledge/runners.hpp"

namespace {
const bool registered = [] {
  lmlab::knowledge::register_knowledge();
  return true;
}();
}  // namespace
