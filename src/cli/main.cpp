// The `lmlab` binary: builds the CLI11 app from the verb registry, runs it, and is the one
// place that turns errors into `error: ...` / `hint: ...` and an exit code
// (0 ok, 1 error, 2 usage error).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "lmlab_version.hpp"

namespace lmlab::cli {
std::vector<command>& registry() {
  static std::vector<command> r;
  return r;
}
}  // namespace lmlab::cli

namespace {
// CLI11 answers a help flag before it complains about words it did not match, so
// `lmlab lab merge --help` would print `lab`'s help and exit 0 as if `merge` existed. An
// unmatched word next to --help is a usage error (exit 2) naming it; returns 0 otherwise.
int unknown_word_before_help(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_name() != "CallForHelp" && e.get_name() != "CallForAllHelp") return 0;
  const std::vector<std::string> rest = app.remaining(true);
  if (rest.empty()) return 0;
  std::string path = "lmlab";
  for (const CLI::App* a = &app; !a->get_subcommands().empty();) {
    a = a->get_subcommands().front();
    path += " " + a->get_name();
  }
  std::fprintf(stderr, "error: %s: unknown command or argument '%s'\n", path.c_str(), rest.front().c_str());
  std::fprintf(stderr, "hint: `%s --help` lists what it takes\n", path.c_str());
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  // Idle OpenMP threads sleep instead of spin unless the user chose (core/threads.hpp).
  lmlab::reexec_with_passive_omp_wait("/proc/self/exe", argv);
  CLI::App app{"lmlab: measured answers to open questions of LLM/VLM research, on one machine.\n"
               "Lab (train and dissect small models), probe (evaluate served models), plan (scaling, cost, memory)."};
  app.set_version_flag("--version", std::string("lmlab ") + lmlab::version_string + " (git " + lmlab::git_hash + ")");
  app.require_subcommand(1);
  auto& reg = lmlab::cli::registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  for (auto& c : reg) c.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (const int rc = unknown_word_before_help(app, e)) return rc;
    return app.exit(e);  // prints help/version (exit 0) or a usage error (exit 2 via CLI11 codes)
  } catch (const lmlab::usage_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 2;
  } catch (const lmlab::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    std::fprintf(stderr, "hint: the input asks for more memory than this machine has; make the model, batch or "
                         "input smaller\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
