// `lmlab report`: writes the report folder (index.html, figure and table CSVs) for the lab
// experiments in the results store, one section per experiment; without --filter, the section
// report opens with the map of the notes (report/notes_map.hpp), then the sections that sources
// of other layers registered in front (report/sources.hpp: the planner's corrections of the
// notes), the fact-check table, the lab sections, and the back sources' sections (the probe's
// finished runs); a store holding only one back source's runs gets that source's own document.
// Not for: building sections (src/report/lab_report.cpp, src/probe/report_section.cpp).
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "report/lab_report.hpp"
#include "report/notes_map.hpp"
#include "report/report.hpp"
#include "report/sources.hpp"
#include "store/results_store.hpp"

namespace {

namespace fs = std::filesystem;

struct report_args {
  std::string store = "lmlab.db";
  std::string out = "lmlab-report";
  std::vector<std::string> filter;
  std::string notes;
  std::string experiments;
  std::string archives;
  std::string assets;
};

// The given folder, else ./<rel>, else <rel> beside the build folder holding the binary (the
// first that holds `probe`); the loaders name a missing one in their error.
fs::path find_repo_folder(const std::string& given, const fs::path& rel, const fs::path& probe) {
  if (!given.empty()) return given;
  if (fs::exists(rel / probe)) return rel;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
      if (fs::exists(p / rel / probe)) return p / rel;
  return rel;
}

void add_report(CLI::App& app) {
  auto a = std::make_shared<report_args>();
  CLI::App* rep = app.add_subcommand("report", "Write the HTML report (index.html, figures, CSVs) of the lab experiments");
  rep->footer(
      "Examples:\n"
      "  lmlab report\n"
      "  lmlab report --store lmlab.db --out lmlab-report --filter recall,scan");
  rep->add_option("--store", a->store, "results store")->capture_default_str();
  rep->add_option("--out", a->out, "report folder (replaced only if it is an lmlab report)")->capture_default_str();
  rep->add_option("--filter", a->filter, "experiments to include (comma-separated), e.g. recall,scan")->delimiter(',');
  rep->add_option("--notes", a->notes, "folder with questions.json and claims.json (default: data/notes)");
  rep->add_option("--experiments", a->experiments,
                  "folder of experiment specs whose [report]/[expect] tables give each section its title, question, "
                  "figures and published expectation (default: experiments)");
  rep->add_option("--archives", a->archives,
                  "folder of full-size archives <experiment>.jsonl (`lmlab lab archive`), shown beside each quick verdict "
                  "(default: results/full)");
  rep->add_option("--assets", a->assets, "folder with the pinned Vega builds (default: the cache)");
  rep->callback([a] {
    LMLAB_CHECK_HINT(fs::exists(a->store), "run an experiment first: lmlab lab run experiments/recall.toml",
                     "report: no results store at {}", a->store);
    lmlab::store::results_store db(a->store);
    lmlab::report::lab_report_options opt;
    opt.filter = a->filter;
    opt.notes_dir = find_repo_folder(a->notes, "data/notes", "questions.json");
    opt.experiments_dir = find_repo_folder(a->experiments, "experiments", "");
    opt.archive_dir = find_repo_folder(a->archives, "results/full", "");
    // Other layers' sections (the planner's corrections in front, probe runs at the back) and
    // the map of the notes, unless --filter picks lab experiments.
    std::vector<std::pair<const lmlab::report::section_source*, std::vector<lmlab::report::section>>> extra;
    std::vector<lmlab::report::section> front;
    if (a->filter.empty())
      for (const auto& src : lmlab::report::section_sources()) {
        auto secs = src.sections(db);
        if (secs.empty()) continue;
        if (src.where == lmlab::report::placement::front) front.insert(front.end(), secs.begin(), secs.end());
        else extra.emplace_back(&src, std::move(secs));
      }
    lmlab::report::document doc;
    const bool has_lab = !db.list_runs("lab").empty();
    // A store of one source's runs alone gets that source's document; otherwise the lab
    // sections come first (and an empty store is the lab report's error, with its hint).
    if (!has_lab && extra.size() == 1) {
      doc = extra[0].first->own_document(db);
    } else {
      if (has_lab || extra.empty()) doc = lmlab::report::lab_report_document(db, opt);
      for (auto& [src, secs] : extra)
        for (auto& s : secs) doc.sections.push_back(std::move(s));
    }
    if (a->filter.empty())
      lmlab::report::add_notes_overview(doc, lmlab::report::load_lab_notes(opt.notes_dir), opt.experiments_dir, std::move(front));
    const auto w = lmlab::report::write_report(doc, a->out, {.assets_dir = a->assets});
    std::cout << "report: " << w.index.string() << " (" << doc.sections.size() << (doc.sections.size() == 1 ? " section, " : " sections, ") << w.figures
              << " figures, " << w.tables << " tables)\n";
  });
}

}  // namespace

LMLAB_COMMAND("report", 45, add_report);
