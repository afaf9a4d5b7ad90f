// Full-size archives (lab/archive.hpp) and the report's full-size paragraph: a store's runs
// archived and read back give the verdict the store gives; a corrupt or truncated line is an
// error naming the file and line, and the report still renders; an archive whose run ids the
// spec no longer produces is flagged instead of shown; quick_limit comes with an undecided verdict.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/archive.hpp"
#include "lab/spec.hpp"
#include "lab/sweep.hpp"
#include "report/lab_report.hpp"
#include "scratch.hpp"

namespace fs = std::filesystem;
namespace rp = lmlab::report;
namespace lab = lmlab::lab;
namespace st = lmlab::store;

namespace {

using namespace lmlab::report::testing;  // error_of, fresh_dir

// Two widths x 3 seeds; the full size trains 50 steps, the quick one 10. The rule: the wide
// model beats the narrow one with non-overlapping CIs.
std::string spec_text(int full_steps = 50) {
  return "name = \"arch_t\"\nquestion = \"q\"\nseeds = [0, 1, 2]\n[model]\narch = \"gpt\"\nd_model = \"32,64\"\n"
         "n_layers = 1\nn_heads = 2\n[task]\nname = \"mqar\"\nvocab_size = 64\nseq_len = 32\nnum_kv_pairs = 4\n"
         "[train]\nsteps = 50\n[sizes.quick]\n\"train.steps\" = 10\n[sizes.full]\n\"train.steps\" = " +
         std::to_string(full_steps) +
         "\n[report]\nquestion = \"recall\"\n[expect]\npublished = \"P\"\ncitation = \"C\"\n"
         "quick_limit = \"at 10 steps nothing is learned (0.25 = 1/kv)\"\n"
         "groups = { narrow = \"model.d_model = 32\", wide = \"model.d_model = 64\" }\n"
         "rule = [{ left = \"min(wide)\", op = \">\", right = \"max(narrow)\", ci_overlap = \"undecided\" }]\n";
}

struct setup {
  fs::path dir, experiments, spec, store, archive;
};

// A store holding the spec's runs at `size`, every run finished (the last `unfinished` left
// pending) with accuracies that depend on the width and seed, and a metric series.
setup make(const std::string& name, const std::string& size, std::size_t unfinished = 0) {
  setup s;
  s.dir = fresh_dir(name);
  s.experiments = s.dir / "experiments";
  fs::create_directories(s.experiments);
  s.spec = s.experiments / "arch_t.toml";
  lmlab::write_file_atomic(s.spec, spec_text());
  s.store = s.dir / "full.db";
  s.archive = s.dir / "results" / "full" / "arch_t.jsonl";
  const std::string text = lmlab::read_text_file(s.spec);
  const auto spec = lab::parse_spec(text, s.spec.string(), lab::size_overrides(text, s.spec.string(), size));
  st::results_store db(s.store);
  for (std::size_t i = 0; i < spec.runs.size(); ++i) {
    const auto& r = spec.runs[i];
    const auto id = db.create_run("lab", lab::run_name(spec, r), lab::stored_config(spec, r), static_cast<std::int64_t>(r.seed));
    if (i + unfinished >= spec.runs.size()) continue;
    db.mark_running(id);
    const bool wide = r.config["model"]["d_model"] == 64;
    const double acc = (wide ? 0.9 : 0.3) + 0.01 * static_cast<double>(r.replicate);
    for (int step = 0; step < 3; ++step) db.log_metric(id, step * 10, "train_loss", 3.0 - step - acc);
    db.log_metric(id, 50, "cpu_seconds", 1.5);
    db.log_evaluation(id, "test", "kv=2", "accuracy", std::min(1.0, acc + 0.05), 100);
    db.log_evaluation(id, "test", "kv=2", "difficulty", 2, 100);
    db.log_evaluation(id, "test", "kv=8", "accuracy", acc - 0.05, 100);
    db.log_evaluation(id, "test", "kv=8", "difficulty", 8, 100);
    db.log_evaluation(id, "test", "all", "accuracy", acc, 200);
    db.mark_finished(id);
  }
  return s;
}

std::vector<rp::lab_run> store_runs(const fs::path& store) {
  st::results_store db(store);
  std::vector<rp::lab_run> out;
  for (const auto& r : db.list_runs("lab")) out.push_back({r, db.metrics(r.id), db.evaluations(r.id)});
  return out;
}

lab::report_meta meta_of(const setup& s) { return lab::load_experiment_metas(s.experiments).at("arch_t"); }

// The quick store's verdict for the paragraph's `quick` argument.
std::optional<rp::verdict> undecided() { return rp::verdict{"undecided: the model did not learn the task", "x"}; }

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::istringstream in(lmlab::read_text_file(p));
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void write_lines(const fs::path& p, const std::vector<std::string>& lines) {
  std::string t;
  for (const auto& l : lines) t += l + "\n";
  lmlab::write_file_atomic(p, t);
}

}  // namespace

