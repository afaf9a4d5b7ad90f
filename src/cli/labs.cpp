// Registers every lab's tasks and runners (labs/labs.hpp) when the binary starts, so `lab run`,
// `lab exec` and `report` know every task an experiment spec may name.
#include "labs/labs.hpp"

namespace {
const bool registered = [] {
  lmlab::labs::register_all_labs();
  return true;
}();
}  // namespace
