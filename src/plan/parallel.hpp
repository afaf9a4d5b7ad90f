// MFU and a training-step estimate for a TP/PP/DP/EP/CP layout: compute at a stated efficiency,
// collectives in an alpha-beta model, pipeline bubbles (GPipe, 1F1B, interleaved), a search for
// the fastest layout under a memory cap, and a Chrome-trace JSON of one simulated 1F1B step.
// Not for: overlap of communication with compute beyond what a flag states, or kernel-level
// effects (attention efficiency, launch overheads); see docs/plan.md for what this ignores.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "plan/hardware.hpp"
#include "plan/model_config.hpp"

namespace lmlab::plan {

// Model FLOPs per token: 6N + 12·L·H·Q·T (training) and 2N + 4·L·H·Q·T (forward).
// ref: Chowdhery et al. 2022 (PaLM), Appendix B
double model_flops_per_token(double n_params, double n_layers, double d_attn, double seq, bool training = true);
// MFU = tokens/s × FLOPs per token / (devices × peak).  ref: PaLM Appendix B
double mfu(double tokens_per_sec, double flops_per_token, double devices, double peak_flops);

// Alpha-beta collective times for p ranks and `bytes` per rank.
// ref: Thakur, Rabenseifner & Gropp 2005 (ring all-reduce = reduce-scatter + all-gather)
double allreduce_time(double bytes, int p, double alpha, double bw);   // 2(p-1)α + 2(p-1)/p · n/β
double allgather_time(double bytes, int p, double alpha, double bw);   // (p-1)α + (p-1)/p · n/β
double alltoall_time(double bytes, int p, double alpha, double bw);    // (p-1)α + (p-1)/p · n/β

enum class schedule { gpipe, one_f_one_b, interleaved };
schedule parse_schedule(const std::string& s);
// Bubble time over ideal compute time: (p-1)/m, and (p-1)/(v·m) interleaved.
// ref: Narayanan et al. 2021 (Megatron-LM, SC'21), Sections 2.2.1-2.2.2
double bubble_fraction(schedule s, int p, int m, int v);

struct layout {
  int tp = 1, pp = 1, dp = 1, ep = 1, cp = 1;
  int micro_batch = 1;
  int virtual_stages = 1;  // v for the interleaved schedule
};

struct step_options {
  double global_batch = 512;  // sequences per optimizer step
  double seq = 4096;
  double efficiency = 0.6;    // achieved fraction of peak in matmuls
  schedule sched = schedule::one_f_one_b;
  bool recompute_full = false;  // adds one forward (8N instead of 6N hardware FLOPs)
  double dp_overlap = 0.0;      // fraction of the DP all-reduce hidden behind backward
  int zero_stage = 1;
  double mem_cap = 0;           // bytes per device; 0: the hardware's memory
};

struct step_estimate {
  layout lay;
  int devices = 0, microbatches = 0;
  double compute = 0, tp_comm = 0, cp_comm = 0, ep_comm = 0, pp_comm = 0, dp_comm = 0, bubble = 0;
  double step_time = 0, tokens_per_sec = 0, mfu = 0, memory = 0;
  bool fits = true;
  std::string why_not;  // when the layout is invalid
};

step_estimate estimate_step(const model_config& m, const hardware& hw, const layout& lay, const step_options& o);
// All valid layouts for `devices` (tp within a node, pp dividing the layers, ep dividing the
// experts and dp), fastest first, only those that fit in memory.
std::vector<step_estimate> search_layouts(const model_config& m, const hardware& hw, int devices, const step_options& o,
                                          int micro_batch);
// Chrome trace (Perfetto-readable) of one 1F1B or GPipe step: one track per pipeline stage.
std::string chrome_trace(const step_estimate& e, const step_options& o);
// The simulated makespan of the same schedule (seconds), used by the trace and the tests.
// on_op(stage, is_forward, micro_batch, start, duration) is called for every op scheduled.
using op_callback = std::function<void(int, bool, int, double, double)>;
double simulate_pipeline(int p, int m, double t_fwd, double t_bwd, double t_p2p, schedule s, const op_callback& on_op = {});

}  // namespace lmlab::plan
