// The [report] and [expect] tables of an experiment spec: see experiment_meta.hpp.
#include "lab/experiment_meta.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/spec.hpp"
#include "tasks/params.hpp"
#include "tasks/registry.hpp"

namespace lmlab::lab {

namespace {

// Messages: "<file>: <key>: <what>".
class reader {
 public:
  explicit reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& msg, const std::string& hint = {}) const {
    throw lmlab::error(fmt::format("{}: {}: {}", source_, key, msg), hint);
  }

  void only_keys(const toml::table& t, const std::string& key, const std::vector<std::string>& known) const {
    for (auto&& [k, v] : t) {
      const std::string name(k.str());
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      const std::string near = tasks::closest_name(name, known);
      fail(key.empty() ? name : key + "." + name, "unknown key",
           (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "known keys: " + fmt::format("{}", fmt::join(known, ", ")));
    }
  }

  std::string string(const toml::table& t, const std::string& key, const std::string& name, const std::string& dflt = {},
                     bool required = false) const {
    const toml::node* n = t.get(name);
    if (!n) {
      if (required) fail(key + "." + name, "missing");
      return dflt;
    }
    if (!n->is_string()) fail(key + "." + name, "expected a string");
    return n->as_string()->get();
  }

  double number(const toml::table& t, const std::string& key, const std::string& name, double dflt) const {
    const toml::node* n = t.get(name);
    if (!n) return dflt;
    if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
    if (n->is_floating_point()) return n->as_floating_point()->get();
    fail(key + "." + name, "expected a number");
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

const std::vector<std::string> kOps = {">", ">=", "<", "<=", "within"};
const std::vector<std::string> kCondOps = {"!=", "<=", ">=", "=", "<", ">", "~"};  // longest first

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

metric_ref parse_metric(const reader& r, const std::string& key, const std::string& text) {
  static const std::regex re(R"(([A-Za-z_][A-Za-z0-9_]*)(?:@(.+))?)");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    r.fail(key, fmt::format("'{}' is not a metric", text),
           "write NAME[@SLICE], e.g. accuracy, accuracy@hardest, accuracy@kv=8, accuracy@id/*, final_train_loss");
  return {m[1].str(), m[2].matched ? m[2].str() : std::string()};
}

// Config keys a condition may test: model.* and train.* of the lab's schema, task.* of the task.
void check_config_key(const reader& r, const std::string& key, const std::string& what, const std::string& task_name) {
  const auto dot = what.find('.');
  const std::string sec = dot == std::string::npos ? what : what.substr(0, dot);
  const std::string name = dot == std::string::npos ? std::string() : what.substr(dot + 1);
  std::vector<std::string> known;
  if (sec == "model") known = model_keys();
  else if (sec == "train") known = train_keys();
  else if (sec == "task") {
    known.push_back("name");
    for (const auto& p : tasks::find_task(task_name).params) known.push_back(p.name);
  } else {
    r.fail(key, fmt::format("'{}' is not a config key", what), "write section.key, e.g. model.d_model or task.split");
  }
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    const std::string near = tasks::closest_name(name, known);
    r.fail(key, fmt::format("'{}' is not a key of [{}]{}", what, sec, sec == "task" ? " for task '" + task_name + "'" : ""),
           near.empty() ? "known keys: " + fmt::format("{}", fmt::join(known, ", ")) : "did you mean '" + sec + "." + near + "'?");
  }
}

variant_group parse_group(const reader& r, const std::string& key, const std::string& name, const toml::node& n,
                          const std::string& task_name) {
  if (!n.is_string()) r.fail(key, "expected a string such as \"model.pattern ~ A+ and model.d_model >= 64\"");
  variant_group g{name, n.as_string()->get(), {}};
  std::string rest = g.where;
  while (true) {
    const auto at = rest.find(" and ");
    const std::string part = trim(rest.substr(0, at));
    condition c;
    const auto in = part.find(" in ");
    std::size_t op_at = std::string::npos;
    if (in != std::string::npos) {
      c.key = trim(part.substr(0, in)), c.op = "in";
      std::string list = trim(part.substr(in + 4));
      if (list.size() >= 2 && list.front() == '(' && list.back() == ')') list = list.substr(1, list.size() - 2);
      std::size_t start = 0;
      while (true) {
        const auto comma = list.find(',', start);
        c.values.push_back(trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else {
      for (const auto& op : kCondOps)
        if ((op_at = part.find(op)) != std::string::npos) {
          c.op = op;
          break;
        }
      if (op_at == std::string::npos)
        r.fail(key, fmt::format("'{}' has no operator", part), "write key op value with op one of = != < <= > >= ~ in");
      c.key = trim(part.substr(0, op_at));
      c.values = {trim(part.substr(op_at + c.op.size()))};
    }
    if (c.key.empty() || c.values.empty() || c.values[0].empty())
      r.fail(key, fmt::format("'{}' needs a key and a value", part));
    check_config_key(r, key, c.key, task_name);
    if (c.op == "~") {
      try {
        std::regex check(c.values[0]);
      } catch (const std::regex_error& e) {
        r.fail(key, fmt::format("'{}' is not a regular expression: {}", c.values[0], e.what()));
      }
    }
    if (c.op != "=" && c.op != "!=" && c.op != "~" && c.op != "in") {
      char* end = nullptr;
      std::strtod(c.values[0].c_str(), &end);
      if (*end != '\0') r.fail(key, fmt::format("'{}' compares with {}: needs a number", part, c.op));
    }
    g.all_of.push_back(std::move(c));
    if (at == std::string::npos) break;
    rest = rest.substr(at + 5);
  }
  return g;
}

side parse_side(const reader& r, const std::string& key, const toml::node* n, const metric_ref& dflt,
                const std::set<std::string>& groups, bool in_pair) {
  if (!n) r.fail(key, "missing");
  side s;
  if (n->is_integer() || n->is_floating_point()) {
    s.number = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
    s.text = fmt::format("{}", s.number);
    return s;
  }
  if (!n->is_string()) r.fail(key, "expected a number or a string such as \"max(attention)\"");
  s.text = n->as_string()->get();
  static const std::regex re(R"((max|min|each)\(([A-Za-z0-9_]+)\)(?:\.(.+))?|(first|second)(?:\.(.+))?)");
  std::smatch m;
  if (!std::regex_match(s.text, m, re))
    r.fail(key, fmt::format("'{}' is not a side", s.text),
           "write a number, AGG(GROUP)[.METRIC] with AGG max, min or each, or first/second in a pair rule");
  s.metric = dflt;
  if (m[1].matched) {
    const std::string agg = m[1].str();
    s.kind = agg == "max" ? side_kind::max : agg == "min" ? side_kind::min : side_kind::each;
    s.group = m[2].str();
    if (s.group != "all" && !groups.count(s.group))
      r.fail(key, fmt::format("no group '{}'", s.group),
             fmt::format("define it under [expect.groups], or use all; groups: {}", fmt::join(groups, ", ")));
    if (m[3].matched) s.metric = parse_metric(r, key, m[3].str());
    if (in_pair) r.fail(key, "a pair rule compares first and second", "write left = \"first\", right = \"second\"");
  } else {
    s.kind = m[4].str() == "first" ? side_kind::first : side_kind::second;
    if (m[5].matched) s.metric = parse_metric(r, key, m[5].str());
    if (!in_pair) r.fail(key, fmt::format("'{}' needs a pair = {{ differ, closest, within }} in the rule", m[4].str()));
  }
  return s;
}

check parse_check(const reader& r, const std::string& key, const toml::node& n, const std::set<std::string>& groups,
                  const std::string& task_name, bool require) {
  if (!n.is_table()) r.fail(key, "expected a table");
  const toml::table& t = *n.as_table();
  std::vector<std::string> known = {"left", "op", "right", "metric", "margin", "tolerance", "tolerance_min", "ci_overlap", "pair"};
  if (require) known.push_back("otherwise");
  r.only_keys(t, key, known);
  check c;
  c.key = key;
  const metric_ref dflt = parse_metric(r, key + ".metric", r.string(t, key, "metric", "accuracy"));
  if (const toml::node* p = t.get("pair")) {
    if (!p->is_table()) r.fail(key + ".pair", "expected a table { differ = \"model.n_layers\", closest = \"n_params\", within = 0.15 }");
    const toml::table& pt = *p->as_table();
    r.only_keys(pt, key + ".pair", {"differ", "closest", "within"});
    pair_choice pc;
    pc.differ = r.string(pt, key + ".pair", "differ", "", true);
    check_config_key(r, key + ".pair.differ", pc.differ, task_name);
    pc.closest = parse_metric(r, key + ".pair.closest", r.string(pt, key + ".pair", "closest", "", true));
    pc.within = r.number(pt, key + ".pair", "within", 0.1);
    c.pair = pc;
  }
  c.left = parse_side(r, key + ".left", t.get("left"), dflt, groups, c.pair.has_value());
  c.right = parse_side(r, key + ".right", t.get("right"), dflt, groups, c.pair.has_value());
  c.op = r.string(t, key, "op", "", true);
  if (std::find(kOps.begin(), kOps.end(), c.op) == kOps.end())
    r.fail(key + ".op", fmt::format("'{}' is not one of: {}", c.op, fmt::join(kOps, ", ")));
  c.margin = r.number(t, key, "margin", 0.0);
  if (c.op == "within" && !t.get("margin")) r.fail(key + ".margin", "missing", "op = \"within\" needs margin = 0.05 (5%)");
  if (const toml::node* tol = t.get("tolerance")) {
    if (tol->is_string()) {
      if (tol->as_string()->get() != "ci") r.fail(key + ".tolerance", "expected a number or \"ci\"");
      c.tolerance_ci = true;
      c.tolerance = r.number(t, key, "tolerance_min", 0.0);
    } else {
      c.tolerance = r.number(t, key, "tolerance", 0.0);
    }
  }
  const std::string overlap = r.string(t, key, "ci_overlap", "ignore");
  if (overlap != "ignore" && overlap != "undecided") r.fail(key + ".ci_overlap", "expected \"ignore\" or \"undecided\"");
  c.ci_overlap_undecided = overlap == "undecided";
  if (c.left.kind == side_kind::number) r.fail(key + ".left", "the left side must come from the runs", "put the number on the right");
  if (c.left.kind == side_kind::each && c.right.kind == side_kind::each && c.left.group != c.right.group)
    r.fail(key + ".right", "each(...) on both sides pairs a variant with itself: use the same group");
  if (require) c.otherwise = r.string(t, key, "otherwise", "the precondition does not hold");
  return c;
}

std::vector<check> parse_checks(const reader& r, const toml::table& t, const std::string& name,
                                const std::set<std::string>& groups, const std::string& task_name) {
  std::vector<check> out;
  const toml::node* n = t.get(name);
  if (!n) return out;
  if (!n->is_array()) r.fail("expect." + name, "expected an array of tables [[expect." + name + "]]");
  std::size_t i = 0;
  for (const auto& item : *n->as_array())
    out.push_back(parse_check(r, fmt::format("expect.{}[{}]", name, i++), item, groups, task_name, name == "require"));
  return out;
}

expectation parse_expect(const reader& r, const toml::table& t, const std::string& task_name) {
  r.only_keys(t, "expect", {"published", "citation", "summary", "quick_limit", "exclude", "groups", "require", "rule"});
  expectation e;
  e.published = r.string(t, "expect", "published", "", true);
  e.citation = r.string(t, "expect", "citation", "", true);
  e.summary = r.string(t, "expect", "summary");
  e.quick_limit = r.string(t, "expect", "quick_limit");
  std::set<std::string> names;
  if (const toml::node* g = t.get("groups")) {
    if (!g->is_table()) r.fail("expect.groups", "expected a table of name = \"condition\"");
    for (auto&& [k, v] : *g->as_table()) {
      const std::string name(k.str());
      if (name == "all") r.fail("expect.groups.all", "'all' is built in (every variant)");
      e.groups.push_back(parse_group(r, "expect.groups." + name, name, v, task_name));
      names.insert(name);
    }
  }
  if (const toml::node* x = t.get("exclude")) {
    if (!x->is_table()) r.fail("expect.exclude", "expected a table with metric, below, reason");
    const toml::table& xt = *x->as_table();
    r.only_keys(xt, "expect.exclude", {"metric", "below", "reason", "min_seeds"});
    exclusion ex;
    ex.metric = parse_metric(r, "expect.exclude.metric", r.string(xt, "expect.exclude", "metric", "", true));
    if (!xt.get("below")) r.fail("expect.exclude.below", "missing");
    ex.below = r.number(xt, "expect.exclude", "below", 0);
    ex.reason = r.string(xt, "expect.exclude", "reason", "", true);
    const double k = r.number(xt, "expect.exclude", "min_seeds", 3);
    if (k < 1 || k != std::floor(k)) r.fail("expect.exclude.min_seeds", fmt::format("{}: expected a whole number >= 1", k));
    ex.min_seeds = static_cast<std::size_t>(k);
    e.exclude = ex;
  }
  e.require = parse_checks(r, t, "require", names, task_name);
  e.rules = parse_checks(r, t, "rule", names, task_name);
  if (e.rules.empty()) r.fail("expect.rule", "missing", "add at least one [[expect.rule]] (or leave out [expect])");
  return e;
}

std::vector<plot_spec> parse_plots(const reader& r, const toml::node& n) {
  if (!n.is_array()) r.fail("report.plot", "expected an array of tables [[report.plot]]");
  std::vector<plot_spec> out;
  std::size_t i = 0;
  static const std::regex id_re("[a-z0-9][a-z0-9_-]*");
  for (const auto& item : *n.as_array()) {
    const std::string key = fmt::format("report.plot[{}]", i++);
    if (!item.is_table()) r.fail(key, "expected a table");
    const toml::table& t = *item.as_table();
    r.only_keys(t, key, {"id", "title", "x", "y", "series", "log_x"});
    plot_spec p;
    p.id = r.string(t, key, "id", "", true);
    if (!std::regex_match(p.id, id_re) || p.id == "loss" || p.id == "slices" || p.id == "heatmap" || p.id == "final")
      r.fail(key + ".id", fmt::format("'{}': expected [a-z0-9][a-z0-9_-]*, not a built-in figure name", p.id));
    for (const auto& q : out)
      if (q.id == p.id) r.fail(key + ".id", fmt::format("'{}' appears twice", p.id));
    p.x = parse_metric(r, key + ".x", r.string(t, key, "x", "", true));
    p.y = parse_metric(r, key + ".y", r.string(t, key, "y", "", true));
    p.title = r.string(t, key, "title", p.y.text() + " against " + p.x.text());
    p.series = r.string(t, key, "series");
    if (const toml::node* l = t.get("log_x")) {
      if (!l->is_boolean()) r.fail(key + ".log_x", "expected true or false");
      p.log_x = l->as_boolean()->get();
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

const std::vector<std::string>& builtin_figures() {
  static const std::vector<std::string> f = {"loss", "slices", "heatmap", "final", "metrics"};
  return f;
}

report_meta parse_report_meta(std::string_view toml_text, std::string_view source, const std::string& experiment,
                              const std::string& task_name) {
  const reader r{std::string(source)};
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(source));
  } catch (const toml::parse_error& e) {
    throw lmlab::error(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  report_meta m;
  m.source = r.source();
  m.title = experiment;
  m.question = experiment;
  if (const toml::node* rep = root.get("report")) {
    if (!rep->is_table()) r.fail("report", "expected a table [report]");
    const toml::table& t = *rep->as_table();
    r.only_keys(t, "report", {"title", "question", "figures", "plot"});
    m.declared = true;
    m.title = r.string(t, "report", "title", experiment);
    m.question = r.string(t, "report", "question", experiment);
    if (const toml::node* f = t.get("figures")) {
      if (!f->is_array()) r.fail("report.figures", "expected an array of names");
      m.figures.clear();
      for (const auto& item : *f->as_array()) {
        const auto& names = builtin_figures();
        if (!item.is_string() || std::find(names.begin(), names.end(), item.as_string()->get()) == names.end())
          r.fail("report.figures", "expected names of built-in figures", fmt::format("built in: {}", fmt::join(names, ", ")));
        m.figures.push_back(item.as_string()->get());
      }
    }
    if (const toml::node* p = t.get("plot")) m.plots = parse_plots(r, *p);
  }
  if (const toml::node* e = root.get("expect")) {
    if (!e->is_table()) r.fail("expect", "expected a table [expect]");
    m.declared = true;
    m.expect = parse_expect(r, *e->as_table(), task_name);
  }
  return m;
}

std::map<std::string, report_meta> load_experiment_metas(const std::filesystem::path& dir,
                                                         const std::set<std::string>* question_ids,
                                                         const std::string& questions_file) {
  LMLAB_CHECK_HINT(std::filesystem::is_directory(dir), "run from the repository root or pass --experiments DIR",
                   "report: experiments folder {} not found", dir.string());
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.path().extension() == ".toml") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  std::map<std::string, report_meta> out;
  std::map<std::string, std::vector<std::filesystem::path>> files_of;
  for (const auto& f : files) {
    const experiment_spec spec = load_spec(f);
    files_of[spec.name].push_back(f);
    auto [it, inserted] = out.try_emplace(spec.name, spec.meta);
    if (inserted || !spec.meta.declared) continue;
    if (it->second.declared)
      throw lmlab::error(fmt::format("{}: report/expect: experiment '{}' is already described by {}", f.string(), spec.name,
                                     it->second.source),
                         "keep [report] and [expect] in one of the files that share a name");
    it->second = spec.meta;
  }
  for (auto& [name, m] : out) m.files = files_of[name];
  if (question_ids)
    for (const auto& [name, m] : out)
      if (m.declared && !question_ids->count(m.question))  // a spec without [report] is titled by its name
        throw lmlab::error(fmt::format("{}: report.question: '{}' is not an id in {}", m.source,
                                       m.question, questions_file),
                           fmt::format("ids: {}", fmt::join(*question_ids, ", ")));
  return out;
}

}  // namespace lmlab::lab
