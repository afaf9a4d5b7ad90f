// The task registry: see registry.hpp.
#include "tasks/registry.hpp"

#include "core/error.hpp"

#include "tasks/arithmetic.hpp"
#include "tasks/copying.hpp"
#include "tasks/induction.hpp"
#include "tasks/length_gen.hpp"
#include "tasks/mqar.hpp"
#include "tasks/scan.hpp"
#include "tasks/word_problems.hpp"

namespace lmlab::tasks {

namespace {

template <class C>
task_info make_info(std::string name, std::string summary, const param_table<C>& table) {
  const param_table<C>* tp = &table;
  return task_from_table(std::move(name), std::move(summary), table,
                         [tp](const nlohmann::json& j, std::uint64_t seed) { return build(tp->read(j, {"name"}), seed); });
}

}  // namespace

namespace {
std::deque<task_info>& mutable_registry() {
  static std::deque<task_info> r = {
      make_info("mqar", "multi-query associative recall (zoology)", mqar_params()),
      make_info("copy", "copy a random string", copy_params()),
      make_info("selective_copy", "copy the non-noise tokens (Mamba)", selective_copy_params()),
      make_info("induction", "predict the token after the earlier trigger", induction_params()),
      make_info("scan", "SCAN command -> actions, standard splits", scan_params()),
      make_info("arithmetic", "base-b addition/multiplication, in and out of distribution", arithmetic_params()),
      make_info("word_problems", "GSM-Symbolic-style templated word problems", word_problems_params()),
      make_info("length_gen", "train on lengths <= L, test at 1x..8x L", length_gen_params()),
  };
  return r;
}
}  // namespace

const std::deque<task_info>& task_registry() { return mutable_registry(); }

void register_task(task_info t) {
  LMLAB_CHECK(!t.name.empty() && t.canonical, "task: a registered task needs a name and a canonical()");
  for (const auto& have : mutable_registry())
    LMLAB_CHECK(have.name != t.name, "task: '{}' is registered twice", t.name);
  mutable_registry().push_back(std::move(t));
}

const task_info& find_task(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& t : task_registry()) {
    if (t.name == name) return t;
    names.push_back(t.name);
  }
  const std::string near = closest_name(std::string(name), names);
  throw param_error("name", fmt::format("task: unknown task '{}'", name),
                    (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                        fmt::format("known tasks: {}", fmt::join(names, ", ")));
}

dataset build_task(const nlohmann::json& table, std::uint64_t seed) {
  if (!table.is_object() || !table.contains("name") || !table.at("name").is_string())
    throw param_error("name", "task: the table needs a string 'name' naming the task");
  const task_info& t = find_task(table.at("name").get<std::string>());
  t.canonical(table);  // check() before generating
  LMLAB_CHECK_HINT(static_cast<bool>(t.build), "its runs are done by the lab runner of the same name (lab/runner.hpp)",
                   "task: '{}' has no dataset", t.name);
  return t.build(table, seed);
}

}  // namespace lmlab::tasks
