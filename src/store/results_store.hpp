// The lmlab results store: one SQLite file (WAL) that every run writes to and every reader
// (lab ls/show, report, probe compare) reads from. Tables:
//   runs          id, kind, name (unique per kind), config JSON, status, failure reason, seed,
//                 git hash, host, created/started/finished timestamps (ISO-8601 UTC)
//   metrics       (run, step, name) -> value         training curves
//   evaluations   (run, split, slice, metric) -> value, n
//   artifacts     (run, name) -> path, sha256
//   samples       (run, task, doc_id, repeat) -> sample JSON (probe outputs, for paired stats)
//   request_cache (sha256 of canonical request JSON, repeat index, seed) -> response JSON
// The schema is versioned with PRAGMA user_version and migrated forward on open, inside an
// IMMEDIATE transaction so that processes opening a fresh file at once migrate it only once.
// Every method is safe to call from several threads; several processes may write at once.
// Not for: computing statistics (analysis/), rendering (report/), HTTP (probe/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/table.hpp"
#include "store/sqlite.hpp"

namespace lmlab::store {

enum class run_status { pending, running, finished, failed };
std::string_view to_string(run_status s);
run_status parse_run_status(std::string_view s);

struct run_info {
  std::int64_t id = 0;
  std::string kind, name;
  nlohmann::json config;
  run_status status = run_status::pending;
  std::string failure_reason;
  std::optional<std::int64_t> seed;
  std::string git_hash, host;
  std::string created_at, started_at, finished_at;  // empty when not yet
};

struct metric_point {
  std::int64_t step;
  std::string name;
  double value;
};

struct evaluation {
  std::string split, slice, metric;
  double value;
  std::int64_t n;
};

struct artifact {
  std::string name, path, sha256;
  bool operator==(const artifact&) const = default;
};

struct stored_sample {
  std::string task, doc_id;
  std::int64_t repeat;
  nlohmann::json data;
  bool operator==(const stored_sample&) const = default;
};

// Everything one run holds, to move runs between stores: a sharded sweep writes each run to a
// store of its own, and `lab merge` folds those into the main store (lab/shard.hpp).
struct run_record {
  run_info info;
  std::vector<metric_point> metrics;            // each list in the order its reader returns
  std::vector<evaluation> evaluations;
  std::vector<artifact> artifacts;
  std::vector<stored_sample> samples;
};
// Equal content: the same run (kind, name), config, status, seed, provenance and timestamps,
// and the same rows (a NULL value, read as NaN, equals NaN); the store-local id is ignored.
bool same_content(const run_record& a, const run_record& b);

// The request-cache key: lower-case hex sha256 of the canonical JSON (sorted keys, no spaces).
std::string request_key(const nlohmann::json& canonical_request);

class results_store {
 public:
  static constexpr int schema_version = 2;

  explicit results_store(const std::filesystem::path& path, open_options opts = {});

  const std::filesystem::path& path() const { return db_.path(); }
  int version();

  // Runs. create_run fails if (kind, name) exists; ensure_run returns the existing id instead
  // (how a rerun of a sweep or probe finds its earlier run).
  std::int64_t create_run(std::string_view kind, std::string_view name, const nlohmann::json& config,
                          std::optional<std::int64_t> seed = std::nullopt);
  std::int64_t ensure_run(std::string_view kind, std::string_view name, const nlohmann::json& config,
                          std::optional<std::int64_t> seed = std::nullopt);
  std::optional<run_info> find_run(std::string_view kind, std::string_view name);
  run_info get_run(std::int64_t id);
  // Resolves "42" (an id) or a run name (any kind); errors name the store and the reference.
  run_info resolve_run(std::string_view ref);
  std::vector<run_info> list_runs(std::optional<std::string_view> kind = std::nullopt);
  void mark_running(std::int64_t id);
  void mark_finished(std::int64_t id);
  void mark_failed(std::int64_t id, std::string_view reason);

  // Metrics: writing a (run, name, step) again replaces it (a restarted run rewrites steps).
  void log_metric(std::int64_t run, std::int64_t step, std::string_view name, double value);
  void log_metrics(std::int64_t run, std::int64_t step, const std::vector<std::pair<std::string, double>>& values);
  std::vector<metric_point> metrics(std::int64_t run, std::optional<std::string_view> name = std::nullopt);

  void log_evaluation(std::int64_t run, std::string_view split, std::string_view slice, std::string_view metric,
                      double value, std::int64_t n);
  std::vector<evaluation> evaluations(std::int64_t run);

  // Records a file produced by a run with its sha256 (computed here).
  void add_artifact(std::int64_t run, std::string_view name, const std::filesystem::path& file);
  std::vector<artifact> artifacts(std::int64_t run);

  void put_sample(std::int64_t run, std::string_view task, std::string_view doc_id, std::int64_t repeat,
                  const nlohmann::json& data);
  std::vector<stored_sample> samples(std::int64_t run, std::optional<std::string_view> task = std::nullopt);

  // Request cache. The caller must have stripped credentials from the request it hashes.
  // keep_first: an existing entry wins, so a sample never changes under a rerun; replace: for
  // the caller that found the existing entry unusable (stored by an older, laxer version) and
  // asked again, so the valid reply takes its place instead of the bad one being asked forever.
  enum class cache_write { keep_first, replace };
  std::optional<std::string> cached_response(std::string_view key, std::int64_t repeat, std::int64_t seed);
  void cache_response(std::string_view key, std::int64_t repeat, std::int64_t seed, std::string_view response,
                      cache_write mode = cache_write::keep_first);
  std::int64_t cache_size();

  // Moving runs between stores. import_record writes the record's run under its (kind, name):
  // a new run is added; an existing one is replaced whole (its rows deleted, the record's
  // written, in one transaction) unless its content is already the same, so importing twice
  // changes nothing. check_integrity throws, naming the file, when SQLite finds it damaged.
  enum class import_result { added, replaced, unchanged };
  run_record read_record(std::int64_t id);
  import_result import_record(const run_record& r);
  void check_integrity();

  // Exports (print with table::print as csv/json/jsonl/md).
  table runs_table(std::optional<std::string_view> kind = std::nullopt);
  table metrics_table(std::optional<std::int64_t> run = std::nullopt);
  table evaluations_table(std::optional<std::int64_t> run = std::nullopt);

  database& db() { return db_; }

 private:
  void migrate();
  run_info read_run(statement& st);

  database db_;
  std::recursive_mutex mu_;
};

}  // namespace lmlab::store
