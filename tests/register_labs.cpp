// The repository's experiments (experiments/*.toml) name lab-runner tasks that labs above the
// lab layer register (lab/runner.hpp); the lmlab binary registers them in src/cli/<lab>.cpp.
// Tests that load every repository experiment link this file (and the labs' libraries) so
// those specs parse there too. Add a lab's register_...() here when it registers a task.
// Not for: tests of a lab itself (they call its register function directly).
#include "align/runners.hpp"

namespace {
const bool registered = [] {
  lmlab::align::register_align();
  return true;
}();
}  // namespace
