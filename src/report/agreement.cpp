// The agreement verdict of an experiment: its [expect] rules (lab/experiment_meta.hpp)
// evaluated against the variants' per-seed values. Preconditions first (a failing one makes the
// verdict "not decided"), then every rule: all hold -> agrees; one fails -> differs; a rule that
// cannot be decided (no runs in a group, CIs overlapping where the rule asks) -> not decided.
#include <algorithm>
#include <cmath>
#include <regex>

#include "core/error.hpp"
#include "report/lab_data.hpp"

namespace lmlab::report {

namespace {

using lab::check;
using lab::side;
using lab::side_kind;


// A side's value: a variant's statistics over seeds, or a number (v == nullptr, s.n == 0).
struct value {
  const variant* v = nullptr;
  seed_stat s;
};

enum class outcome { holds, fails, undecided, overlaps };

struct result {
  outcome o = outcome::undecided;
  std::string text;
};

const lab::variant_group* group_of(const lab::expectation& e, const std::string& name) {
  for (const auto& g : e.groups)
    if (g.name == name) return &g;
  return nullptr;  // "all"
}

std::string group_text(const lab::expectation& e, const std::string& name) {
  const auto* g = group_of(e, name);
  return g ? fmt::format("'{}' ({})", name, g->where) : std::string("'all'");
}

// The variants of a group with a value of the metric.
std::vector<value> group_values(const experiment_data& d, const lab::expectation& e, const side& s) {
  std::vector<value> out;
  const auto* g = group_of(e, s.group);
  for (const auto& v : d.variants) {
    if (!in_group(v, g)) continue;
    const auto vals = metric_values(d, v, s.metric);
    if (!vals.empty()) out.push_back({&v, stat_of(vals)});
  }
  return out;
}

// The pair of a pair rule: (first, second), or an explanation why there is none.
std::optional<std::pair<const variant*, const variant*>> choose_pair(const experiment_data& d, const check& c,
                                                                     std::string& why) {
  const auto& p = *c.pair;
  const variant *a = nullptr, *b = nullptr;
  double best = INFINITY;
  auto attr = [&](const variant& v) {
    const auto it = v.attrs.find(p.differ);
    return it == v.attrs.end() ? std::string("-") : it->second;
  };
  auto usable = [&](const variant& v) {
    return !metric_values(d, v, p.closest).empty() && !metric_values(d, v, c.left.metric).empty() &&
           !metric_values(d, v, c.right.metric).empty();
  };
  for (std::size_t i = 0; i < d.variants.size(); ++i)
    for (std::size_t j = i + 1; j < d.variants.size(); ++j) {
      const variant &u = d.variants[i], &w = d.variants[j];
      if (!usable(u) || !usable(w) || attr(u) == attr(w)) continue;
      const double pu = stat_of(metric_values(d, u, p.closest)).mean, pw = stat_of(metric_values(d, w, p.closest)).mean;
      const double gap = std::abs(pu - pw) / std::max(std::abs(pu), std::abs(pw));
      if (gap < best) best = gap, a = &u, b = &w;
    }
  if (!a || best > p.within) {
    why = fmt::format("no two variants that differ in {} have {} within {:.0f}% of each other", p.differ, p.closest.text(),
                      100 * p.within);
    return std::nullopt;
  }
  return std::make_pair(a, b);
}

// The values of one side, or an explanation why there are none.
std::vector<value> side_values(const experiment_data& d, const lab::expectation& e, const check& c, const side& s,
                               const std::optional<std::pair<const variant*, const variant*>>& pair, std::string& why) {
  if (s.kind == side_kind::number) return {value{nullptr, {s.number, s.number, s.number, 0}}};
  if (s.kind == side_kind::first || s.kind == side_kind::second) {
    const variant* v = s.kind == side_kind::first ? pair->first : pair->second;
    return {value{v, stat_of(metric_values(d, *v, s.metric))}};
  }
  auto all = group_values(d, e, s);
  if (all.empty()) {
    why = fmt::format("no finished variant of group {} has {}", group_text(e, s.group), s.metric.text());
    const std::string sl = resolved_slice(d, s.metric);
    if (!s.metric.slice.empty() && sl.empty()) why = fmt::format("the runs have no test slice for {}", s.metric.text());
    return {};
  }
  if (s.kind == side_kind::each) return all;
  const bool want_max = s.kind == side_kind::max;
  value best = all.front();
  for (const auto& x : all)
    if (want_max ? x.s.mean > best.s.mean : x.s.mean < best.s.mean) best = x;
  return {best};
}

double allowance(const check& c, const value& r) {
  if (!c.tolerance_ci) return c.tolerance;
  return std::max(r.s.n >= 2 ? r.s.half() : 0.0, c.tolerance);
}

bool compare(const check& c, const value& l, const value& r) {
  const double tol = allowance(c, r);
  if (c.op == "within") {
    const double spread = std::abs(l.s.mean - r.s.mean) / std::min(std::abs(l.s.mean), std::abs(r.s.mean));
    return spread <= c.margin + tol;
  }
  // The gap in the op's direction must reach the margin (less the allowance).
  const double gap = c.op[0] == '>' ? l.s.mean - r.s.mean : r.s.mean - l.s.mean;
  const bool strict = c.op.size() == 1;
  return strict ? gap > c.margin - tol : gap >= c.margin - tol;
}

// Whether the 95% CIs of the two sides overlap (a number: lies in the other side's CI).
bool overlap(const value& l, const value& r) {
  if (!r.v) return l.s.lo <= r.s.mean && r.s.mean <= l.s.hi;
  return l.s.lo <= r.s.hi && r.s.lo <= l.s.hi;
}

std::string describe(const experiment_data& d, const side& s, const value& x) {
  if (!x.v) return fmt2(x.s.mean);
  std::string what = s.text;
  if (what.find('.') == std::string::npos) what += "." + s.metric.text();
  if (s.metric.slice == "hardest" || s.metric.slice == "easiest") what += " (" + resolved_slice(d, s.metric) + ")";
  return fmt::format("{} = {} at {}", what, x.v->label, mean_pm(x.s));
}

std::string pair_text(const experiment_data& d, const check& c, const value& l, const value& r) {
  if (c.op == "within") {
    const double spread = std::abs(l.s.mean - r.s.mean) / std::min(std::abs(l.s.mean), std::abs(r.s.mean));
    return fmt::format("{} within {:.0f}% of {} ({:.1f}% apart)", describe(d, c.left, l), 100 * c.margin,
                       describe(d, c.right, r), 100 * spread);
  }
  std::string s = fmt::format("{} {} {}", describe(d, c.left, l), c.op, describe(d, c.right, r));
  if (c.margin != 0) s += fmt::format(" {} {}", c.op[0] == '>' ? "+" : "-", fmt2(c.margin));
  const double tol = allowance(c, r);
  if (tol != 0) s += fmt::format(" (allowing {})", fmt2(tol));
  return s;
}

result evaluate(const experiment_data& d, const lab::expectation& e, const check& c) {
  std::string why;
  std::optional<std::pair<const variant*, const variant*>> pair;
  if (c.pair) {
    pair = choose_pair(d, c, why);
    if (!pair) return {outcome::undecided, why};
  }
  const auto ls = side_values(d, e, c, c.left, pair, why);
  if (ls.empty()) return {outcome::undecided, why};
  const auto rs = side_values(d, e, c, c.right, pair, why);
  if (rs.empty()) return {outcome::undecided, why};
  // Pairs to compare: each(g) against each(g) pairs a variant with itself.
  std::vector<std::pair<value, value>> cmp;
  if (c.left.kind == side_kind::each && c.right.kind == side_kind::each) {
    for (const auto& l : ls)
      for (const auto& r : rs)
        if (l.v == r.v) cmp.emplace_back(l, r);
    if (cmp.empty()) return {outcome::undecided, fmt::format("no variant has both {} and {}", c.left.metric.text(), c.right.metric.text())};
  } else {
    for (const auto& l : ls)
      for (const auto& r : rs) cmp.emplace_back(l, r);
  }
  // The first failing pair, else the tightest one (smallest gap), is the one shown.
  const std::pair<value, value>* shown = nullptr;
  double tightest = INFINITY;
  for (const auto& p : cmp) {
    if (c.ci_overlap_undecided) {
      if (p.first.s.n < 2 || (p.second.v && p.second.s.n < 2))
        return {outcome::undecided, fmt::format("n = 1: no interval ({}; a CI needs two or more seeds per variant)",
                                                pair_text(d, c, p.first, p.second))};
      if (overlap(p.first, p.second))
        return {outcome::overlaps, fmt::format("{}: the 95% CIs overlap", pair_text(d, c, p.first, p.second))};
    }
    if (!compare(c, p.first, p.second)) {
      std::string s = pair_text(d, c, p.first, p.second) + " does not hold";
      if (cmp.size() > 1) s = "not for every variant: " + s;
      return {outcome::fails, s};
    }
    const double gap = std::abs(p.first.s.mean - p.second.s.mean);
    if (gap < tightest) tightest = gap, shown = &p;
  }
  std::string s = pair_text(d, c, shown->first, shown->second);
  if (cmp.size() > 1) s = fmt::format("for all {} variants (closest: {})", cmp.size(), s);
  return {outcome::holds, s};
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

}  // namespace

// [expect.exclude]: d without the runs whose metric is below the threshold; `out` names them
// ("seed 2 of v (0.41)") and `thin` the variants left with fewer than min_seeds seeds.
static experiment_data excluding(const experiment_data& d, const lab::exclusion& x, std::vector<std::string>& out,
                          std::vector<std::string>& thin) {
  experiment_data kept = d;
  for (auto& v : kept.variants) {
    std::vector<const lab_run*> runs;
    std::vector<std::int64_t> seeds;
    for (std::size_t i = 0; i < v.finished.size(); ++i) {
      variant one = v;
      one.finished = {v.finished[i]};
      const auto val = metric_values(d, one, x.metric);
      if (!val.empty() && val.front() < x.below) {
        out.push_back(fmt::format("seed {}{} ({})", v.seeds[i], d.variants.size() > 1 ? " of " + v.label : "", fmt2(val.front())));
        continue;
      }
      runs.push_back(v.finished[i]);
      seeds.push_back(v.seeds[i]);
    }
    v.finished = std::move(runs);
    v.seeds = std::move(seeds);
    if (v.finished.size() < x.min_seeds) thin.push_back(fmt::format("{} has {}", v.label, v.finished.size()));
  }
  return kept;
}

verdict agreement(const experiment_data& all, const lab::expectation& e) {
  std::vector<std::string> excluded, thin;
  const experiment_data d = e.exclude ? excluding(all, *e.exclude, excluded, thin) : all;
  if (!excluded.empty()) {
    const std::string why = fmt::format("excluded by rule ({} < {}: {}): {}", e.exclude->metric.text(), fmt2(e.exclude->below),
                                        e.exclude->reason, join(excluded));
    lab::expectation rest = e;
    rest.exclude.reset();
    verdict v = agreement(d, rest);
    if (!thin.empty())
      v = {fmt::format("undecided: fewer than {} seeds left after the exclusion", e.exclude->min_seeds), join(thin)};
    v.detail = why + (v.detail.empty() ? "" : "; " + v.detail);
    return v;
  }
  for (const auto& c : e.require) {
    const result r = evaluate(d, e, c);
    if (r.o == outcome::holds) continue;
    // The skill the claim needs is missing (or cannot be shown): the claim is not tested.
    return {"undecided: " + c.otherwise, (r.o == outcome::fails ? "measured: " : "") + r.text + " (needed before the claim)"};
  }
  std::vector<std::string> held, failed, overlapping, open;
  for (const auto& c : e.rules) {
    const result r = evaluate(d, e, c);
    (r.o == outcome::holds ? held : r.o == outcome::fails ? failed : r.o == outcome::overlaps ? overlapping : open).push_back(r.text);
  }
  if (!open.empty()) return {"undecided: " + open.front(), join({open.begin() + 1, open.end()})};
  if (!overlapping.empty()) return {"undecided (CI overlaps)", join(overlapping)};
  if (!failed.empty()) return {"differs", join(failed)};
  return {"agrees", join(held)};
}

std::string verdict::sentence() const { return "Verdict: " + word + (detail.empty() ? "." : " — " + detail + "."); }

}  // namespace lmlab::report
