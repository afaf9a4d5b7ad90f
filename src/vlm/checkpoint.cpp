// VLM checkpoints: see checkpoint.hpp.
#include "vlm/checkpoint.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "nn/safetensors.hpp"

namespace lmlab::vlm {

void save_vlm(const std::filesystem::path& dir, const vlm_model& m, const vlm_task& t, const nlohmann::json& model_json) {
  std::filesystem::create_directories(dir);
  nn::save_safetensors(dir / "model.safetensors", m.named_parameters(), {{"format", "pt"}});
  const nlohmann::json cfg = {{"model_type", k_vlm_model_type}, {"task", write_vlm_task(t)}, {"model", model_json},
                              {"vocabulary", vocabulary()}};
  write_file_atomic(dir / "config.json", cfg.dump(2) + "\n");
}

bool is_vlm_checkpoint(const std::filesystem::path& dir) {
  const auto p = dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return false;
  const auto j = nlohmann::json::parse(read_text_file(p), nullptr, false);
  return j.is_object() && j.contains("model_type") && j["model_type"] == k_vlm_model_type;
}

loaded_vlm load_vlm(const std::filesystem::path& dir) {
  const auto cp = dir / "config.json";
  const auto j = nlohmann::json::parse(read_text_file(cp), nullptr, false);
  LMLAB_CHECK(j.is_object() && j.value("model_type", "") == std::string(k_vlm_model_type), "{}: not a VLM checkpoint config "
              "(model_type must be \"{}\")", cp.string(), k_vlm_model_type);
  LMLAB_CHECK(j.contains("task") && j["task"].is_object() && j.contains("model") && j["model"].is_object(),
              "{}: 'task' and 'model' must be objects", cp.string());
  LMLAB_CHECK_HINT(j.value("vocabulary", nlohmann::json()) == nlohmann::json(vocabulary()), "retrain with this lmlab",
                   "{}: the checkpoint's vocabulary differs from this build's scene vocabulary", cp.string());
  loaded_vlm out;
  try {
    out.task = read_vlm_task(j["task"]);
  } catch (const error& e) {
    throw error(fmt::format("{}: task: {}", cp.string(), e.what()), e.hint());
  }
  out.model_json = j["model"];
  out.model = std::make_unique<vlm_model>(vlm_model_config(out.task, out.model_json), 0);
  const auto f = nn::safetensors_file::load(dir / "model.safetensors");
  nn::load_parameters(*out.model, f, "", true);
  out.model->eval();
  return out;
}

}  // namespace lmlab::vlm
