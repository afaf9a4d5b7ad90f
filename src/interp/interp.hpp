// The interpretability lab on any lmlab model (every mixer): hook-name globs with close-match
// errors, activation caches written to safetensors (whole or one layer at a time), induction
// and previous-token head scores, activation patching with the normalised logit-difference
// metric, and activation steering with a scale sweep. Linear probes: interp/probe.hpp.
// Built on hooks/ (the hook points each model places; names in docs/architectures.md). Also:
// induction-head formation (formation.hpp), the carry probe-steer-patch (carry.hpp), SAEs (sae.hpp).
// Definitions and citations: docs/interp.md.
// Not for: placing hook points (models/), the CLI (cli/interp.cpp), report pages (report/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/causal_lm.hpp"
#include "nn/module.hpp"

namespace lmlab::interp {

// ---- hook names ---------------------------------------------------------------------------
// `*` matches any run of characters (dots included): "blocks.*.hook_resid_post".
bool glob_match(std::string_view pattern, std::string_view name);
// Up to `k` names closest to `name` by edit distance, closest first.
std::vector<std::string> close_matches(const std::vector<std::string>& names, const std::string& name, std::size_t k = 5);
// The hook names of `m` matching any of the comma-separated globs, in the model's order. A
// glob that matches nothing is an error that lists the close matches.
std::vector<std::string> match_hooks(const nn::module& m, const std::string& globs);
// The layer N of "blocks.N. ..." names; -1 for names outside the blocks (hook_embed).
std::int64_t layer_of(const std::string& hook_name);

// ---- cache ----------------------------------------------------------------------------------
// ids i32 (B, T) -> name -> activation (a detached copy), one forward under no_grad.
std::map<std::string, tensor> cache_activations(models::causal_lm& model, const tensor& ids,
                                                const std::vector<std::string>& names);
// Writes the activations of `names` on ids to a safetensors file atomically (temp file, then
// rename). layer_at_a_time: one forward records the shapes, then one forward per layer keeps
// only that layer's activations in memory and appends them to the file; the file is byte for
// byte the one the whole-cache mode writes. Returns the bytes written.
std::uint64_t write_cache(const std::filesystem::path& out, models::causal_lm& model, const tensor& ids,
                          const std::vector<std::string>& names, bool layer_at_a_time,
                          const std::map<std::string, std::string>& metadata = {});

// ---- heads ----------------------------------------------------------------------------------
// ref: Olsson et al. 2022, "In-context Learning and Induction Heads", sec. "Per-token loss
// analysis" / Appendix: on a sequence of n random tokens repeated twice, an induction head at
// query position i >= n attends to i - n + 1 (the token after the earlier copy of token i).
// pattern (B, H, T, T) with T = 2n -> per head the mean over batch and i in [n, 2n) of
// pattern[b, h, i, i - n + 1].
std::vector<double> induction_scores(const tensor& pattern, std::int64_t n);
// Per head the mean over batch and i in [1, T) of pattern[b, h, i, i - 1].
std::vector<double> prev_token_scores(const tensor& pattern);

struct head_score {
  std::int64_t layer = 0, head = 0;
  double induction = 0, prev_token = 0;
};
struct heads_options {
  std::int64_t n = 0;      // random tokens per half; 0 = min(50, n_ctx / 2)
  std::int64_t batch = 8;  // sequences
  std::uint64_t seed = 0;
};
// Scores every attention head (blocks.N.attn.hook_pattern) on repeated random tokens; an
// error when the model has no attention layer.
std::vector<head_score> head_scores(models::causal_lm& model, const heads_options& opt = {});
// The (B, 2n) repeated-random-token batch head_scores uses (tokens uniform in [0, vocab)).
tensor repeated_random_tokens(std::int64_t B, std::int64_t n, std::int64_t vocab, std::uint64_t seed);

// ---- patching -------------------------------------------------------------------------------
// The metric: logit[answer] - logit[wrong] at the last position, mean over the batch.
double logit_diff(const tensor& logits, std::int32_t answer, std::int32_t wrong);
// ref: TransformerLens's activation-patching convention (normalised metric):
// (patched - corrupted) / (clean - corrupted), so clean = 1 and corrupted = 0; 0 when clean
// and corrupted agree (no effect to explain).
double normalise(double patched, double clean, double corrupted);

struct patch_cell {
  std::string hook;           // the patched hook point
  std::int64_t layer = 0;
  std::int64_t index = 0;     // position (residual grid) or head (head grid)
  double metric = 0;          // logit difference of the patched corrupted run
  double effect = 0;          // normalised
};
struct patch_result {
  double clean = 0, corrupted = 0;  // logit differences of the unpatched runs
  std::vector<patch_cell> cells;
};
// Runs the corrupted input with the clean activation of `blocks.N.<site>` copied in at one
// position, for every layer N and position; `site` e.g. "hook_resid_pre" (any (B, T, ...)
// hook). clean_ids and corrupt_ids have equal shapes.
patch_result patch_positions(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                             std::int32_t answer, std::int32_t wrong, const std::string& site = "hook_resid_pre");
// Per head: the clean blocks.N.attn.hook_z of one head copied in at every position, for every
// attention layer N.
patch_result patch_heads(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                         std::int32_t answer, std::int32_t wrong);
// Path patching (ref: Wang et al. 2022, "Interpretability in the Wild", sec. 3.1 and appendix B;
// Goldowsky-Dill et al. 2023, "Localizing Model Behavior with Path Patching"): the effect of
// one sender head only along the paths into a receiver. For each head (l, h) of the attention
// layers before the receiver's: (1) run the corrupted input with that head's clean hook_z and
// every other head's hook_z frozen at its corrupted value (MLPs and other mixers recompute, so
// the path runs through the residual stream and them); (2) receiver "logits": the logits of
// that run; receiver "blocks.L.attn.hook_q|k|v": record the receiver's activation in that run
// and run the corrupted input once more with only it replaced. Metric and normalisation as
// patch_heads (clean = 1, corrupted = 0). In a model whose last attention layer is the sender's,
// path patching to the logits equals patch_heads (nothing downstream to freeze); tested.
// MLP senders (path_options::mlp_senders): blocks.N.hook_mlp_out, clean at every position, with
// every head frozen at its corrupted value as above; a cell's index is -1 and its hook names the
// MLP. The last layer's MLP to the logits equals patching its output whole (patch_whole); tested.
// A receiver head (path_options::receiver_head >= 0): in the second run only that head's slice of
// the q/k/v receiver (dim 2 of (B, T, H, D)) is replaced, the other heads stay corrupted.
struct path_options {
  std::string receiver = "logits";  // or blocks.L.attn.hook_q|k|v
  std::int64_t receiver_head = -1;  // -1: every head of a q/k/v receiver
  bool head_senders = true, mlp_senders = false;
};
patch_result path_patch(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, std::int32_t answer,
                        std::int32_t wrong, const path_options& opt);
patch_result path_patch_heads(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                              std::int32_t answer, std::int32_t wrong, const std::string& receiver = "logits");
// The same grid with any metric of the logits (e.g. logit_diff_rows for per-row answers): the
// normalised effect uses metric(clean), metric(corrupted) and metric(patched).
using logits_metric = std::function<double(const tensor& logits)>;
patch_result patch_positions(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                             const logits_metric& metric, const std::vector<std::string>& hooks);
// Per row b: logit[answer[b]] - logit[wrong[b]] at the last position, mean over rows.
double logit_diff_rows(const tensor& logits, const std::vector<std::int32_t>& answers, const std::vector<std::int32_t>& wrongs);
// The corrupted run with the whole clean activation of `hook` copied in; returns the logits.
tensor patch_whole(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, const std::string& hook);

// ---- logit lens ---------------------------------------------------------------------------
// ref: nostalgebraist 2020, "interpreting GPT: the logit lens": decode each layer's residual
// stream with the model's own final norm and unembedding. Done through hooks, so it works for
// every model: the last block's hook_resid_post is replaced by layer N's, and the forward's
// tail (final norm, head) decodes it. Returns (hook_resid_post name, logits (B, T, V)) per
// layer, in order; the last entry equals the model's logits.
std::vector<std::pair<std::string, tensor>> logit_lens(models::causal_lm& model, const tensor& ids);

// ---- steering -------------------------------------------------------------------------------
struct steer_point {
  double scale = 0;
  double metric = 0;
  double delta = 0;  // metric - metric without steering
};
// Adds scale * direction (shape: the hook's last dim, broadcast over batch and positions) at
// `hook`, for each scale, and measures `metric` on the logits.
// Logits of one forward with scale * direction added at `hook` at one position (a (B, T, C)
// activation; position < 0 counts from the end), per row: row b gets scales[b] (one entry:
// every row). The causal check of a probe at the position it was trained on.
tensor forward_adding_at(models::causal_lm& model, const tensor& ids, const std::string& hook, const std::vector<double>& direction,
                         const std::vector<double>& scales, std::int64_t position);
std::vector<steer_point> steer_sweep(models::causal_lm& model, const tensor& ids, const std::string& hook,
                                     const tensor& direction, const std::vector<double>& scales, const logits_metric& metric);

}  // namespace lmlab::interp
