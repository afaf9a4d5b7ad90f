// The knowledge lab in the `lmlab` binary: registers its tasks and runners (biographies,
// reversal, kv_position, knowledge_edit; src/knowledge/runners.hpp) at start-up, so specs in
// experiments/ name them like any task and `lmlab lab tasks` / `lmlab lab task NAME` list and
// print them. It adds no verb of its own: runs go through `lmlab lab run`, results to the report.
// Not for: the lab's logic (src/knowledge/).
#include "knowledge/runners.hpp"

namespace {
const bool registered = [] {
  lmlab::knowledge::register_knowledge();
  return true;
}();
}  // namespace
