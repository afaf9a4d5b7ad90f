// Compute-optimal allocation: see chinchilla.hpp.
#include "plan/chinchilla.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"

namespace lmlab::plan {

double loss_fit::loss(double n, double d) const {
  return E + A / std::pow(n, alpha) + B / std::pow(d, beta);  // ref: Hoffmann et al. 2022, eq. (2)
}

double loss_fit::G() const {
  return std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));  // ref: Hoffmann et al. 2022, eq. (4)
}

const std::vector<loss_fit>& known_loss_fits() {
  static const std::vector<loss_fit> fits = {
      {"hoffmann", 1.69, 406.4, 410.7, 0.34, 0.28,
       "Hoffmann et al. 2022, Approach 3 as printed (Section 3.3, eq. 10)"},
      {"epoch", 1.8172, 482.01, 2085.43, 0.3478, 0.3658,
       "Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', Table 1"},
  };
  return fits;
}

const std::vector<power_rule>& known_power_rules() {
  // Approach 1: least-squares fit of log N on log C through the nine rows of Table 3 (which the
  // paper computed from Approach 1; printed exponent a = 0.50). Reproduces every row within
  // 1.3% in N (the 67B row's printed 1.5T tokens is itself 6% off 5.76e23 / (6·67e9)).
  // Approach 2: printed exponent a = 0.49 (Table 2), anchored at the paper's stated
  // compute-optimal size for the Gopher budget (63B at 5.76e23 FLOPs, Section 3.4).
  static const std::vector<power_rule> rules = {
      {"approach1", 0.09915893230795195, 0.49809868577718786,
       "Hoffmann et al. 2022, Approach 1: power law through Table 3 (a = 0.498, printed 0.50)"},
      {"approach2", 63e9 / std::pow(5.76e23, 0.49), 0.49,
       "Hoffmann et al. 2022, Approach 2: a = 0.49 (Table 2), 63B at 5.76e23 FLOPs"},
  };
  return rules;
}

std::vector<std::string> known_allocation_names() {
  std::vector<std::string> names;
  for (const auto& f : known_loss_fits()) names.push_back(f.name);
  for (const auto& r : known_power_rules()) names.push_back(r.name);
  return names;
}

allocation find_allocation(std::string_view name) {
  for (const auto& f : known_loss_fits())
    if (f.name == name) return {f.name, f, std::nullopt};
  for (const auto& r : known_power_rules())
    if (r.name == name) return {r.name, std::nullopt, r};
  std::string known;
  for (const auto& n : known_allocation_names()) known += (known.empty() ? "" : ", ") + n;
  throw error(fmt::format("--fit: unknown scaling fit '{}'", name),
              fmt::format("known fits: {}, or 'custom' with --E --A --B --alpha --beta", known));
}

namespace {
void check_compute(double c) {
  LMLAB_CHECK_HINT(std::isfinite(c) && c > 0, "a training budget is a positive number of FLOPs, e.g. 1e23",
                   "--compute: budget {} must be > 0", c);
}
}  // namespace

optimum closed_form_optimum(const loss_fit& f, double compute) {
  check_compute(compute);
  // ref: Hoffmann et al. 2022, eq. (4): N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b.
  const double g = f.G();
  optimum o;
  o.compute = compute;
  o.n = g * std::pow(compute / 6.0, f.a());
  o.d = std::pow(compute / 6.0, f.b()) / g;
  o.loss = f.loss(o.n, o.d);
  return o;
}

optimum numeric_optimum(const loss_fit& f, double compute) {
  check_compute(compute);
  // L(N, C/(6N)) is unimodal in log N (sum of a decreasing and an increasing power).
  auto obj = [&](double logn) {
    const double n = std::exp(logn);
    return f.loss(n, compute / (6.0 * n));
  };
  double lo = std::log(1.0), hi = std::log(compute / 6.0);
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
  double f1 = obj(x1), f2 = obj(x2);
  for (int it = 0; it < 300 && hi - lo > 1e-13; ++it) {
    if (f1 < f2) {
      hi = x2, x2 = x1, f2 = f1;
      x1 = hi - phi * (hi - lo), f1 = obj(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2;
      x2 = lo + phi * (hi - lo), f2 = obj(x2);
    }
  }
  optimum o;
  o.compute = compute;
  o.n = std::exp(0.5 * (lo + hi));
  o.d = compute / (6.0 * o.n);
  o.loss = f.loss(o.n, o.d);
  return o;
}

optimum optimum_for_compute(const allocation& m, double compute) {
  if (m.fit) return closed_form_optimum(*m.fit, compute);
  check_compute(compute);
  optimum o;
  o.compute = compute;
  o.n = m.rule->k * std::pow(compute, m.rule->a);
  o.d = compute / (6.0 * o.n);
  o.loss = std::numeric_limits<double>::quiet_NaN();
  return o;
}

optimum optimum_for_params(const allocation& m, double n) {
  LMLAB_CHECK_HINT(std::isfinite(n) && n > 0, "give a parameter count such as 7e9 or 70B", "--params: {} must be > 0",
                   n);
  optimum o;
  o.n = n;
  if (m.fit) {
    // Invert N = G (C/6)^a.  ref: Hoffmann et al. 2022, eq. (4)
    o.compute = 6.0 * std::pow(n / m.fit->G(), 1.0 / m.fit->a());
    o.d = o.compute / (6.0 * n);
    o.loss = m.fit->loss(o.n, o.d);
  } else {
    o.compute = std::pow(n / m.rule->k, 1.0 / m.rule->a);
    o.d = o.compute / (6.0 * n);
    o.loss = std::numeric_limits<double>::quiet_NaN();
  }
  return o;
}

// ---- rules of thumb ------------------------------------------------------------------------

namespace {

// A monomial k · C^pc · N^pn.
struct monomial {
  double k = 1, pc = 0, pn = 0;
};

std::string normalise_ops(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "\xC3\x97") == 0) { out += '*'; ++i; continue; }  // ×
    if (s.compare(i, 2, "\xC2\xB7") == 0) { out += '*'; ++i; continue; }  // ·
    if (s.compare(i, 3, "\xE2\x8B\x85") == 0) { out += '*'; i += 2; continue; }  // ⋅
    if (s.compare(i, 2, "**") == 0) { out += '^'; ++i; continue; }
    out += s[i];
  }
  return out;
}

