// Moving whole runs between results stores (results_store.hpp, run_record): what `lab merge`
// uses to fold a sharded sweep's per-run stores into the main one. Values round-trip exactly:
// a NULL value (SQLite's NaN) is read as NaN and written back as NULL.
// Not for: finding the per-run stores or deciding which to merge (lab/shard.hpp).
#include <cmath>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace lmlab::store {
namespace {

bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

bool same_info(const run_info& a, const run_info& b) {
  return a.kind == b.kind && a.name == b.name && a.config == b.config && a.status == b.status &&
         a.failure_reason == b.failure_reason && a.seed == b.seed && a.git_hash == b.git_hash && a.host == b.host &&
         a.created_at == b.created_at && a.started_at == b.started_at && a.finished_at == b.finished_at;
}

template <class T, class Eq>
bool same_rows(const std::vector<T>& a, const std::vector<T>& b, Eq eq) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!eq(a[i], b[i])) return false;
  return true;
}

double value_or_nan(const statement& st, int col) { return st.get_opt_double(col).value_or(NAN); }

void bind_value(statement& st, int idx, double v) {
  if (std::isnan(v)) st.bind_null(idx);
  else st.bind(idx, v);
}

std::optional<std::string> text_or_null(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

}  // namespace

bool same_content(const run_record& a, const run_record& b) {
  return same_info(a.info, b.info) &&
         same_rows(a.metrics, b.metrics,
                   [](const metric_point& x, const metric_point& y) {
                     return x.step == y.step && x.name == y.name && same_value(x.value, y.value);
                   }) &&
         same_rows(a.evaluations, b.evaluations,
                   [](const evaluation& x, const evaluation& y) {
                     return x.split == y.split && x.slice == y.slice && x.metric == y.metric && x.n == y.n &&
                            same_value(x.value, y.value);
                   }) &&
         a.artifacts == b.artifacts && a.samples == b.samples;
}

run_record results_store::read_record(std::int64_t id) {
  std::lock_guard lk(mu_);
  run_record r;
  r.info = get_run(id);
  auto m = db_.prepare("SELECT step, name, value FROM metrics WHERE run_id = ?1 ORDER BY name, step");
  m.bind(1, id);
  while (m.step()) r.metrics.push_back({m.get_int(0), m.get_text(1), value_or_nan(m, 2)});
  auto e = db_.prepare(
      "SELECT split, slice, metric, value, n FROM evaluations WHERE run_id = ?1 ORDER BY split, slice, metric");
  e.bind(1, id);
  while (e.step()) r.evaluations.push_back({e.get_text(0), e.get_text(1), e.get_text(2), value_or_nan(e, 3), e.get_int(4)});
  r.artifacts = artifacts(id);
  r.samples = samples(id);
  return r;
}

results_store::import_result results_store::import_record(const run_record& r) {
  std::lock_guard lk(mu_);
  LMLAB_CHECK(!r.info.kind.empty() && !r.info.name.empty(), "{}: a run record needs a kind and a name",
              db_.path().string());
  transaction tx(db_);  // the write lock first: a concurrent merge sees all of a run or none
  std::optional<std::int64_t> existing;
  bool added = false;
  {
    auto st = db_.prepare("SELECT id FROM runs WHERE kind = ?1 AND name = ?2");
    st.bind(1, r.info.kind).bind(2, r.info.name);
    if (st.step()) existing = st.get_int(0);
  }
  if (existing) {
    run_record have = read_record(*existing);
    if (same_content(have, r)) return import_result::unchanged;  // rolls back: nothing written
    for (const char* table : {"metrics", "evaluations", "artifacts", "samples"})
      db_.prepare(fmt::format("DELETE FROM {} WHERE run_id = ?1", table)).bind(1, *existing).run();
    auto up = db_.prepare(
        "UPDATE runs SET config = ?2, status = ?3, failure_reason = ?4, seed = ?5, git_hash = ?6, host = ?7, "
        "created_at = ?8, started_at = ?9, finished_at = ?10 WHERE id = ?1");
    up.bind(1, *existing);
    up.bind(2, r.info.config.dump()).bind(3, to_string(r.info.status)).bind(4, text_or_null(r.info.failure_reason));
    up.bind(5, r.info.seed).bind(6, r.info.git_hash).bind(7, r.info.host).bind(8, r.info.created_at);
    up.bind(9, text_or_null(r.info.started_at)).bind(10, text_or_null(r.info.finished_at));
    up.run();
  } else {
    auto ins = db_.prepare(
        "INSERT INTO runs (kind, name, config, status, failure_reason, seed, git_hash, host, created_at, started_at, "
        "finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    ins.bind(1, r.info.kind).bind(2, r.info.name).bind(3, r.info.config.dump()).bind(4, to_string(r.info.status));
    ins.bind(5, text_or_null(r.info.failure_reason)).bind(6, r.info.seed).bind(7, r.info.git_hash).bind(8, r.info.host);
    ins.bind(9, r.info.created_at).bind(10, text_or_null(r.info.started_at)).bind(11, text_or_null(r.info.finished_at));
    ins.run();
    existing = db_.last_insert_id();
    added = true;
  }
  const std::int64_t id = *existing;
  auto m = db_.prepare("INSERT INTO metrics (run_id, step, name, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& p : r.metrics) {
    m.bind(1, id).bind(2, p.step).bind(3, p.name);
    bind_value(m, 4, p.value);
    m.run();
  }
  auto e = db_.prepare("INSERT INTO evaluations (run_id, split, slice, metric, value, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const auto& v : r.evaluations) {
    e.bind(1, id).bind(2, v.split).bind(3, v.slice).bind(4, v.metric).bind(6, v.n);
    bind_value(e, 5, v.value);
    e.run();
  }
  auto a = db_.prepare("INSERT INTO artifacts (run_id, name, path, sha256) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& x : r.artifacts) a.bind(1, id).bind(2, x.name).bind(3, x.path).bind(4, x.sha256).run();
  auto s = db_.prepare("INSERT INTO samples (run_id, task, doc_id, repeat, data) VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const auto& x : r.samples) s.bind(1, id).bind(2, x.task).bind(3, x.doc_id).bind(4, x.repeat).bind(5, x.data.dump()).run();
  tx.commit();
  return added ? import_result::added : import_result::replaced;
}

void results_store::check_integrity() {
  std::lock_guard lk(mu_);
  auto st = db_.prepare("PRAGMA quick_check");
  std::string problems;
  while (st.step()) {
    const std::string line = st.get_text(0);
    if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!problems.empty())
    throw error(fmt::format("{}: the results store is damaged: {}", db_.path().string(), problems.substr(0, 300)),
                "the file was cut short or overwritten; rerun the run that wrote it");
}

}  // namespace lmlab::store
