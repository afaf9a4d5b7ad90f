// Results store: round trips, migrations, the request cache, exports, error messages, and
// several writers at once (threads and forked processes) losing nothing.
#include "store/results_store.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "../temp_path.hpp"

namespace fs = std::filesystem;
using lmlab::store::results_store;
using lmlab::store::run_status;

namespace {
struct temp_dir : lmlab::testing::temp_dir {
  explicit temp_dir(const std::string& tag) : lmlab::testing::temp_dir("store", tag) {}
};
}  // namespace

TEST(store, run_round_trip_and_lifecycle) {
  temp_dir d("runs");
  results_store s(d.path / "r.db");
  EXPECT_EQ(s.version(), results_store::schema_version);
  const auto id = s.create_run("lab", "gpt-d64-seed1", {{"d_model", 64}, {"task", "mqar"}}, 1);
  auto r = s.get_run(id);
  EXPECT_EQ(r.kind, "lab");
  EXPECT_EQ(r.name, "gpt-d64-seed1");
  EXPECT_EQ(r.config["d_model"], 64);
  EXPECT_EQ(r.status, run_status::pending);
  EXPECT_EQ(r.seed, 1);
  EXPECT_FALSE(r.git_hash.empty());
  EXPECT_FALSE(r.created_at.empty());
  EXPECT_TRUE(r.started_at.empty());
  s.mark_running(id);
  s.mark_failed(id, "loss is NaN at step 120");
  r = s.get_run(id);
  EXPECT_EQ(r.status, run_status::failed);
  EXPECT_EQ(r.failure_reason, "loss is NaN at step 120");
  EXPECT_FALSE(r.finished_at.empty());
  s.mark_running(id);
  s.mark_finished(id);
  r = s.get_run(id);
  EXPECT_EQ(r.status, run_status::finished);
  EXPECT_EQ(r.failure_reason, "");
  // ensure_run finds the same run again; create_run refuses a duplicate and says so.
  EXPECT_EQ(s.ensure_run("lab", "gpt-d64-seed1", {}), id);
  try {
    s.create_run("lab", "gpt-d64-seed1", {});
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()),
              (d.path / "r.db").string() + ": a lab run named 'gpt-d64-seed1' already exists (id 1)");
  }
  EXPECT_EQ(s.resolve_run("1").name, "gpt-d64-seed1");
  EXPECT_EQ(s.resolve_run("gpt-d64-seed1").id, id);
  EXPECT_EQ(s.list_runs("lab").size(), 1u);
  EXPECT_EQ(s.list_runs("probe").size(), 0u);
}

TEST(store, metrics_evaluations_artifacts_samples) {
  temp_dir d("metrics");
  results_store s(d.path / "r.db");
  const auto id = s.create_run("lab", "a", {});
  s.log_metrics(id, 0, {{"loss", 4.5}, {"lr", 1e-3}});
  s.log_metric(id, 10, "loss", 3.25);
  s.log_metric(id, 10, "loss", 3.0);  // rewritten step replaces, never duplicates
  auto m = s.metrics(id, "loss");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].step, 0);
  EXPECT_DOUBLE_EQ(m[0].value, 4.5);
  EXPECT_DOUBLE_EQ(m[1].value, 3.0);
  EXPECT_EQ(s.metrics(id).size(), 3u);

  s.log_evaluation(id, "test", "len=8", "accuracy", 0.75, 400);
  auto ev = s.evaluations(id);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].slice, "len=8");
  EXPECT_EQ(ev[0].n, 400);

  lmlab::write_file_atomic(d.path / "a.txt", std::string_view("abc"));
  s.add_artifact(id, "note", d.path / "a.txt");
  auto art = s.artifacts(id);
  ASSERT_EQ(art.size(), 1u);
  EXPECT_EQ(art[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  s.put_sample(id, "calibration", "q1", 0, {{"correct", true}});
  s.put_sample(id, "calibration", "q1", 0, {{"correct", false}});
  auto sm = s.samples(id, "calibration");
  ASSERT_EQ(sm.size(), 1u);
  EXPECT_EQ(sm[0].data["correct"], false);

  // Export: CSV carries every metric row with the run name.
  EXPECT_EQ(s.metrics_table(id).to_string(lmlab::table_format::csv),
            "run_id,run,step,name,value\n1,a,0,loss,4.5\n1,a,10,loss,3\n1,a,0,lr,0.001\n");
  auto j = nlohmann::json::parse(s.runs_table().to_string(lmlab::table_format::json));
  EXPECT_EQ(j[0]["name"], "a");
  EXPECT_EQ(j[0]["status"], "pending");
}

TEST(store, request_cache_first_write_wins) {
  temp_dir d("cache");
  results_store s(d.path / "r.db");
  const auto key = lmlab::store::request_key({{"model", "m"}, {"prompt", "hi"}});
  EXPECT_EQ(key, lmlab::store::request_key(nlohmann::json::parse(R"({"prompt":"hi","model":"m"})")));
  EXPECT_EQ(key.size(), 64u);
  EXPECT_FALSE(s.cached_response(key, 0, 7));
  s.cache_response(key, 0, 7, R"({"a":1})");
  s.cache_response(key, 0, 7, R"({"a":2})");
  s.cache_response(key, 1, 7, R"({"a":3})");
  EXPECT_EQ(*s.cached_response(key, 0, 7), R"({"a":1})");
  EXPECT_EQ(*s.cached_response(key, 1, 7), R"({"a":3})");
  EXPECT_FALSE(s.cached_response(key, 0, 8));
  EXPECT_EQ(s.cache_size(), 2);
}

// The probe client replaces an entry it found unusable (cached by an older version); the
// replacement is what later runs read, and the other entries keep their first write.
TEST(store, request_cache_replace_overwrites_only_that_entry) {
  temp_dir d("cache_replace");
  results_store s(d.path / "r.db");
  s.cache_response("k", 0, 7, R"({"choices":[]})");
  s.cache_response("k", 1, 7, R"({"a":1})");
  s.cache_response("k", 0, 7, R"({"a":2})", results_store::cache_write::replace);
  EXPECT_EQ(*s.cached_response("k", 0, 7), R"({"a":2})");
  EXPECT_EQ(*s.cached_response("k", 1, 7), R"({"a":1})");
  s.cache_response("k", 2, 7, R"({"a":3})", results_store::cache_write::replace);  // no entry yet: inserted
  EXPECT_EQ(*s.cached_response("k", 2, 7), R"({"a":3})");
  EXPECT_EQ(s.cache_size(), 3);
}

TEST(store, reopen_keeps_data_and_wal_mode) {
  temp_dir d("reopen");
  {
    results_store s(d.path / "r.db");
    s.create_run("probe", "x", {{"k", "v"}});
  }
  results_store s(d.path / "r.db");
  EXPECT_EQ(s.get_run(1).config["k"], "v");
  auto st = s.db().prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_text(0), "wal");
}

