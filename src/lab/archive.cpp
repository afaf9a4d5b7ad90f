#include "lab/archive.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/cpu.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/spec.hpp"
#include "lmlab_version.hpp"

namespace lmlab::lab {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int archive_version = 1;

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json run_line(const store::run_info& r, const std::string& id, const std::vector<store::metric_point>& metrics,
              const std::vector<store::evaluation>& evals) {
  json m = json::object();
  double cpu = std::numeric_limits<double>::quiet_NaN();
  for (const auto& p : metrics) {
    m[p.name].push_back(json::array({p.step, number_or_null(p.value)}));
    if (p.name == "cpu_seconds") cpu = p.value;
  }
  json e = json::array();
  for (const auto& x : evals) e.push_back(json::array({x.split, x.slice, x.metric, number_or_null(x.value), x.n}));
  json line = {{"run", r.name},
               {"id", id},
               {"replicate", r.config.value("seed", json(nullptr))},
               {"seed", r.seed ? json(*r.seed) : json(nullptr)},
               {"config", r.config},
               {"status", std::string(store::to_string(r.status))},
               {"git_hash", r.git_hash},
               {"host", r.host},
               {"created_at", r.created_at},
               {"started_at", r.started_at},
               {"finished_at", r.finished_at},
               {"cpu_seconds", number_or_null(cpu)},
               {"metrics", m},
               {"evaluations", e}};
  return line;
}

// Reading: every error names the file and line.
struct line_reader {
  std::string file;
  std::size_t line = 0;
  [[noreturn]] void fail(const std::string& what) const {
    throw lmlab::error(fmt::format("{}:{}: {}", file, line, what),
                       "write it again with `lmlab lab archive SPEC --size SIZE --store STORE` (docs/lab.md, \"Archives\")");
  }
  const json& need(const json& j, const char* key, json::value_t type) const {
    if (!j.contains(key)) fail(fmt::format("missing key '{}'", key));
    const json& v = j.at(key);
    const bool ok = type == json::value_t::number_float ? v.is_number() || v.is_null() : v.type() == type;
    if (!ok && !(type == json::value_t::number_integer && v.is_number_unsigned()))
      fail(fmt::format("'{}': expected {}, got {}", key, json(type).type_name(), v.type_name()));
    return v;
  }
  std::string text(const json& j, const char* key) const { return need(j, key, json::value_t::string).get<std::string>(); }
  double number(const json& v, const std::string& what) const {
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number()) fail(fmt::format("{}: expected a number, got {}", what, v.type_name()));
    return v.get<double>();
  }
};

std::vector<std::string> strings(const line_reader& r, const json& j, const char* key) {
  std::vector<std::string> out;
  for (const auto& s : r.need(j, key, json::value_t::array)) {
    if (!s.is_string()) r.fail(fmt::format("'{}': expected an array of strings", key));
    out.push_back(s.get<std::string>());
  }
  return out;
}

archived_run parse_run(const line_reader& r, const json& j) {
  archived_run a;
  store::run_info& i = a.info;
  i.kind = "lab";
  i.name = r.text(j, "run");
  const std::string id = r.text(j, "id");
  if (i.name.size() <= id.size() || i.name.compare(i.name.size() - id.size(), id.size(), id) != 0)
    r.fail(fmt::format("run '{}' does not end in its id '{}'", i.name, id));
  i.config = r.need(j, "config", json::value_t::object);
  const std::string status = r.text(j, "status");
  if (status != "finished") r.fail(fmt::format("run '{}': status '{}': an archive holds finished runs only", i.name, status));
  i.status = store::run_status::finished;
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) r.fail("'seed': expected an integer");
    i.seed = j["seed"].get<std::int64_t>();
  }
  i.git_hash = r.text(j, "git_hash");
  i.host = r.text(j, "host");
  i.created_at = r.text(j, "created_at");
  i.started_at = r.text(j, "started_at");
  i.finished_at = r.text(j, "finished_at");
  for (const auto& [name, points] : r.need(j, "metrics", json::value_t::object).items()) {
    if (!points.is_array()) r.fail(fmt::format("metrics.{}: expected an array of [step, value]", name));
    for (const auto& p : points) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer())
        r.fail(fmt::format("metrics.{}: expected [step, value] pairs, got {}", name, p.dump()));
      a.metrics.push_back({p[0].get<std::int64_t>(), name, r.number(p[1], "metrics." + name)});
    }
  }
  for (const auto& e : r.need(j, "evaluations", json::value_t::array)) {
    if (!e.is_array() || e.size() != 5 || !e[0].is_string() || !e[1].is_string() || !e[2].is_string() ||
        !e[4].is_number_integer())
      r.fail(fmt::format("evaluations: expected [split, slice, metric, value, n], got {}", e.dump()));
    a.evaluations.push_back({e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<std::string>(),
                             r.number(e[3], "evaluations value"), e[4].get<std::int64_t>()});
  }
  return a;
}

std::string id_of(const std::string& run_name) {
  const auto slash = run_name.rfind('/');
  return slash == std::string::npos ? run_name : run_name.substr(slash + 1);
}

}  // namespace

std::vector<std::string> size_run_ids(const std::vector<fs::path>& specs, std::string_view size, std::string* experiment) {
  LMLAB_CHECK(!specs.empty(), "archive: no spec files");
  std::set<std::string> ids;
  std::string name;
  for (const auto& f : specs) {
    const std::string text = read_text_file(f);
    const std::string src = f.string();
    if (!has_size(text, src, size)) continue;  // a file that does not run at this size adds no runs
    const experiment_spec s = parse_spec(text, src, size_overrides(text, src, size));
    if (name.empty()) name = s.name;
    LMLAB_CHECK_HINT(s.name == name, "archive one experiment at a time (files that share a name)",
                     "archive: {} is experiment '{}', the files before it '{}'", src, s.name, name);
    for (const auto& r : s.runs) ids.insert(r.id);
  }
  LMLAB_CHECK_HINT(!name.empty(), fmt::format("add a [sizes.{}] table", size), "archive: no spec among {} runs at size '{}'",
                   specs.front().string(), size);
  if (experiment) *experiment = name;
  return {ids.begin(), ids.end()};
}

