// The training loop: AdamW on any model the config describes (models/lm.hpp) over a token stream, with warmup + cosine schedule,
// gradient clipping, periodic validation, checkpoints, and a progress line (step, loss,
// tokens/s, MFU, ETA; live on a TTY, plain lines otherwise). A run is a pure function of the
// config, the tokens and the thread count: batches come from data::sample_batch(seed, step)
// and dropout masks from Philox keyed by (seed, step), so `--resume` continues bit-identically.
// Not for: sweeps over configs (lab/), data preparation (data/prepare.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <optional>
#include <vector>

#include "data/batch.hpp"
#include "data/token_file.hpp"
#include "data/tokenizer.hpp"
#include "models/lm.hpp"
#include "train/config.hpp"
#include "train/data_parallel.hpp"
#include "train/optim.hpp"

namespace lmlab::train {

struct token_source {
  data::token_view train, val;
  std::optional<nlohmann::json> tokenizer;  // copied into checkpoints
};

struct run_options {
  bool resume = false;          // continue from <out_dir>/checkpoint
  std::int64_t stop_after = 0;  // stop (with a checkpoint) after this many total steps; 0 = train.steps
  std::FILE* progress = stderr; // nullptr: quiet
  bool write_files = true;      // checkpoint and metrics.jsonl under out_dir
  // Data parallel (mpirun): each rank trains on its rows of every global batch and the
  // gradients are averaged (data_parallel.hpp). The caller lets only rank 0 write files.
  data_parallel* dp = nullptr;
};

struct eval_point {
  std::int64_t step;
  double val_loss;
};

struct train_summary {
  std::int64_t start_step = 0, end_step = 0;
  std::vector<float> losses;      // training loss of each step run here, in order
  std::vector<eval_point> evals;
  double final_val_loss = 0;
  double tokens_per_s = 0, mfu = 0, seconds = 0;
  std::int64_t n_params = 0;
  nlohmann::json model_metrics = nlohmann::json::object();  // the last step's (MoE drops, MoD fraction)
  int dp_ranks = 1;
  dp_step_stats dp_mean;          // per step, averaged over the steps run here (data parallel)
};

// `lmlab train`: the model of cfg.model on a token stream (batches data::sample_batch(seed,
// step)), through train_steps below, with evaluation, checkpoints and metrics.jsonl.
train_summary run_training(const train_config& cfg, const token_source& data, const run_options& opt = {});

// The one training loop, shared by run_training and every lab run (lab/run.cpp): for each
// step in [start, end): the data source's batch, zero grads, loss, a finite-loss check (an
// error naming the step, before the weights change), backward, global-norm clipping, AdamW at
// sched.at(step); then after_step(step + 1, loss), where the caller logs, evaluates and
// checkpoints (it may throw to stop the run). With dp (more than one rank), backward reports
// each finished gradient to dp, and the loss passed on is the mean over ranks.
struct step_batch {
  tensor inputs, targets;          // i32 (B, T)
  std::uint64_t dropout_seed = 0;  // the model's dropout masks for this step
};
struct loop_callbacks {
  std::function<step_batch(std::int64_t step)> batch;        // the data source
  std::function<void(std::int64_t done, float loss)> after_step;
  std::function<void()> after_backward;  // before clipping: gradients of reparameterised weights (knowledge/lora.hpp)
  data_parallel* dp = nullptr;
};
void train_steps(models::causal_lm& model, adamw& optim, const lr_schedule& sched, double grad_clip, std::int64_t start,
                 std::int64_t end, const loop_callbacks& cb);

// Mean cross-entropy over `n_batches` batches of (B, T) drawn from `tokens` with
// sample_batch(seed, k), k = 0..n_batches-1 (the same batches at every evaluation).
double evaluate(models::causal_lm& model, data::token_view tokens, std::int64_t B, std::int64_t T, std::int64_t n_batches,
                std::uint64_t seed);

// Loss over every non-overlapping window of a split (data::sequential_batches), or the first
// `max_batches` batches when > 0: mean cross-entropy (nats/token), perplexity = e^loss, and
// bits per character = total nats / ln 2 / the number of characters (UTF-8 code points) the
// target tokens decode to (needs the tokenizer; NaN without one).
struct split_eval {
  double loss = 0, perplexity = 0, bits_per_char = 0;
  std::int64_t tokens = 0, chars = 0;
};
split_eval evaluate_split(models::causal_lm& model, data::token_view tokens, const data::tokenizer* tok, std::int64_t B,
                          std::int64_t T, std::int64_t max_batches = 0);

// Training FLOPs per token, PaLM's count (Chowdhery et al. 2022, appendix B): 6N + 12*L*d*T
// for the default GPT, generalised per mixer (models::lm::train_flops_per_token).
double train_flops_per_token(const models::lm_config& c, std::int64_t T);
// Nominal FP32 peak of `threads` cores: the ISA's FLOP/cycle/core (core/cpu.hpp: 64 for
// full-width AVX-512, 32 for AVX2+FMA) x the measured clock (or $LMLAB_CPU_GHZ), the same
// figure bench/train_bench divides by; $LMLAB_PEAK_GFLOPS overrides the whole figure.
double nominal_peak_flops(int threads);

// The token files, tokenizer and vocabulary for a [data] section: prepares them (fetching the
// corpus) under data.prepared_dir or the cache when they are missing.
struct prepared_data {
  std::filesystem::path dir;
  data::token_file train, val;
  std::unique_ptr<data::tokenizer> tokenizer;
};
prepared_data open_prepared_data(const data_config& d, std::FILE* log = stderr);

}  // namespace lmlab::train
