// A small RAII layer over the SQLite C API: a connection (WAL, busy timeout, foreign keys),
// prepared statements with typed bind/column, and IMMEDIATE transactions that roll back
// unless committed. Every error names the database file and the SQL that failed.
// Not for: the lmlab schema or its queries (results_store.hpp); connection pooling.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace lmlab::store {

class database;

// One prepared statement. Parameters are 1-based like SQLite's; columns are 0-based.
class statement {
 public:
  statement(database& db, std::string_view sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement(statement&& o) noexcept;
  statement& operator=(statement&&) = delete;

  statement& bind(int idx, std::int64_t v);
  statement& bind(int idx, int v) { return bind(idx, static_cast<std::int64_t>(v)); }
  statement& bind(int idx, double v);
  statement& bind(int idx, std::string_view v);
  statement& bind(int idx, const char* v) { return bind(idx, std::string_view(v)); }
  statement& bind(int idx, const std::string& v) { return bind(idx, std::string_view(v)); }
  statement& bind_null(int idx);
  template <class T>
  statement& bind(int idx, const std::optional<T>& v) {
    return v ? bind(idx, *v) : bind_null(idx);
  }

  // Advances; true while a row is available. Throws on error (busy after the timeout included).
  bool step();
  // Runs a statement that returns no rows (or ignores them), then resets it for reuse.
  void run();
  void reset();

  bool is_null(int col) const;
  std::int64_t get_int(int col) const;
  double get_double(int col) const;
  std::string get_text(int col) const;
  std::optional<std::int64_t> get_opt_int(int col) const;
  std::optional<double> get_opt_double(int col) const;
  int column_count() const;
  std::string column_name(int col) const;

 private:
  database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

struct open_options {
  int busy_timeout_ms = 30000;  // lab sweeps run many processes against one file
  bool read_only = false;
  // The journal of a file this open creates: WAL (readers beside one writer, several processes
  // on one machine) or a rollback journal (one process at a time; no -shm file, so it is safe
  // on a shared filesystem: a sharded sweep's per-run stores). An existing file keeps its mode.
  bool wal = true;
};

class database {
 public:
  explicit database(std::filesystem::path path, open_options opts = {});
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  void exec(std::string_view sql);
  statement prepare(std::string_view sql) { return statement(*this, sql); }
  std::int64_t last_insert_id() const;
  int changes() const;
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Throws lmlab::error "<file>: <what>: <sqlite message>" for a failed call with code `rc`.
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading a
// read lock; the busy timeout makes the second one wait. Rolls back unless commit() ran.
class transaction {
 public:
  explicit transaction(database& db);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit();

 private:
  database& db_;
  bool done_ = false;
};

}  // namespace lmlab::store