monomial parse_rhs(const std::string& s, const std::string& clause) {
  monomial m;
  std::size_t i = 0;
  bool divide = false;
  auto fail = [&](std::string_view why) {
    throw error(fmt::format("--check-rule: cannot read '{}': {}", clause, why),
                "write clauses like 'N_opt = C^0.49 / 1.7, D_opt = C^0.51 * 7.7' or 'D = 20 N'");
  };
  auto skip = [&] {
    while (i < s.size() && (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == '(' || s[i] == ')')) ++i;
  };
  auto number = [&]() -> double {
    skip();
    const char* begin = s.c_str() + i;
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (end == begin) fail("expected a number");
    i += static_cast<std::size_t>(end - begin);
    return v;
  };
  bool any = false;
  while (true) {
    skip();
    if (i >= s.size()) break;
    const char c = s[i];
    if (c == '*') { ++i; continue; }
    if (c == '/') { divide = true; ++i; continue; }
    double k = 1, pc = 0, pn = 0;
    if (c == 'C' || c == 'c' || c == 'N' || c == 'n') {
      ++i;
      double p = 1;
      skip();
      if (i < s.size() && s[i] == '^') {
        ++i;
        p = number();
      }
      (c == 'C' || c == 'c' ? pc : pn) = p;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+') {
      k = number();
      skip();
      if (i < s.size() && s[i] == '^') {
        ++i;
        k = std::pow(k, number());
      }
    } else {
      fail(fmt::format("unexpected '{}'", c));
    }
    if (divide) {
      if (k == 0) fail("division by zero");
      m.k /= k, m.pc -= pc, m.pn -= pn;
    } else {
      m.k *= k, m.pc += pc, m.pn += pn;
    }
    divide = false;
    any = true;
  }
  if (!any) fail("empty right-hand side");
  return m;
}

}  // namespace

rule_of_thumb parse_rule(std::string_view text) {
  rule_of_thumb r;
  r.text = std::string(text);
  std::string s = normalise_ops(text);
  std::vector<std::string> clauses;
  std::string cur;
  for (char c : s) {
    if (c == ',' || c == ';' || c == '\n') {
      clauses.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  clauses.push_back(cur);
  for (auto& clause : clauses) {
    if (clause.find_first_not_of(" \t") == std::string::npos) continue;
    const auto eq = clause.find('=');
    LMLAB_CHECK_HINT(eq != std::string::npos, "each clause is 'N = ...' or 'D = ...'",
                     "--check-rule: clause '{}' has no '='", clause);
    std::string lhs = clause.substr(0, eq);
    const auto first = lhs.find_first_not_of(" \t");
    LMLAB_CHECK_HINT(first != std::string::npos, "each clause is 'N = ...' or 'D = ...'",
                     "--check-rule: clause '{}' has nothing left of '='", clause);
    const char who = static_cast<char>(std::toupper(static_cast<unsigned char>(lhs[first])));
    LMLAB_CHECK_HINT(who == 'N' || who == 'D', "the left side names N (parameters) or D (tokens)",
                     "--check-rule: clause '{}' must set N or D", clause);
    const monomial m = parse_rhs(clause.substr(eq + 1), clause);
    if (who == 'N') {
      LMLAB_CHECK_HINT(m.pn == 0, "N may depend only on C", "--check-rule: '{}' defines N in terms of N", clause);
      r.kn = m.k, r.pn = m.pc;
    } else if (m.pn != 0) {
      LMLAB_CHECK_HINT(m.pn == 1 && m.pc == 0, "use 'D = 20 N' or 'D = k * C^p'",
                       "--check-rule: '{}' must be linear in N without C", clause);
      r.d_per_n = m.k;
    } else {
      r.kd = m.k, r.pd = m.pc;
    }
  }
  LMLAB_CHECK_HINT(r.kn || r.kd || r.d_per_n, "e.g. --check-rule 'N = C^0.5 / 10, D = C^0.5 * 1.7'",
                   "--check-rule: '{}' sets neither N nor D", text);
  return r;
}

std::pair<double, double> rule_of_thumb::at(double c) const {
  double n = std::numeric_limits<double>::quiet_NaN(), d = n;
  if (kn) n = *kn * std::pow(c, *pn);
  if (kd) d = *kd * std::pow(c, *pd);
  if (d_per_n) {
    if (kn) {
      d = *d_per_n * n;
    } else {
      n = std::sqrt(c / (6.0 * *d_per_n));  // 6·N·(r·N) = C
      d = *d_per_n * n;
    }
  }
  if (std::isnan(n)) n = c / (6.0 * d);
  if (std::isnan(d)) d = c / (6.0 * n);
  return {n, d};
}

}  // namespace lmlab::plan
