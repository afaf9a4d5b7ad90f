// A lab runner's first step when it dissects a model it trains: train on a task exactly as the
// default runner does (lab::train_and_evaluate: same batches, checkpoint, per-slice accuracy,
// resume), then reload the checkpoint in eval mode with the task's dataset. Used by the
// carry_probe and sae_lm runners.
// Not for: runners that train through their own loop (induction_formation).
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "models/causal_lm.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::labs {

struct trained_lm {
  lab::run_result result;
  tasks::dataset ds;
  std::unique_ptr<models::causal_lm> model;
};
// The run's config with its [task] replaced by `task_json`; checkpoints go to the run folder, or,
// without one (tests), to a temporary folder named after `tag` that is removed afterwards.
trained_lm train_and_reload(const lab::run_context& ctx, const nlohmann::json& task_json, const char* tag);

}  // namespace lmlab::labs
