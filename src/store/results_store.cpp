// The lmlab results store: see results_store.hpp.
#include "store/results_store.hpp"

#include <unistd.h>

#include <array>
#include <charconv>

#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "lmlab_version.hpp"

namespace lmlab::store {
namespace {

// Each entry moves the schema from version i to i+1. Never edit a released entry: add one.
const std::array<const char*, results_store::schema_version> k_migrations = {
    // 0 -> 1: the lab tables (issue 5 item 4).
    R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','running','finished','failed')),
  failure_reason TEXT,
  seed INTEGER,
  git_hash TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  started_at TEXT,
  finished_at TEXT,
  UNIQUE (kind, name)
);
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;
CREATE TABLE evaluations (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  split TEXT NOT NULL,
  slice TEXT NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  n INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, slice, metric)
) WITHOUT ROWID;
CREATE TABLE artifacts (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
)sql",
    // 1 -> 2: the probe harness (issue 6): request cache and per-sample records.
    R"sql(
CREATE TABLE request_cache (
  key TEXT NOT NULL,
  repeat INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  response TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY (key, repeat, seed)
) WITHOUT ROWID;
CREATE TABLE samples (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  task TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  repeat INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (run_id, task, doc_id, repeat)
) WITHOUT ROWID;
)sql",
};

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "";
  return buf.data();
}

const char* k_run_columns =
    "id, kind, name, config, status, failure_reason, seed, git_hash, host, created_at, started_at, finished_at";

}  // namespace

constexpr enum_name<run_status> k_run_statuses[] = {{run_status::pending, "pending"},
                                                    {run_status::running, "running"},
                                                    {run_status::finished, "finished"},
                                                    {run_status::failed, "failed"}};

std::string_view to_string(run_status s) { return name_of(k_run_statuses, s); }

run_status parse_run_status(std::string_view s) {
  if (const auto v = value_named(k_run_statuses, s)) return *v;
  throw error(fmt::format("results store: unknown run status '{}'", s), "expected pending, running, finished or failed");
}

