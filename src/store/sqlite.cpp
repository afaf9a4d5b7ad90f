// RAII SQLite wrapper: see sqlite.hpp.
#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "core/error.hpp"

namespace lmlab::store {

database::database(std::filesystem::path path, open_options opts) : path_(std::move(path)) {
  std::error_code size_ec;
  const bool fresh = !std::filesystem::exists(path_) || std::filesystem::file_size(path_, size_ec) == 0;
  if (!opts.read_only && path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    LMLAB_CHECK(!ec, "{}: cannot create directory {}: {}", path_.string(), path_.parent_path().string(), ec.message());
  }
  const int flags = (opts.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                    SQLITE_OPEN_FULLMUTEX;
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw error(fmt::format("{}: cannot open results store: {}", path_.string(), msg),
                "check that the directory exists and is writable");
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, opts.busy_timeout_ms);
  if (!opts.read_only) {
    // The creator of a file chooses its journal (persistent in the file); later opens keep it,
    // so `lab exec` writing a sharded sweep's per-run store does not turn it into WAL.
    if (fresh && opts.wal) {
      // WAL lets readers run while one writer appends. Switching a fresh file to WAL does not
      // go through the busy handler when another process is creating it at the same moment,
      // so wait here ourselves (bounded by the busy timeout).
      for (int waited_ms = 0;; waited_ms += 5) {
        const int jrc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
        if (jrc == SQLITE_OK) break;
        if ((jrc & 0xff) != SQLITE_BUSY || waited_ms >= opts.busy_timeout_ms) fail(jrc, "cannot switch to WAL mode");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    } else if (fresh) {
      exec("PRAGMA journal_mode=DELETE");
    }
    // NORMAL sync is durable at WAL checkpoints and safe against application crashes, which is
    // what a killed sweep needs; a rollback-journal file (it may sit on a shared filesystem)
    // syncs every commit.
    auto mode = prepare("PRAGMA journal_mode");
    mode.step();
    exec(mode.get_text(0) == "wal" ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
  }
  exec("PRAGMA foreign_keys=ON");
}

database::~database() {
  if (db_) sqlite3_close_v2(db_);
}

void database::fail(int rc, std::string_view what) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string hint;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    hint = "another process holds the write lock for longer than the busy timeout";
  else if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
    hint = "the file is not an lmlab results store or is damaged";
  throw error(fmt::format("{}: {}: {}", path_.string(), what, msg), hint);
}

void database::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    std::string hint;
    if ((rc & 0xff) == SQLITE_BUSY) hint = "another process holds the write lock for longer than the busy timeout";
    throw error(fmt::format("{}: sql failed: {}: {}", path_.string(), msg, s.substr(0, 120)), hint);
  }
}

std::int64_t database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int database::changes() const { return sqlite3_changes(db_); }

statement::statement(database& db, std::string_view sql) : db_(&db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql_.data(), static_cast<int>(sql_.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, fmt::format("cannot prepare '{}'", sql_.substr(0, 120)));
}

statement::statement(statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
  o.stmt_ = nullptr;
}

statement::~statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

statement& statement::bind(int idx, std::int64_t v) {
  const int rc = sqlite3_bind_int64(stmt_, idx, v);
  if (rc != SQLITE_OK) db_->fail(rc, fmt::format("bind #{} of '{}'", idx, sql_.substr(0, 80)));
  return *this;
}
statement& statement::bind(int idx, double v) {
  const int rc = sqlite3_bind_double(stmt_, idx, v);
  if (rc != SQLITE_OK) db_->fail(rc, fmt::format("bind #{} of '{}'", idx, sql_.substr(0, 80)));
  return *this;
}
statement& statement::bind(int idx, std::string_view v) {
  const int rc = sqlite3_bind_text64(stmt_, idx, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->fail(rc, fmt::format("bind #{} of '{}'", idx, sql_.substr(0, 80)));
  return *this;
}
statement& statement::bind_null(int idx) {
  const int rc = sqlite3_bind_null(stmt_, idx);
  if (rc != SQLITE_OK) db_->fail(rc, fmt::format("bind #{} of '{}'", idx, sql_.substr(0, 80)));
  return *this;
}

bool statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  db_->fail(rc, fmt::format("'{}'", sql_.substr(0, 120)));
}

void statement::run() {
  while (step()) {
  }
  reset();
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t statement::get_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double statement::get_double(int col) const { return sqlite3_column_double(stmt_, col); }
std::string statement::get_text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}
std::optional<std::int64_t> statement::get_opt_int(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_int(col);
}
std::optional<double> statement::get_opt_double(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_double(col);
}
int statement::column_count() const { return sqlite3_column_count(stmt_); }
std::string statement::column_name(int col) const { return sqlite3_column_name(stmt_, col); }

transaction::transaction(database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

transaction::~transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace lmlab::store
