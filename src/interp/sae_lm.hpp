// Sparse autoencoders on a language model's activations (sae.hpp trains them): the rows of a
// hook's activation, and the CE-loss score with the SAE spliced into the forward pass.
//   CE_clean:    mean next-token cross-entropy of the model as it is;
//   CE_sae:      the same with the activation at the hook replaced, at every position, by the
//                SAE's reconstruction x_hat (inference encoding, so batchtopk uses its threshold);
//   CE_ablation: the same with the activation replaced by zeros;
//   score = (CE_ablation - CE_sae) / (CE_ablation - CE_clean) (ce_loss_score).
// ref: SAELens's "CE loss score" and Gao et al. 2024 sec. 4.1 (downstream loss); zero ablation
// as in Bricken et al. 2023 / SAELens (mean ablation is the other common choice).
// Not for: SAE training and the synthetic benchmark (sae.hpp), the lab runner (src/labs/).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "interp/sae.hpp"
#include "models/causal_lm.hpp"
#include "tasks/registry.hpp"

namespace lmlab::interp {

// The activation at `hook` ((B, T, C), e.g. blocks.1.hook_resid_pre) on ids i32 (B, T), one
// forward under no_grad, as B*T rows of C doubles (row b*T + t); *width = C.
std::vector<double> hook_rows(models::causal_lm& model, const tensor& ids, const std::string& hook, std::int64_t* width);

struct sae_ce {
  double clean = 0, sae = 0, ablation = 0;
  double score = 0;  // ce_loss_score(clean, sae, ablation)
};
// inputs, targets i32 (B, T) (targets: ignore_index where unsupervised). The SAE's d_in must be
// the hook's last dimension (an error names both).
sae_ce sae_ce_scores(models::causal_lm& model, const tensor& inputs, const tensor& targets, const std::string& hook, const sae& s);

// An SAE as a safetensors file: W_enc, b_enc, W_dec, b_dec in F64 (exact), and metadata kind, k,
// threshold (batchtopk's, as "%.17g") plus the caller's `meta` (e.g. the hook and checkpoint).
// load_sae checks the shapes against each other; errors name the file and the key.
void save_sae(const std::string& path, const sae& s, const std::map<std::string, std::string>& meta = {});
sae load_sae(const std::string& path, std::map<std::string, std::string>* meta = nullptr);

// ---- the lab task "sae_lm" (a lab runner's task: src/labs/sae_lm_runner.cpp) ----------------
// A character LM trained on a corpus (the corpus_lm task, by the lab's default runner), then
// SAEs of each of `kinds` on the activation at `hook` of `sae_windows` training windows, scored
// on the held-out windows: L0, explained variance, dead latents and the CE-loss score.
struct sae_lm_task {
  std::string corpus = "brown";
  std::int64_t seq_len = 64, num_train = 4000, num_test = 64;
  std::string hook = "blocks.1.hook_resid_pre";
  std::string kinds = "topk batchtopk topk+auxk";  // space-separated; "+auxk" adds AuxK
  std::int64_t sae_windows = 256;
  std::int64_t d_sae = 256, k = 8;
  double l1 = 1e-2;            // kind l1
  double aux_coef = 1.0 / 32;  // Gao et al.'s alpha
  std::int64_t k_aux = 0;      // 0 = d_in / 2
  std::int64_t dead_steps = 100;
  std::int64_t sae_steps = 1500, sae_batch = 128;
  double sae_lr = 1e-3;
};
struct sae_variant {
  sae_kind kind = sae_kind::topk;
  bool auxk = false;
  std::string name;  // "topk", "batchtopk_auxk", ...
};
// The parsed `kinds`; an unknown or repeated entry is an error naming task.kinds.
std::vector<sae_variant> parse_sae_variants(const std::string& kinds);
void check(const sae_lm_task& t);
const tasks::param_table<sae_lm_task>& sae_lm_params();
// The corpus_lm task table the model trains on.
nlohmann::json corpus_task_json(const sae_lm_task& t);
// The SAE training config of one variant on activations of width d_in.
sae_config sae_config_of(const sae_lm_task& t, const sae_variant& v, std::int64_t d_in, std::uint64_t seed);

}  // namespace lmlab::interp
