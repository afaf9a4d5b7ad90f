// One lab run: trains a model on a probe task and evaluates it per difficulty slice, writing
// metrics and evaluations to the results store. Runs inside the child process that the
// sweep runner starts (`lmlab lab exec`), so a crash or NaN here fails only this run.
// Resumable: a checkpoint in the run folder is picked up and training continues at its
// step with the same batches (they are a pure function of (seed, step)).
// Not for: scheduling runs (sweep.hpp), specs (spec.hpp), LM training on corpora (train/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

#include "models/lm_config.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::lab {

struct exec_options {
  std::filesystem::path store = "lmlab.db";
  std::string run;                       // the run's name in the store ("<experiment>/<id>")
  std::filesystem::path dir;             // run folder: checkpoint/, log.txt
  int threads = 1;
  std::FILE* progress = stderr;
};

// Trains and evaluates; marks the run finished. Throws lmlab::error on failure (the caller
// prints it; the sweep records it as the run's failure reason).
void execute_run(const exec_options& opt);

// The pieces of execute_run that tests call directly.
struct run_result {
  double final_train_loss = 0;
  double test_accuracy = 0;         // exact match over the whole test split
  std::int64_t steps = 0;
  std::int64_t n_params = 0;
  double seconds = 0;
};
// The model config of a run: the spec's [model] with vocab_size and n_ctx filled in from the
// task's dataset (runners that reload a run's checkpoint build the same model with it).
models::lm_config run_model_config(const nlohmann::json& model, const tasks::dataset& ds);

// Trains on `config` ({model, task, train, ...} as stored by the sweep) and evaluates.
// `store_run` < 0: do not touch a store (tests). Writes checkpoints under `dir` when nonempty.
run_result train_and_evaluate(const nlohmann::json& config, std::uint64_t seed, const std::filesystem::path& dir,
                              const std::filesystem::path& store_path, std::int64_t store_run, std::FILE* progress);

}  // namespace lmlab::lab