TEST(archive, round_trip_gives_the_verdict_the_store_gives) {
  const setup s = make("archive_round_trip", "full");
  st::results_store db(s.store);
  const auto sum = lab::write_archive(db, {s.spec}, "full", s.archive, "lmlab lab archive x");
  EXPECT_EQ(sum.archived, 6u);
  EXPECT_EQ(sum.expected, 6u);
  EXPECT_TRUE(sum.missing.empty());
  EXPECT_DOUBLE_EQ(sum.cpu_seconds, 9.0);
  // Text, one line per run after the header, with the header's provenance.
  const auto lines = lines_of(s.archive);
  ASSERT_EQ(lines.size(), 7u);
  const auto header = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(header["experiment"], "arch_t");
  EXPECT_EQ(header["size"], "full");
  EXPECT_EQ(header["command"], "lmlab lab archive x");
  EXPECT_EQ(header["run_ids"].size(), 6u);
  EXPECT_FALSE(header["date"].get<std::string>().empty());
  EXPECT_NE(lines[1].find("\"cpu_seconds\":1.5"), std::string::npos) << lines[1];

  const auto a = lab::read_archive(s.archive);
  ASSERT_EQ(a.runs.size(), 6u);
  const auto runs = store_runs(s.store);
  // Every metric and evaluation comes back.
  for (const auto& r : runs) {
    const auto it = std::find_if(a.runs.begin(), a.runs.end(), [&](const auto& x) { return x.info.name == r.info.name; });
    ASSERT_NE(it, a.runs.end()) << r.info.name;
    EXPECT_EQ(it->metrics.size(), r.metrics.size());
    EXPECT_EQ(it->evaluations.size(), r.evaluations.size());
    EXPECT_EQ(it->info.config, r.info.config);
    EXPECT_EQ(it->info.finished_at, r.info.finished_at);
    EXPECT_EQ(it->info.seed, r.info.seed);
  }

  const auto meta = meta_of(s);
  const auto from_store = rp::lab_experiment_section("arch_t", runs, {}, &meta);
  ASSERT_TRUE(from_store.outcome);
  EXPECT_EQ(from_store.outcome->word, "agrees");
  // The paragraph beside a quick store (here: none of the archived runs) shows the same verdict.
  const auto p = rp::full_size_paragraph("arch_t", s.archive, &meta, from_store.outcome, {});
  ASSERT_TRUE(p.archived);
  EXPECT_EQ(p.archived->word, from_store.outcome->word);
  EXPECT_EQ(p.archived->detail, from_store.outcome->detail);
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.text.rfind("Full size (archived ", 0), 0u) << p.text;  // the quick verdict agrees: no quick_limit
  EXPECT_NE(p.text.find(", 3 seeds, 6 runs, 9 CPU-s; "), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("Verdict: agrees — "), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("Key numbers: Best: d_model=64 at 0.91 ± "), std::string::npos) << p.text;
  // The store shown is the archived one: no second copy of its verdict.
  EXPECT_EQ(rp::full_size_paragraph("arch_t", s.archive, &meta, from_store.outcome, runs).text, "");

  // Through the report: a quick store, the archive beside it, and the quick_limit.
  const setup q = make("archive_quick_store", "quick");
  rp::lab_report_options opt;
  opt.experiments_dir = s.experiments;
  opt.archive_dir = s.archive.parent_path();
  opt.notes_dir = "data/notes";
  st::results_store qdb(q.store);
  const auto secs = rp::lab_report_sections(qdb, opt);
  ASSERT_EQ(secs.size(), 1u);
  EXPECT_NE(secs[0].full_size.find("Verdict: agrees"), std::string::npos) << secs[0].full_size;
}

