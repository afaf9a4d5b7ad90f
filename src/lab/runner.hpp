// Lab runners: what one run of a spec does, by task name. The default trains a zoo model on a
// probe task's dataset and scores it per slice (run.hpp, train_and_evaluate). A lab whose runs
// are something else (a reward model then best-of-n, generations of a collapse loop, a VLM
// with POPE) registers, from its own layer, a task (tasks::register_task: the [task] schema,
// so specs, `--set`, [expect] rules and error messages work unchanged) and a runner of the
// same name here. The runner writes its metrics and evaluations to the store through the
// context; the sweep, resume, report and agreement rules then treat it like any other run.
// Registration is explicit: a lab exposes `register_...()`, called by its CLI file
// (src/cli/<layer>.cpp, a static registrar, so the binary has it) and by its tests.
// Not for: scheduling (sweep.hpp), parsing specs (spec.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lab/run.hpp"
#include "tasks/registry.hpp"

namespace lmlab::store {
class results_store;
}

namespace lmlab::lab {

struct run_context {
  const nlohmann::json& config;          // {model, task, train, seed} as stored by the sweep
  std::uint64_t seed = 0;                // the derived seed
  std::filesystem::path dir;             // run folder (checkpoints for resume); empty in tests
  store::results_store* db = nullptr;    // null in tests
  std::int64_t store_run = -1;           // the run's id in db
  std::FILE* progress = nullptr;         // may be null

  // Write to the store when there is one (tests run without): a run metric at `step`, and an
  // evaluation of the "test" split.
  void log_metric(std::int64_t step, const std::string& name, double value) const;
  void log_eval(const std::string& slice, const std::string& metric, double value, std::int64_t n) const;
  // log_metric(step, name, value) for each (name, value) whose value is finite.
  void log_metrics(std::int64_t step, const std::vector<std::pair<std::string, double>>& metrics) const;
};

using runner_fn = std::function<run_result(const run_context&)>;

// Registers the runner for the task `task_name`; registering a name twice is an error unless
// `replace` (tests re-register).
void register_runner(const std::string& task_name, runner_fn fn, bool replace = false);
// A lab's task and its runner in one call: the task `name` with the [task] schema of `table`
// (tasks::task_from_table) and `fn` as its runner.
template <class C>
void register_lab_task(const std::string& name, std::string summary, const tasks::param_table<C>& table, runner_fn fn) {
  tasks::register_task(tasks::task_from_table(name, std::move(summary), table));
  register_runner(name, std::move(fn));
}

// The runner for a task, or null when the default (train_and_evaluate) applies.
const runner_fn* find_runner(std::string_view task_name);

// Runs `config`: its task's runner if one is registered, else train_and_evaluate.
run_result run_config_once(const run_context& ctx);

}  // namespace lmlab::lab
