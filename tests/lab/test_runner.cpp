// Lab runners (lab/runner.hpp): a lab registers a task schema and a runner of the same name;
// specs name it like any task, and run_config_once dispatches to it.
#include "lab/runner.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "lab/spec.hpp"
#include "tasks/registry.hpp"

using namespace lmlab;

namespace {
// A task with one integer parameter `k` (default 3) and no dataset, run by a runner that
// echoes k into its result.
void register_echo_once() {
  static const bool done = [] {
    tasks::task_info t;
    t.name = "test_echo";
    t.summary = "a test runner";
    tasks::param_spec k;
    k.name = "k";
    k.kind = tasks::param_kind::integer;
    k.help = "echoed";
    k.min = 1;
    k.default_value = 3;
    t.params = {k};
    t.canonical = [](const nlohmann::json& j) {
      nlohmann::json out = {{"k", j.value("k", 3)}};
      if (out["k"].get<int>() > 100) throw tasks::param_error("k", "test_echo: k out of range [1, 100]");
      return out;
    };
    tasks::register_task(t);
    lab::register_runner("test_echo", [](const lab::run_context& ctx) {
      lab::run_result r;
      r.steps = ctx.config.at("task").at("k").get<std::int64_t>() * 10 + static_cast<std::int64_t>(ctx.seed % 2);
      r.test_accuracy = 0.5;
      return r;
    });
    return true;
  }();
  (void)done;
}
}  // namespace

TEST(lab_runner, spec_names_a_registered_task_and_runs_through_its_runner) {
  register_echo_once();
  auto spec = lab::parse_spec("name = \"e\"\nseeds = 2\n[task]\nname = \"test_echo\"\nk = [4, 7]\n[train]\nsteps = 1\n", "e.toml");
  ASSERT_EQ(spec.runs.size(), 4u);
  EXPECT_EQ(spec.runs[0].config["task"]["k"], 4);
  EXPECT_EQ(spec.runs[3].config["task"]["k"], 7);
  const auto r = lab::run_config_once({spec.runs[3].config, 6, {}, nullptr, -1, nullptr});
  EXPECT_EQ(r.steps, 70);
  // The task's own checks reach the spec with the key named.
  try {
    lab::parse_spec("name = \"e\"\n[task]\nname = \"test_echo\"\nk = 1000\n[train]\nsteps = 1\n", "e.toml");
    FAIL() << "k = 1000 was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("task.k"), std::string::npos) << e.what();
  }
}

TEST(lab_runner, registering_twice_is_an_error_and_a_runner_task_has_no_dataset) {
  register_echo_once();
  EXPECT_THROW(lab::register_runner("test_echo", [](const lab::run_context&) { return lab::run_result{}; }), lmlab::error);
  tasks::task_info dup;
  dup.name = "mqar";
  dup.canonical = [](const nlohmann::json& j) { return j; };
  EXPECT_THROW(tasks::register_task(dup), lmlab::error);
  try {
    tasks::build_task({{"name", "test_echo"}}, 0);
    FAIL() << "a runner-only task built a dataset";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("has no dataset"), std::string::npos) << e.what();
  }
  EXPECT_EQ(lab::find_runner("mqar"), nullptr);
}