TEST(archive, quick_limit_comes_with_an_undecided_quick_verdict) {
  const setup s = make("archive_quick_limit", "full");
  const auto meta = meta_of(s);
  EXPECT_EQ(meta.expect->quick_limit, "at 10 steps nothing is learned (0.25 = 1/kv)");
  // No archive yet: only why the quick size cannot decide.
  auto p = rp::full_size_paragraph("arch_t", s.archive, &meta, undecided(), {});
  EXPECT_EQ(p.text, "Why the quick size cannot decide: at 10 steps nothing is learned (0.25 = 1/kv)");
  EXPECT_FALSE(p.archived);
  // With the archive: both, the reason first.
  st::results_store db(s.store);
  lab::write_archive(db, {s.spec}, "full", s.archive, "c");
  p = rp::full_size_paragraph("arch_t", s.archive, &meta, undecided(), {});
  EXPECT_EQ(p.text.rfind("Why the quick size cannot decide: at 10 steps nothing is learned (0.25 = 1/kv). Full size (archived ", 0),
            0u)
      << p.text;
  // A decided quick verdict needs no reason.
  p = rp::full_size_paragraph("arch_t", s.archive, &meta, rp::verdict{"agrees", ""}, {});
  EXPECT_EQ(p.text.find("Why"), std::string::npos) << p.text;
}

TEST(archive, corrupt_or_truncated_lines_name_the_file_and_line_and_the_report_renders) {
  const setup s = make("archive_corrupt", "full");
  {
    st::results_store db(s.store);
    lab::write_archive(db, {s.spec}, "full", s.archive, "c");
  }
  auto lines = lines_of(s.archive);
  const auto good = lines;
  lines[2] = lines[2].substr(0, lines[2].size() / 2);  // a line cut in half
  write_lines(s.archive, lines);
  const std::string where = s.archive.string() + ":3: ";
  EXPECT_NE(error_of([&] { lab::read_archive(s.archive); }).find(where + "not JSON"), std::string::npos)
      << error_of([&] { lab::read_archive(s.archive); });
  // A wrong type inside a line.
  lines = good;
  auto j = nlohmann::json::parse(lines[4]);
  j["evaluations"][0][3] = "high";
  lines[4] = j.dump();
  write_lines(s.archive, lines);
  EXPECT_NE(error_of([&] { lab::read_archive(s.archive); }).find(s.archive.string() + ":5: evaluations value: expected a number"),
            std::string::npos)
      << error_of([&] { lab::read_archive(s.archive); });
  // A run missing at the end: the header's count says so.
  lines = good;
  lines.pop_back();
  write_lines(s.archive, lines);
  EXPECT_NE(error_of([&] { lab::read_archive(s.archive); })
                .find(s.archive.string() + ":1: the header says 6 runs, the file holds 5 (truncated?)"),
            std::string::npos)
      << error_of([&] { lab::read_archive(s.archive); });
  // Not an archive at all.
  write_lines(s.archive, {"{\"a\": 1}"});
  EXPECT_NE(error_of([&] { lab::read_archive(s.archive); }).find(":1: not an lmlab archive"), std::string::npos);

  // The report: a warning and a sentence in place of the full size; the section renders.
  lines = good;
  lines[2] = "{broken";
  write_lines(s.archive, lines);
  const auto meta = meta_of(s);
  const auto p = rp::full_size_paragraph("arch_t", s.archive, &meta, undecided(), {});
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find(where), std::string::npos) << p.warnings[0];
  EXPECT_FALSE(p.archived);
  EXPECT_NE(p.text.find("Full size: not shown, the archive could not be read (" + where), std::string::npos) << p.text;
  const setup q = make("archive_corrupt_quick", "quick");
  rp::lab_report_options opt;
  opt.experiments_dir = s.experiments;
  opt.archive_dir = s.archive.parent_path();
  st::results_store qdb(q.store);
  std::vector<rp::section> secs;
  ASSERT_NO_THROW(secs = rp::lab_report_sections(qdb, opt));
  ASSERT_EQ(secs.size(), 1u);
  EXPECT_FALSE(secs[0].comparison.empty());
  EXPECT_NE(secs[0].full_size.find("could not be read"), std::string::npos) << secs[0].full_size;
}

