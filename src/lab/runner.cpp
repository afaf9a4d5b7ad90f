// Lab runners: see runner.hpp.
#include "lab/runner.hpp"

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace lmlab::lab {

void run_context::log_metric(std::int64_t step, const std::string& name, double value) const {
  if (db) db->log_metric(store_run, step, name, value);
}

void run_context::log_eval(const std::string& slice, const std::string& metric, double value, std::int64_t n) const {
  if (db) db->log_evaluation(store_run, "test", slice, metric, value, n);
}

void run_context::log_metrics(std::int64_t step, const std::vector<std::pair<std::string, double>>& metrics) const {
  for (const auto& [name, value] : metrics)
    if (std::isfinite(value)) log_metric(step, name, value);
}

namespace {
std::map<std::string, runner_fn, std::less<>>& runners() {
  static std::map<std::string, runner_fn, std::less<>> r;
  return r;
}
}  // namespace

void register_runner(const std::string& task_name, runner_fn fn, bool replace) {
  LMLAB_CHECK(!task_name.empty() && fn, "lab: a runner needs a task name and a function");
  auto& r = runners();
  LMLAB_CHECK(replace || !r.count(task_name), "lab: a runner for task '{}' is registered twice", task_name);
  r[task_name] = std::move(fn);
}

const runner_fn* find_runner(std::string_view task_name) {
  auto& r = runners();
  auto it = r.find(task_name);
  return it == r.end() ? nullptr : &it->second;
}

run_result run_config_once(const run_context& ctx) {
  const std::string task = ctx.config.at("task").at("name").get<std::string>();
  if (const runner_fn* fn = find_runner(task)) return (*fn)(ctx);
  return train_and_evaluate(ctx.config, ctx.seed, ctx.dir, ctx.db ? ctx.db->path() : std::filesystem::path(),
                            ctx.store_run, ctx.progress);
}

}  // namespace lmlab::lab
