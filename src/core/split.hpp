// Splitting text at a separator without copying: the one loop behind line-by-line readers and
// comma lists. Not for: quoting or escaping (CSV readers handle those).
#pragma once

#include <string_view>
#include <vector>

namespace lmlab {

// Every piece of `s` between separators, empty ones included: "a,,b," -> "a", "", "b", "".
// The views point into `s`.
inline std::vector<std::string_view> split_view(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t p = 0;
  for (;;) {
    const auto q = s.find(sep, p);
    if (q == std::string_view::npos) {
      out.push_back(s.substr(p));
      return out;
    }
    out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
}

}  // namespace lmlab