std::string request_key(const nlohmann::json& canonical_request) {
  // nlohmann::json keeps object keys sorted (std::map), so dump() is canonical.
  const std::string s = canonical_request.dump();
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

results_store::results_store(const std::filesystem::path& path, open_options opts) : db_(path, opts) {
  if (!opts.read_only) migrate();
  else {
    const int v = version();
    LMLAB_CHECK_HINT(v == schema_version, "open it once read-write with this lmlab to migrate it",
                     "{}: results store has schema version {}, this lmlab uses {}", path.string(), v, schema_version);
  }
}

int results_store::version() {
  std::lock_guard lk(mu_);
  auto st = db_.prepare("PRAGMA user_version");
  st.step();
  return static_cast<int>(st.get_int(0));
}

void results_store::migrate() {
  std::lock_guard lk(mu_);
  transaction tx(db_);  // re-read the version under the write lock: another process may have migrated
  int v = 0;
  {
    auto st = db_.prepare("PRAGMA user_version");
    st.step();
    v = static_cast<int>(st.get_int(0));
  }
  LMLAB_CHECK_HINT(v <= schema_version, "use the lmlab that wrote it, or a newer one",
                   "{}: results store has schema version {}, newer than this lmlab's {}", db_.path().string(), v,
                   schema_version);
  if (v == schema_version) return;  // the transaction rolls back: nothing written
  for (int i = v; i < schema_version; ++i) db_.exec(k_migrations[static_cast<std::size_t>(i)]);
  db_.exec(fmt::format("PRAGMA user_version = {}", schema_version));
  tx.commit();
}

run_info results_store::read_run(statement& st) {
  run_info r;
  r.id = st.get_int(0);
  r.kind = st.get_text(1);
  r.name = st.get_text(2);
  const std::string cfg = st.get_text(3);
  r.config = nlohmann::json::parse(cfg, nullptr, false);
  LMLAB_CHECK(!r.config.is_discarded(), "{}: run {} has a config that is not JSON", db_.path().string(), r.id);
  r.status = parse_run_status(st.get_text(4));
  r.failure_reason = st.get_text(5);
  r.seed = st.get_opt_int(6);
  r.git_hash = st.get_text(7);
  r.host = st.get_text(8);
  r.created_at = st.get_text(9);
  r.started_at = st.get_text(10);
  r.finished_at = st.get_text(11);
  return r;
}

std::int64_t results_store::create_run(std::string_view kind, std::string_view name, const nlohmann::json& config,
                                       std::optional<std::int64_t> seed) {
  std::lock_guard lk(mu_);
  LMLAB_CHECK(!kind.empty() && !name.empty(), "{}: a run needs a kind and a name", db_.path().string());
  transaction tx(db_);
  {
    auto st = db_.prepare("SELECT id FROM runs WHERE kind = ?1 AND name = ?2");
    st.bind(1, kind).bind(2, name);
    LMLAB_CHECK_HINT(!st.step(), "pick another name, or rerun to resume the existing run",
                     "{}: a {} run named '{}' already exists (id {})", db_.path().string(), kind, name, st.get_int(0));
  }
  auto st = db_.prepare("INSERT INTO runs (kind, name, config, seed, git_hash, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  st.bind(1, kind).bind(2, name).bind(3, config.dump()).bind(4, seed).bind(5, git_hash).bind(6, host_name());
  st.run();
  const auto id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::int64_t results_store::ensure_run(std::string_view kind, std::string_view name, const nlohmann::json& config,
                                       std::optional<std::int64_t> seed) {
  std::lock_guard lk(mu_);
  transaction tx(db_);
  {
    auto st = db_.prepare("SELECT id FROM runs WHERE kind = ?1 AND name = ?2");
    st.bind(1, kind).bind(2, name);
    if (st.step()) return st.get_int(0);
  }
  auto st = db_.prepare("INSERT INTO runs (kind, name, config, seed, git_hash, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  st.bind(1, kind).bind(2, name).bind(3, config.dump()).bind(4, seed).bind(5, git_hash).bind(6, host_name());
  st.run();
  const auto id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::optional<run_info> results_store::find_run(std::string_view kind, std::string_view name) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(fmt::format("SELECT {} FROM runs WHERE kind = ?1 AND name = ?2", k_run_columns));
  st.bind(1, kind).bind(2, name);
  if (!st.step()) return std::nullopt;
  return read_run(st);
}

run_info results_store::get_run(std::int64_t id) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(fmt::format("SELECT {} FROM runs WHERE id = ?1", k_run_columns));
  st.bind(1, id);
  LMLAB_CHECK_HINT(st.step(), "list runs with `lmlab lab ls` or `lmlab probe ls`", "{}: no run with id {}",
                   db_.path().string(), id);
  return read_run(st);
}

run_info results_store::resolve_run(std::string_view ref) {
  std::lock_guard lk(mu_);
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), id);
  if (ec == std::errc() && p == ref.data() + ref.size()) return get_run(id);
  auto st = db_.prepare(fmt::format("SELECT {} FROM runs WHERE name = ?1 ORDER BY id", k_run_columns));
  st.bind(1, ref);
  LMLAB_CHECK_HINT(st.step(), "list runs with `lmlab lab ls` or `lmlab probe ls`", "{}: no run named '{}'",
                   db_.path().string(), ref);
  auto r = read_run(st);
  LMLAB_CHECK_HINT(!st.step(), "refer to the run by its numeric id", "{}: run name '{}' is ambiguous",
                   db_.path().string(), ref);
  return r;
}

std::vector<run_info> results_store::list_runs(std::optional<std::string_view> kind) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(fmt::format("SELECT {} FROM runs {} ORDER BY id", k_run_columns,
                                    kind ? "WHERE kind = ?1" : ""));
  if (kind) st.bind(1, *kind);
  std::vector<run_info> out;
  while (st.step()) out.push_back(read_run(st));
  return out;
}

void results_store::mark_running(std::int64_t id) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "UPDATE runs SET status = 'running', failure_reason = NULL, finished_at = NULL, "
      "started_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), git_hash = ?2, host = ?3 WHERE id = ?1");
  st.bind(1, id).bind(2, git_hash).bind(3, host_name()).run();
  LMLAB_CHECK(db_.changes() == 1, "{}: no run with id {}", db_.path().string(), id);
}

