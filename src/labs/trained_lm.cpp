// Train as the default runner, then reload: see trained_lm.hpp.
#include "labs/trained_lm.hpp"

#include <unistd.h>

#include <filesystem>

#include "core/error.hpp"
#include "models/lm.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/checkpoint.hpp"

namespace lmlab::labs {

trained_lm train_and_reload(const lab::run_context& ctx, const nlohmann::json& task_json, const char* tag) {
  namespace fs = std::filesystem;
  nlohmann::json train_cfg = ctx.config;
  train_cfg["task"] = task_json;
  fs::path dir = ctx.dir;
  const bool temp_dir = dir.empty();
  if (temp_dir) dir = fs::temp_directory_path() / fmt::format("lmlab_{}_{}_{}", tag, ::getpid(), ctx.seed);
  trained_lm t;
  t.result = lab::train_and_evaluate(train_cfg, ctx.seed, dir, ctx.db ? ctx.db->path() : fs::path(), ctx.store_run, ctx.progress);
  t.ds = tasks::build_task(task_json, ctx.seed);
  t.model = models::make_model(lab::run_model_config(ctx.config.at("model"), t.ds), ctx.seed);
  train::load_weights(dir / "checkpoint", *t.model);
  if (temp_dir) fs::remove_all(dir);
  t.model->eval();
  return t;
}

}  // namespace lmlab::labs
