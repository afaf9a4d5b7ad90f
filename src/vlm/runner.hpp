// The VLM lab's run (task "vlm_pope", a lab runner: lab/runner.hpp): build scenes, train the
// tiny VLM of model.hpp in three stages, then score it.
//   1. contrastive  task.clip_steps of CLIP on (image, caption) pairs: ViT, text tower, heads;
//   2. alignment    task.align_steps of captioning: projector and LM learn on the frozen ViT's
//                   features (LLaVA's stage 1 trains the projector only; our LM is not
//                   pretrained, so it learns here too);
//   3. QA           train.steps of question answering (existence with random negatives,
//                   colour, left-of/above relations; task.exist_share of them existence),
//                   projector and LM; the ViT stays frozen unless task.tune_vision.
// Evaluation on held-out scenes (disjoint index range), answers by greedy argmax over the
// vocabulary at the answer position:
//   test/<kind> accuracy           kind = exist, colour, relation; "all" their mean
//   test/<setting> accuracy, precision, recall, f1, yes_ratio   POPE (pope.hpp), setting =
//                                  random, popular, adversarial ("yes" iff argmax is "yes")
//   test/vcd_<setting> the same    with visual contrastive decoding (vcd.hpp)
//   test/<setting> f1_drop         F1 at random minus F1 at this setting (popular, adversarial)
//   test/adversarial f1_drop_from_popular   F1 at popular minus F1 at adversarial
//   test/<setting> vcd_f1_gain     F1 with VCD minus F1 without (paired within the run)
// Run metrics: clip_loss, align_loss, final_train_loss (QA), n_params, steps, image_tokens.
// A killed run starts again from the beginning (a quick run takes seconds; no checkpoint).
// Not for: the model (model.hpp), POPE's sampling and metrics (pope.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "vlm/model.hpp"
#include "vlm/scene.hpp"

namespace lmlab::lab {
struct run_context;
struct run_result;
}  // namespace lmlab::lab

namespace lmlab::vlm {

struct vlm_task : scene_config {  // the scenes' keys: scene_config (scene.hpp)
  std::int64_t train_scenes = 2000, test_scenes = 200;
  // vision and projector
  std::int64_t patch = 4, vit_d = 32, vit_layers = 1, vit_heads = 2;
  std::string projector = "mlp";
  std::int64_t image_tokens = 16, resampler_heads = 2;
  // stages
  std::int64_t clip_steps = 100, align_steps = 100;
  bool tune_vision = false;  // stages 2-3 train the ViT too (else its features are computed once)
  double exist_share = 0.5;
  // evaluation
  std::int64_t pope_per_image = 3;
  double vcd_alpha = 1.0, vcd_beta = 0.1;
  std::int64_t vcd_noise_step = 500;

  const scene_config& scenes() const { return *this; }
};

// The task's parameters from a [task] table (unknown keys and bad values: tasks::param_error
// naming the key); canonical JSON with defaults. check() holds the cross-key checks, each
// reported at the key that must change (the registry's canonical() runs it too).
void check(const vlm_task& t);
vlm_task read_vlm_task(const nlohmann::json& j);
nlohmann::json write_vlm_task(const vlm_task& t);

// Registers the task "vlm_pope" and its runner (once; later calls do nothing).
void register_lab();

// The model configuration a task and a spec's [model] table give (vocabulary and n_ctx from the
// task; errors name "model.<key>").
vlm_config vlm_model_config(const vlm_task& t, const nlohmann::json& model_json);

// The run itself (what the registered runner calls). With `save_to`, the trained model is also
// saved there as a VLM checkpoint (checkpoint.hpp) before it is evaluated (`lmlab vlm train`).
lab::run_result run_vlm(const lab::run_context& ctx);
lab::run_result run_vlm(const lab::run_context& ctx, const std::filesystem::path& save_to);

}  // namespace lmlab::vlm