TEST(archive, an_archive_the_spec_no_longer_produces_is_flagged) {
  const setup s = make("archive_stale", "full");
  {
    st::results_store db(s.store);
    lab::write_archive(db, {s.spec}, "full", s.archive, "lmlab lab archive arch_t.toml --size full");
  }
  auto meta = meta_of(s);
  EXPECT_TRUE(lab::match_archive(lab::read_archive(s.archive), lab::size_run_ids(meta.files, "full")).matches());
  // The full size now trains longer: every run id changes, the archive is stale.
  lmlab::write_file_atomic(s.spec, spec_text(80));
  meta = meta_of(s);
  const auto m = lab::match_archive(lab::read_archive(s.archive), lab::size_run_ids(meta.files, "full"));
  EXPECT_FALSE(m.matches());
  EXPECT_EQ(m.stale.size(), 6u);
  EXPECT_EQ(m.missing.size(), 6u);
  const auto p = rp::full_size_paragraph("arch_t", s.archive, &meta, rp::verdict{"agrees", ""}, {});
  EXPECT_FALSE(p.archived);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.text.find("not shown, " + s.archive.string() + ": the archive does not match the experiment's spec at size "
                        "'full': 6 of its 6 runs are not runs the spec produces at this size today"),
            std::string::npos)
      << p.text;
  EXPECT_NE(p.text.find("re-run and re-archive (lmlab lab archive arch_t.toml --size full)"), std::string::npos) << p.text;
  // A comment changes no run id: the archive still matches.
  lmlab::write_file_atomic(s.spec, "# a comment\n" + spec_text());
  EXPECT_TRUE(lab::match_archive(lab::read_archive(s.archive), lab::size_run_ids(meta_of(s).files, "full")).matches());
}

TEST(archive, unfinished_runs_are_left_out_and_named) {
  const setup s = make("archive_incomplete", "full", 2);
  st::results_store db(s.store);
  const auto sum = lab::write_archive(db, {s.spec}, "full", s.archive, "c");
  EXPECT_EQ(sum.archived, 4u);
  EXPECT_EQ(sum.missing.size(), 2u);
  const auto meta = meta_of(s);
  const auto p = rp::full_size_paragraph("arch_t", s.archive, &meta, rp::verdict{"agrees", ""}, {});
  ASSERT_TRUE(p.archived);  // shown, and said to be incomplete
  EXPECT_NE(p.text.find("Incomplete: 2 runs of the spec at this size are not in it"), std::string::npos) << p.text;
  // Nothing finished: an error with the command that runs them.
  const setup e = make("archive_none", "full", 6);
  st::results_store edb(e.store);
  EXPECT_NE(error_of([&] { lab::write_archive(edb, {e.spec}, "full", e.archive, "c"); })
                .find("archive: none of the 6 runs of 'arch_t' at size 'full' is finished in"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(e.archive));
}
