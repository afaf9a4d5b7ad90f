// Training a fresh zoo model on a list of (input, target) token sequences with the one training
// loop (train::train_steps): the runners of this lab that train several small models in one run
// (teacher and students of synth_runner.cpp, the learned verifier of ttc_runner.cpp) share it.
// Batches draw B sequences with replacement from (seed, step), padded to the longest (inputs
// with `pad`, targets with ignore_index), so a run is a pure function of its seed.
// Not for: lab runs with checkpoints and a store (lab/run.hpp), corpora (train/trainer.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "models/lm.hpp"
#include "train/config.hpp"
#include "train/trainer.hpp"

namespace lmlab::datalab {

struct token_example {
  std::vector<std::int32_t> input, target;  // same length; target ignore_index where unsupervised
};

// Inputs tokens[0, L−1), targets tokens[1, L) from position prompt_len − 1 on (the loss is on
// what follows the prompt).
token_example next_token_example(const std::vector<std::int32_t>& tokens, std::size_t prompt_len);

train::step_batch example_batch(const std::vector<token_example>& data, std::int64_t B, std::int32_t pad, std::uint64_t seed,
                                std::int64_t step);

// A model of `mc` initialised from `seed`, trained for `steps` with oc's batch size, AdamW
// settings, cosine schedule and clipping; returns it in training mode. `last_loss` gets the mean
// loss of the last tenth of the steps when not null. With `init`, training starts from a copy of
// its weights (matched by name, same shapes) instead of a fresh initialisation.
std::unique_ptr<models::lm> train_on_examples(const models::lm_config& mc, const std::vector<token_example>& data,
                                              const train::optim_config& oc, std::int64_t steps, std::int32_t pad,
                                              std::uint64_t seed, double* last_loss = nullptr,
                                              const models::causal_lm* init = nullptr);

}  // namespace lmlab::datalab
