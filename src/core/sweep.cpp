// The sweep grammar: see sweep.hpp.
#include "core/sweep.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

#include "core/error.hpp"
#include "core/split.hpp"

namespace lmlab {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Position of the '-' that separates a range's ends, or npos. A '-' at the start, or right
// after an exponent marker, belongs to a number.
std::size_t range_dash(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] != '-') continue;
    const char prev = s[i - 1];
    if (prev == 'e' || prev == 'E') continue;
    return i;
  }
  return std::string_view::npos;
}

}  // namespace

double parse_quantity(std::string_view text, std::string_view what, bool binary_suffix) {
  std::string_view s = trim(text);
  LMLAB_CHECK_HINT(!s.empty(), "give a number such as 128, 1e19 or 128k", "{}: empty value", what);
  double mult = 1.0;
  const char last = s.back();
  const double base = binary_suffix ? 1024.0 : 1000.0;
  switch (last) {
    case 'k': case 'K': mult = base; break;
    case 'M': mult = base * base; break;
    case 'G': case 'B': mult = base * base * base; break;
    case 'T': mult = base * base * base * base; break;
    default: break;
  }
  if (mult != 1.0) s.remove_suffix(1);
  double v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (!s.empty() && *b == '+') ++b;
  auto [ptr, ec] = std::from_chars(b, e, v);
  LMLAB_CHECK_HINT(ec == std::errc() && ptr == e && std::isfinite(v),
                   "a value is a number with an optional k/M/G/T suffix; a sweep is e.g. 1,2,4 or 256-4096*2 or 64-256+64",
                   "{}: cannot parse '{}' as a number", what, text);
  return v * mult;
}

std::vector<double> parse_sweep(std::string_view text, std::string_view what, sweep_options opt) {
  std::vector<double> out;
  std::string_view rest = text;
  LMLAB_CHECK(!trim(text).empty(), "{}: empty value", what);
  while (true) {
    const std::size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    LMLAB_CHECK_HINT(!item.empty(), "remove the empty item between commas", "{}: empty item in '{}'", what, text);
    const std::size_t dash = range_dash(item);
    if (dash == std::string_view::npos) {
      out.push_back(parse_quantity(item, what, opt.binary_suffix));
    } else {
      const std::string_view lo_s = item.substr(0, dash);
      std::string_view hi_s = item.substr(dash + 1);
      const std::size_t op = hi_s.find_first_of("*+");
      LMLAB_CHECK_HINT(op != std::string_view::npos, "write a range as FIRST-LAST*FACTOR or FIRST-LAST+STEP",
                       "{}: range '{}' has no step", what, item);
      const char kind = hi_s[op];
      const double step = parse_quantity(hi_s.substr(op + 1), what, opt.binary_suffix);
      hi_s = hi_s.substr(0, op);
      const double lo = parse_quantity(lo_s, what, opt.binary_suffix);
      const double hi = parse_quantity(hi_s, what, opt.binary_suffix);
      LMLAB_CHECK(lo <= hi, "{}: range '{}' runs backwards ({} > {})", what, item, lo, hi);
      if (kind == '*') {
        LMLAB_CHECK(step > 1.0, "{}: range '{}': factor must be > 1", what, item);
        LMLAB_CHECK(lo > 0.0, "{}: range '{}': a geometric range must start above 0", what, item);
      } else {
        LMLAB_CHECK(step > 0.0, "{}: range '{}': step must be > 0", what, item);
      }
      const double tol = 1e-9 * std::max(std::abs(hi), 1e-300);
      double v = lo;
      for (std::size_t i = 0; v <= hi + tol; ++i) {
        LMLAB_CHECK(out.size() < opt.max_points, "{}: sweep '{}' has more than {} points", what, text, opt.max_points);
        out.push_back(v);
        v = kind == '*' ? lo * std::pow(step, static_cast<double>(i + 1)) : lo + step * static_cast<double>(i + 1);
      }
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

std::vector<std::int64_t> parse_sweep_int(std::string_view text, std::string_view what, sweep_options opt) {
  std::vector<std::int64_t> out;
  for (double v : parse_sweep(text, what, opt)) {
    const double r = std::round(v);
    LMLAB_CHECK_HINT(std::abs(v - r) <= 1e-9 * std::max(1.0, std::abs(v)) && std::abs(r) < 9.2e18,
                     "this flag takes whole numbers", "{}: {} is not an integer (in '{}')", what, v, text);
    out.push_back(static_cast<std::int64_t>(r));
  }
  return out;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (const std::string_view item : split_view(text, ','))
    if (!item.empty()) out.emplace_back(item);
  return out;
}

}  // namespace lmlab
