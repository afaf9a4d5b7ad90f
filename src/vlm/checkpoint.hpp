// VLM checkpoints: a trained lab VLM (model.hpp) in a folder that `lmlab serve` loads.
//   model.safetensors   every parameter by name (vision.*, proj.*, lm.*, clip heads, text tower)
//   config.json         {"model_type": "lmlab-vlm", "task": {the vlm_pope task, canonical},
//                        "model": {the spec's [model] table}, "vocabulary": [the scene words]}
// config.json is written last (each file atomically), so a folder with it is complete. The
// model is rebuilt from the task and model tables with vlm_model_config (runner.hpp), so the
// vocabulary, image tokens and n_ctx come out as in training; the stored vocabulary is checked
// against the built-in one.
// Not for: training (runner.hpp), serving (serve/vlm_adapter.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

#include "vlm/model.hpp"
#include "vlm/runner.hpp"

namespace lmlab::vlm {

inline constexpr const char* k_vlm_model_type = "lmlab-vlm";

void save_vlm(const std::filesystem::path& dir, const vlm_model& m, const vlm_task& t, const nlohmann::json& model_json);

struct loaded_vlm {
  std::unique_ptr<vlm_model> model;
  vlm_task task;
  nlohmann::json model_json;
};
// Errors name the folder and the file, key or tensor.
loaded_vlm load_vlm(const std::filesystem::path& dir);
// Whether dir/config.json exists and says "model_type": "lmlab-vlm".
bool is_vlm_checkpoint(const std::filesystem::path& dir);

}  // namespace lmlab::vlm
