// Memory of a model at inference (weights + KV cache + recurrent state, sharded over TP/EP) and
// in training (weights, gradients, optimizer state, activations with and without recomputation).
// Not for: measuring real allocations (the engine's arena reports those), or paging/fragmentation.
#pragma once

#include <string>
#include <string_view>

#include "plan/model_config.hpp"

namespace lmlab::plan {

// Bytes per element for a dtype name: fp32 4, bf16/fp16 2, fp8/int8 1, int4/fp4 0.5.
double dtype_bytes(std::string_view name, std::string_view what);

struct inference_memory_options {
  double context = 4096;  // tokens per sequence (prompt + generated)
  double batch = 1;       // concurrent sequences
  double weight_bytes = 2, cache_bytes = 2, state_bytes = 2;
  int tp = 1, ep = 1;  // tensor and expert parallel degrees
};

struct inference_memory {
  double weights = 0, kv_cache = 0, state = 0, total = 0;  // bytes for the whole model
  double per_device = 0;                                   // bytes on one of tp·ep devices
  double kv_per_token = 0;                                 // KV bytes per token (one sequence)
};
inference_memory estimate_inference_memory(const model_config& m, const inference_memory_options& o);

enum class recompute { none, selective, full };
recompute parse_recompute(std::string_view s);

struct training_memory_options {
  double seq = 4096, micro_batch = 1;
  int tp = 1, pp = 1, dp = 1;
  int zero_stage = 0;  // 0: none, 1: optimizer, 2: +gradients, 3: +parameters
  recompute recomp = recompute::selective;
  bool sequence_parallel = true;
  // Micro-batches whose activations the first pipeline stage holds at its peak, each through
  // L/pp layers; 0 = pp (1F1B). GPipe holds all m micro-batches of the step, 1F1B at most pp
  // (ref: Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters
  // Using Megatron-LM", Section 2.2.1), interleaved 1F1B pp·(1 + (pp-1)/(pp·v)) (ref:
  // Korthikanti et al. 2022, Section 4.1).
  double in_flight = 0;
};

struct training_memory {
  double params = 0, grads = 0, optimizer = 0, activations = 0, total = 0;  // bytes per device
};
// Mixed-precision Adam: bf16 weights (2 B) + bf16 grads (2 B) + fp32 master, m, v (12 B) per
// parameter (ref: Rajbhandari et al. 2020, ZeRO, Section 3.1: 16 bytes/parameter), divided by
// ZeRO stage over dp. Activations per layer per Korthikanti et al. 2022 (arXiv:2205.05198) Table 2.
training_memory estimate_training_memory(const model_config& m, const training_memory_options& o);

}  // namespace lmlab::plan
