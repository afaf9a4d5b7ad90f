// The alignment lab joins the binary here: its lab runner (task "align_overopt", src/align/
// runners.hpp) is registered at static-init time, so `lmlab lab run experiments/align_*.toml`,
// `lmlab lab tasks` and `lmlab lab task align_overopt` know it.
// Not for: the lab's logic (src/align/).
#include "align/runners.hpp"

namespace {
const bool registered = [] {
  lmlab::align::register_align();
  return true;
}();
}  // namespace