archive_summary write_archive(store::results_store& db, const std::vector<fs::path>& specs, std::string_view size,
                              const fs::path& out, const std::string& command) {
  archive_summary sum;
  const std::vector<std::string> ids = size_run_ids(specs, size, &sum.experiment);
  sum.expected = ids.size();
  std::vector<json> lines;
  for (const auto& id : ids) {
    const std::string name = sum.experiment + "/" + id;
    const auto r = db.find_run("lab", name);
    if (!r || r->status != store::run_status::finished) {
      sum.missing.push_back(name);
      continue;
    }
    json line = run_line(*r, id, db.metrics(r->id), db.evaluations(r->id));
    if (line["cpu_seconds"].is_number()) sum.cpu_seconds += line["cpu_seconds"].get<double>();
    lines.push_back(std::move(line));
  }
  LMLAB_CHECK_HINT(!lines.empty(),
                   fmt::format("run them first: lmlab lab run {} --size {} --store {}", specs.front().string(), size,
                               db.path().string()),
                   "archive: none of the {} runs of '{}' at size '{}' is finished in {}", ids.size(), sum.experiment, size,
                   db.path().string());
  sum.archived = lines.size();
  std::vector<std::string> spec_names;
  for (const auto& f : specs) spec_names.push_back(f.generic_string());
  const json header = {{"lmlab_archive", archive_version},
                       {"experiment", sum.experiment},
                       {"size", std::string(size)},
                       {"specs", spec_names},
                       {"command", command},
                       {"commit", std::string(lmlab::git_hash)},
                       {"date", utc_now()},
                       {"store", db.path().string()},
                       {"cpu", detect_cpu().model},
                       {"run_ids", ids},
                       {"runs", lines.size()}};
  std::string text = header.dump() + "\n";
  for (const auto& l : lines) text += l.dump() + "\n";
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  write_file_atomic(out, text);
  return sum;
}

run_archive read_archive(const fs::path& path) {
  line_reader r{path.string()};
  std::istringstream in(read_text_file(path));
  run_archive a;
  a.path = path;
  std::string text;
  std::set<std::string> names;
  std::size_t declared = 0;
  while (std::getline(in, text)) {
    ++r.line;
    if (text.empty()) r.fail("empty line");
    json j;
    try {
      j = json::parse(text);
    } catch (const json::parse_error& e) {
      r.fail(fmt::format("not JSON ({})", e.what()));
    }
    if (!j.is_object()) r.fail(fmt::format("expected a JSON object, got {}", j.type_name()));
    if (r.line == 1) {
      if (!j.contains("lmlab_archive")) r.fail("not an lmlab archive (its first line has no 'lmlab_archive')");
      if (j["lmlab_archive"] != archive_version)
        r.fail(fmt::format("archive version {}: this lmlab reads version {}", j["lmlab_archive"].dump(), archive_version));
      a.experiment = r.text(j, "experiment");
      a.size = r.text(j, "size");
      a.command = r.text(j, "command");
      a.commit = r.text(j, "commit");
      a.date = r.text(j, "date");
      a.store = r.text(j, "store");
      a.cpu = r.text(j, "cpu");
      a.specs = strings(r, j, "specs");
      a.run_ids = strings(r, j, "run_ids");
      declared = r.need(j, "runs", json::value_t::number_integer).get<std::size_t>();
      continue;
    }
    archived_run run = parse_run(r, j);
    if (run.info.name.rfind(a.experiment + "/", 0) != 0)
      r.fail(fmt::format("run '{}' is not of experiment '{}' (the header's)", run.info.name, a.experiment));
    if (!names.insert(run.info.name).second) r.fail(fmt::format("run '{}' appears twice", run.info.name));
    run.info.id = static_cast<std::int64_t>(a.runs.size()) + 1;
    a.runs.push_back(std::move(run));
  }
  if (r.line == 0) r.fail("empty file");
  if (a.runs.size() != declared) {
    r.line = 1;
    r.fail(fmt::format("the header says {} runs, the file holds {} (truncated?)", declared, a.runs.size()));
  }
  return a;
}

archive_match match_archive(const run_archive& a, const std::vector<std::string>& spec_ids) {
  archive_match m;
  const std::set<std::string> want(spec_ids.begin(), spec_ids.end());
  std::set<std::string> have;
  for (const auto& r : a.runs) have.insert(id_of(r.info.name));
  for (const auto& id : have)
    if (!want.count(id)) m.stale.push_back(id);
  for (const auto& id : want)
    if (!have.count(id)) m.missing.push_back(id);
  return m;
}

std::string archive_match::describe(std::size_t archived) const {
  std::string s;
  if (!stale.empty())
    s = fmt::format("{} of its {} runs are not runs the spec produces at this size today (e.g. {}): the spec changed since "
                    "it was archived",
                    stale.size(), archived, stale.front());
  if (!missing.empty())
    s += fmt::format("{}{} run{} of the spec at this size {} not in it (e.g. {})", s.empty() ? "" : "; ", missing.size(),
                     missing.size() == 1 ? "" : "s", missing.size() == 1 ? "is" : "are", missing.front());
  return s;
}

}  // namespace lmlab::lab