TEST(store, migrates_a_version_one_file) {
  temp_dir d("migrate");
  {
    // A file as version 1 left it: runs table only, user_version 1.
    lmlab::store::database db(d.path / "old.db");
    db.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL "
            "DEFAULT '{}', status TEXT NOT NULL DEFAULT 'pending', failure_reason TEXT, seed INTEGER, git_hash TEXT "
            "NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL DEFAULT '', started_at "
            "TEXT, finished_at TEXT, UNIQUE (kind, name)); PRAGMA user_version = 1;");
  }
  results_store s(d.path / "old.db");
  EXPECT_EQ(s.version(), 2);
  s.cache_response("k", 0, 0, "{}");
  EXPECT_EQ(s.cache_size(), 1);
}

TEST(store, errors_name_the_file) {
  temp_dir d("errors");
  {
    lmlab::store::database db(d.path / "future.db");
    db.exec("PRAGMA user_version = 99");
  }
  try {
    results_store s(d.path / "future.db");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()),
              (d.path / "future.db").string() + ": results store has schema version 99, newer than this lmlab's 2");
  }
  results_store s(d.path / "r.db");
  try {
    s.get_run(5);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), (d.path / "r.db").string() + ": no run with id 5");
  }
  lmlab::write_file_atomic(d.path / "junk.db", std::string_view("this is not a database at all, not even close...."));
  try {
    results_store bad(d.path / "junk.db");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find((d.path / "junk.db").string() + ":"), std::string::npos) << e.what();
  }
}

TEST(store, concurrent_threads_lose_nothing) {
  temp_dir d("threads");
  const auto db = d.path / "r.db";
  std::int64_t id = 0;
  {
    results_store s(db);
    id = s.create_run("lab", "shared", {});
  }
  constexpr int k_threads = 4, k_writes = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < k_threads; ++t) {
    ts.emplace_back([&, t] {
      results_store s(db);  // one connection per thread, as separate processes would have
      for (int i = 0; i < k_writes; ++i) s.log_metric(id, i, "w" + std::to_string(t), i * 1.0);
    });
  }
  for (auto& t : ts) t.join();
  results_store s(db);
  EXPECT_EQ(s.metrics(id).size(), static_cast<std::size_t>(k_threads * k_writes));
}

TEST(store, concurrent_processes_lose_nothing) {
  temp_dir d("procs");
  const auto db = d.path / "r.db";
  constexpr int k_procs = 3, k_runs = 20;
  std::vector<pid_t> kids;
  for (int p = 0; p < k_procs; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        results_store s(db);  // all processes race to create and migrate the fresh file
        for (int i = 0; i < k_runs; ++i) {
          const auto id = s.create_run("lab", "p" + std::to_string(p) + "-" + std::to_string(i), {{"i", i}}, i);
          s.mark_running(id);
          s.log_metrics(id, 0, {{"loss", 1.0}, {"acc", 0.5}});
          s.mark_finished(id);
          s.cache_response("shared-key", i, 0, "p" + std::to_string(p));
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        rc = 1;
      }
      ::_exit(rc);
    }
    kids.push_back(pid);
  }
  for (auto pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  results_store s(db);
  const auto runs = s.list_runs("lab");
  EXPECT_EQ(runs.size(), static_cast<std::size_t>(k_procs * k_runs));
  for (const auto& r : runs) EXPECT_EQ(r.status, run_status::finished);
  EXPECT_EQ(s.metrics_table().rows().size(), static_cast<std::size_t>(k_procs * k_runs * 2));
  EXPECT_EQ(s.cache_size(), k_runs);
}

TEST(store, uint64_seeds_are_listed_unsigned) {
  // Derived seeds are uint64; stored as SQLite's signed integers they were listed as negative.
  temp_dir d("seeds");
  results_store s(d.path / "r.db");
  const std::uint64_t seed = 0xF000000000000001ull;
  s.create_run("lab", "big-seed", {}, static_cast<std::int64_t>(seed));
  std::ostringstream out;
  s.runs_table("lab").print(out, lmlab::table_format::csv);
  EXPECT_NE(out.str().find(",17293822569102704641,"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find(",-"), std::string::npos) << out.str();
}
