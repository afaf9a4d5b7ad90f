// The registry of section sources: see sources.hpp.
#include "report/sources.hpp"

namespace lmlab::report {

namespace {
std::vector<section_source>& registry() {
  static std::vector<section_source> r;
  return r;
}
}  // namespace

void register_section_source(section_source s) { registry().push_back(std::move(s)); }
const std::vector<section_source>& section_sources() { return registry(); }

}  // namespace lmlab::report
