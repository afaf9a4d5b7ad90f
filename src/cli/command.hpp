// How a verb joins the `lmlab` binary: each src/cli/<verb>.cpp defines a function that adds
// its subcommand to the app, and registers it with LMLAB_COMMAND at static-init time, so
// adding a verb touches no other file. Verbs appear in --help in `order`, then by name.
// Not for: the logic of a verb; that lives in its layer (plan/, lab/, probe/ ...).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lmlab::cli {

struct command {
  std::string name;
  int order;
  std::function<void(CLI::App&)> add;  // adds the subcommand and its callback
};

std::vector<command>& registry();

struct registrar {
  registrar(std::string name, int order, std::function<void(CLI::App&)> add) {
    registry().push_back({std::move(name), order, std::move(add)});
  }
};

}  // namespace lmlab::cli

#define LMLAB_COMMAND_CAT2(a, b) a##b
#define LMLAB_COMMAND_CAT(a, b) LMLAB_COMMAND_CAT2(a, b)
// LMLAB_COMMAND("plan", 30, add_plan_command);
#define LMLAB_COMMAND(name, order, fn) \
  static ::lmlab::cli::registrar LMLAB_COMMAND_CAT(lmlab_command_, __LINE__)(name, order, fn)