void results_store::mark_finished(std::int64_t id) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "UPDATE runs SET status = 'finished', failure_reason = NULL, "
      "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1");
  st.bind(1, id).run();
  LMLAB_CHECK(db_.changes() == 1, "{}: no run with id {}", db_.path().string(), id);
}

void results_store::mark_failed(std::int64_t id, std::string_view reason) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "UPDATE runs SET status = 'failed', failure_reason = ?2, "
      "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1");
  st.bind(1, id).bind(2, reason).run();
  LMLAB_CHECK(db_.changes() == 1, "{}: no run with id {}", db_.path().string(), id);
}

void results_store::log_metric(std::int64_t run, std::int64_t step, std::string_view name, double value) {
  log_metrics(run, step, {{std::string(name), value}});
}

void results_store::log_metrics(std::int64_t run, std::int64_t step,
                                const std::vector<std::pair<std::string, double>>& values) {
  std::lock_guard lk(mu_);
  transaction tx(db_);
  auto st = db_.prepare("INSERT OR REPLACE INTO metrics (run_id, step, name, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& [name, value] : values) st.bind(1, run).bind(2, step).bind(3, name).bind(4, value).run();
  tx.commit();
}

std::vector<metric_point> results_store::metrics(std::int64_t run, std::optional<std::string_view> name) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(fmt::format("SELECT step, name, value FROM metrics WHERE run_id = ?1 {} ORDER BY name, step",
                                    name ? "AND name = ?2" : ""));
  st.bind(1, run);
  if (name) st.bind(2, *name);
  std::vector<metric_point> out;
  while (st.step()) out.push_back({st.get_int(0), st.get_text(1), st.get_double(2)});
  return out;
}

void results_store::log_evaluation(std::int64_t run, std::string_view split, std::string_view slice,
                                   std::string_view metric, double value, std::int64_t n) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "INSERT OR REPLACE INTO evaluations (run_id, split, slice, metric, value, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  st.bind(1, run).bind(2, split).bind(3, slice).bind(4, metric).bind(5, value).bind(6, n).run();
}

std::vector<evaluation> results_store::evaluations(std::int64_t run) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "SELECT split, slice, metric, value, n FROM evaluations WHERE run_id = ?1 ORDER BY split, slice, metric");
  st.bind(1, run);
  std::vector<evaluation> out;
  while (st.step()) out.push_back({st.get_text(0), st.get_text(1), st.get_text(2), st.get_double(3), st.get_int(4)});
  return out;
}

void results_store::add_artifact(std::int64_t run, std::string_view name, const std::filesystem::path& file) {
  const std::string sha = sha256_file(file);  // outside the lock: may read a large file
  std::lock_guard lk(mu_);
  auto st = db_.prepare("INSERT OR REPLACE INTO artifacts (run_id, name, path, sha256) VALUES (?1, ?2, ?3, ?4)");
  st.bind(1, run).bind(2, name).bind(3, file.string()).bind(4, sha).run();
}

std::vector<artifact> results_store::artifacts(std::int64_t run) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare("SELECT name, path, sha256 FROM artifacts WHERE run_id = ?1 ORDER BY name");
  st.bind(1, run);
  std::vector<artifact> out;
  while (st.step()) out.push_back({st.get_text(0), st.get_text(1), st.get_text(2)});
  return out;
}

void results_store::put_sample(std::int64_t run, std::string_view task, std::string_view doc_id, std::int64_t repeat,
                               const nlohmann::json& data) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(
      "INSERT OR REPLACE INTO samples (run_id, task, doc_id, repeat, data) VALUES (?1, ?2, ?3, ?4, ?5)");
  st.bind(1, run).bind(2, task).bind(3, doc_id).bind(4, repeat).bind(5, data.dump()).run();
}

