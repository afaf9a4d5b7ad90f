// Internal-invariant failure reporting (see error.hpp).
#include "core/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace lmlab {

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "lmlab internal error: %s:%d: assertion `%s` failed%s%s\n", file, line, expr,
               msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace lmlab
