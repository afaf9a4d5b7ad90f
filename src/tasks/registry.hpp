// The task registry: name -> (parameter schema, validator, builder), so that an experiment
// spec or a CLI flag can name a task and give its parameters as a JSON/TOML table. Unknown
// keys, wrong types and impossible values raise param_error naming the key.
// Registered explicitly below (registry.cpp), not by static initialisers, so the list is
// one place to read.
// Not for: model or training parameters (lab/spec.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct task_info {
  std::string name;
  std::string summary;
  std::vector<param_spec> params;
  // Parses and checks params (without "name"); returns the canonical JSON with every
  // default filled in. Throws param_error.
  std::function<nlohmann::json(const nlohmann::json&)> canonical;
  // Empty for a task whose runs are not "train on a dataset" (a lab runner, lab/runner.hpp,
  // does the whole run): such a task has a schema but no examples.
  std::function<dataset(const nlohmann::json&, std::uint64_t)> build;
};

// The built-in tasks, then any registered below, in registration order. References stay valid
// (the registry never moves an element).
const std::deque<task_info>& task_registry();
// Adds a task (a lab's, from its own layer); a name taken already is an error.
void register_task(task_info t);
// Runs `registration` the first time this call site is reached (each lambda is its own type,
// so each has its own flag): what makes a lab's register_*() idempotent, since the CLI and the
// tests may each call it.
template <class F>
void register_once(F&& registration) {
  static const bool done = (registration(), true);
  (void)done;
}

// A task's schema from its parameter table: `params` and a canonical() that reads (without
// "name"), runs `check(c)` when the config type declares one, and writes back with every
// default. `build` is a dataset task's builder; empty (the default) for a lab runner's task.
template <class C>
task_info task_from_table(std::string name, std::string summary, const param_table<C>& table,
                          std::function<dataset(const nlohmann::json&, std::uint64_t)> build = {}) {
  task_info t;
  t.name = std::move(name);
  t.summary = std::move(summary);
  t.params = table.specs();
  t.build = std::move(build);
  const param_table<C>* tp = &table;
  t.canonical = [tp](const nlohmann::json& j) {
    const C c = tp->read(j, {"name"});
    if constexpr (requires { check(c); }) check(c);
    return tp->write(c);
  };
  return t;
}
// Error names the unknown task and lists the known ones.
const task_info& find_task(std::string_view name);

// `table` = {"name": "mqar", ...params}; builds the dataset.
dataset build_task(const nlohmann::json& table, std::uint64_t seed);

}  // namespace lmlab::tasks
