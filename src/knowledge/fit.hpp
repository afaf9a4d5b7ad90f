// What the knowledge runners share: a training phase on a list of examples (the lab's one loop,
// train::train_steps, with AdamW, warmup + cosine and clipping from the spec's [train] keys),
// teacher-forced answer scoring (exact match of the supervised tokens, their summed
// log-probability, the model's confidence in its own argmax answer), and logging per slice.
// A runner may train in several phases (pretraining, then QA fine-tuning); batches are a pure
// function of (seed, phase, step), so a rerun of the same config trains the same model.
// Not for: the default "train on a task" run (lab/run.cpp), the generators (kb, relations, context).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lab/runner.hpp"
#include "models/causal_lm.hpp"
#include "tasks/dataset.hpp"
#include "train/config.hpp"

namespace lmlab::knowledge {

// Optional parts of a training phase. `trainable` (empty: every parameter) picks the parameters
// the phase updates by name; the others are frozen (no gradient) for the phase and unfrozen
// after it. `on_every` (with every > 0) is called after each `every`-th step with the steps done,
// e.g. to score the model along the way; the model is left in training mode after it.
struct fit_extras {
  std::function<bool(const std::string& name)> trainable;
  std::int64_t every = 0;
  std::function<void(std::int64_t done)> on_every;
  // lora_rank > 0: LoRA instead of training the parameters (knowledge/lora.hpp): adapters of that
  // rank and alpha on each parameter `lora_targets` names (and `trainable` keeps), the rest
  // frozen; the adapted weights keep the merged W0 + (alpha / rank) B A after the phase.
  std::int64_t lora_rank = 0;
  double lora_alpha = 16;
  std::vector<std::string> lora_targets;
};

// Trains `model` on `examples` (uniform batches of oc.batch_size) for `steps` steps at peak
// learning rate `lr`; returns the last training loss. `stream` separates phases.
float fit(models::causal_lm& model, const std::vector<tasks::example>& examples, std::int32_t pad_id,
          const train::optim_config& oc, std::int64_t steps, double lr, std::uint64_t seed, std::uint64_t stream,
          const fit_extras& extras = {});

struct answer_score {
  bool correct = false;   // every supervised position's argmax equals its target
  double logprob = 0;     // sum over supervised positions of log p(target)
  double confidence = 0;  // product over supervised positions of the argmax probability
  std::vector<std::int32_t> argmax;  // per supervised position
};
// Teacher-forced scores of each example, in batches.
std::vector<answer_score> score_answers(models::causal_lm& model, const std::vector<tasks::example>& examples,
                                        std::int32_t pad_id, std::int64_t batch = 64);

// Writes accuracy (and the slice's difficulty) per slice and over all examples to the store
// of `ctx` (nothing without one); returns the overall accuracy.
double log_accuracy(const lab::run_context& ctx, const std::vector<tasks::example>& examples,
                    const std::vector<answer_score>& scores, const std::string& split = "test");
// One evaluation row (no-op without a store).
void log_eval(const lab::run_context& ctx, const std::string& slice, const std::string& metric, double value,
              std::int64_t n);
void log_run_metric(const lab::run_context& ctx, std::int64_t step, const std::string& name, double value);

// The examples of `all` whose slice equals `slice` (or starts with it when it ends in '/').
std::vector<tasks::example> with_slice(const std::vector<tasks::example>& all, const std::string& slice);

}  // namespace lmlab::knowledge