std::vector<stored_sample> results_store::samples(std::int64_t run, std::optional<std::string_view> task) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare(fmt::format(
      "SELECT task, doc_id, repeat, data FROM samples WHERE run_id = ?1 {} ORDER BY task, doc_id, repeat",
      task ? "AND task = ?2" : ""));
  st.bind(1, run);
  if (task) st.bind(2, *task);
  std::vector<stored_sample> out;
  while (st.step()) {
    auto j = nlohmann::json::parse(st.get_text(3), nullptr, false);
    LMLAB_CHECK(!j.is_discarded(), "{}: sample {}/{} of run {} is not JSON", db_.path().string(), st.get_text(0),
                st.get_text(1), run);
    out.push_back({st.get_text(0), st.get_text(1), st.get_int(2), std::move(j)});
  }
  return out;
}

std::optional<std::string> results_store::cached_response(std::string_view key, std::int64_t repeat,
                                                          std::int64_t seed) {
  std::lock_guard lk(mu_);
  auto st = db_.prepare("SELECT response FROM request_cache WHERE key = ?1 AND repeat = ?2 AND seed = ?3");
  st.bind(1, key).bind(2, repeat).bind(3, seed);
  if (!st.step()) return std::nullopt;
  return st.get_text(0);
}

void results_store::cache_response(std::string_view key, std::int64_t repeat, std::int64_t seed,
                                   std::string_view response, cache_write mode) {
  std::lock_guard lk(mu_);
  // INSERT OR IGNORE: the first stored response wins, so a sample never changes under a rerun.
  auto st = db_.prepare(mode == cache_write::replace
                            ? "INSERT OR REPLACE INTO request_cache (key, repeat, seed, response) VALUES (?1, ?2, ?3, ?4)"
                            : "INSERT OR IGNORE INTO request_cache (key, repeat, seed, response) VALUES (?1, ?2, ?3, ?4)");
  st.bind(1, key).bind(2, repeat).bind(3, seed).bind(4, response).run();
}

std::int64_t results_store::cache_size() {
  std::lock_guard lk(mu_);
  auto st = db_.prepare("SELECT COUNT(*) FROM request_cache");
  st.step();
  return st.get_int(0);
}

table results_store::runs_table(std::optional<std::string_view> kind) {
  table t({"id", "kind", "name", "status", "seed", "git_hash", "host", "created_at", "started_at", "finished_at",
           "failure_reason", "config"});
  for (const auto& r : list_runs(kind)) {
    // Seeds are uint64 (derive_seed); SQLite integers are signed, so the column holds their bits.
    t.add_row({r.id, r.kind, r.name, std::string(to_string(r.status)),
               r.seed ? cell(fmt::format("{}", static_cast<std::uint64_t>(*r.seed))) : cell(""), r.git_hash, r.host, r.created_at, r.started_at, r.finished_at,
               r.failure_reason, r.config.dump()});
  }
  return t;
}

table results_store::metrics_table(std::optional<std::int64_t> run) {
  std::lock_guard lk(mu_);
  table t({"run_id", "run", "step", "name", "value"});
  auto st = db_.prepare(fmt::format(
      "SELECT m.run_id, r.name, m.step, m.name, m.value FROM metrics m JOIN runs r ON r.id = m.run_id {} "
      "ORDER BY m.run_id, m.name, m.step",
      run ? "WHERE m.run_id = ?1" : ""));
  if (run) st.bind(1, *run);
  while (st.step()) t.add_row({st.get_int(0), st.get_text(1), st.get_int(2), st.get_text(3), st.get_double(4)});
  return t;
}

table results_store::evaluations_table(std::optional<std::int64_t> run) {
  std::lock_guard lk(mu_);
  table t({"run_id", "run", "split", "slice", "metric", "value", "n"});
  auto st = db_.prepare(fmt::format(
      "SELECT e.run_id, r.name, e.split, e.slice, e.metric, e.value, e.n FROM evaluations e "
      "JOIN runs r ON r.id = e.run_id {} ORDER BY e.run_id, e.split, e.slice, e.metric",
      run ? "WHERE e.run_id = ?1" : ""));
  if (run) st.bind(1, *run);
  while (st.step())
    t.add_row({st.get_int(0), st.get_text(1), st.get_text(2), st.get_text(3), st.get_text(4), st.get_double(5),
               st.get_int(6)});
  return t;
}

}  // namespace lmlab::store
