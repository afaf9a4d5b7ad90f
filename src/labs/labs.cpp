// Every lab's tasks and runners: see labs.hpp.
#include "labs/labs.hpp"

#include "align/runners.hpp"
#include "datalab/runners.hpp"
#include "knowledge/runners.hpp"
#include "vlm/runner.hpp"

namespace lmlab::labs {

void register_all_labs() {
  static const bool done = [] {
    register_tms();
    register_interp();
    vlm::register_lab();
    align::register_align();
    knowledge::register_knowledge();
    datalab::register_datalab();
    return true;
  }();
  (void)done;
}

}  // namespace lmlab::labs
