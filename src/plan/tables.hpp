// One function per `lmlab plan` verb: takes the verb's flags as text (every numeric flag in the
// sweep grammar), runs the calculator once per point of the sweep product, and returns the table
// the CLI prints. Kept here, not in src/cli/, so that tests can check whole verbs.
// Not for: the formulas themselves (chinchilla.hpp, specdec.hpp, memory.hpp, ...).
#pragma once

#include <string>

#include "core/table.hpp"

namespace lmlab::plan {

struct chinchilla_args {
  std::string compute;     // sweep of FLOP budgets
  std::string params;      // or: sweep of parameter counts (optimal D for that N)
  std::string fits = "hoffmann,epoch,approach1,approach2";
  std::string E, A, B, alpha, beta;  // constants of a 'custom' fit (sweeps)
  std::string check_rule;  // a quoted rule of thumb
};
table chinchilla_table(const chinchilla_args& a);

struct specdec_args {
  std::string alpha = "0.6,0.7,0.8,0.9";
  std::string gamma;  // empty: report the optimal gamma
  std::string c = "0.05";
  std::string c_hat;  // draft/target arithmetic ratio for the ops factor (default: c)
  std::string accept_log;  // file of accepted draft lengths; needs gamma
  std::string max_gamma = "64";
};
table specdec_table(const specdec_args& a);

struct memory_args {
  std::string model = "llama-3-8b";  // catalog name(s, comma-separated) or config.json path
  std::string pattern;               // layer pattern override
  std::string mode = "inference";    // inference | training
  std::string context = "8192", batch = "1";
  std::string weight_dtype = "bf16", kv_dtype = "bf16", state_dtype = "fp32";
  std::string tp = "1", ep = "1", pp = "1", dp = "1", zero = "0";
  std::string recompute = "selective";
  bool list = false;
};
table memory_table(const memory_args& a);

struct vlm_args {
  std::string images = "1920x1080";  // comma list of WxH
  std::string schemes = "llava-1.6,internvl,qwen2-vl,vit";
  std::string patch = "14", tile, max_tiles = "12", min_tiles = "1", shuffle = "1";
  std::string min_pixels = "3136", max_pixels = "12845056";
  std::string frames = "1", temporal_merge = "1";
  bool cls = false, no_thumbnail = false;
  bool positions = false;  // qwen2-vl: print M-RoPE ids instead of counts
  std::string text_before = "0";
};
table vlm_tokens_table(const vlm_args& a);

struct mfu_args {
  std::string model;  // catalog name or config.json; or params/layers/hidden
  std::string params, layers, d_attn;
  std::string seq = "4096", tokens_per_sec, devices = "1", hardware = "h100";
};
table mfu_table(const mfu_args& a);

struct parallel_args {
  std::string model = "llama-3-70b", hardware = "h100";
  std::string devices = "64", tp, pp, dp, ep = "1", cp = "1", micro_batch = "1", virtual_stages = "1";
  std::string global_batch = "512", seq = "4096", efficiency = "0.6", dp_overlap = "0", zero = "1", mem_cap;
  std::string schedule = "1f1b";
  bool recompute_full = false;
  std::string top = "10";
  std::string trace;  // write a Chrome trace of the first row here
};
table parallel_table(const parallel_args& a);

struct inference_args {
  std::string fit = "hoffmann";
  std::string loss, compute, params, tokens;  // the target loss, directly or via a model
  std::string inference_tokens = "0,1e11,1e12,1e13";
};
table inference_table(const inference_args& a);

struct tco_args {
  std::string fit = "hoffmann";
  std::string loss, compute, params, tokens;
  std::string requests_per_day = "1e6", tokens_per_request = "1000", days = "365";
  std::string hardware = "h100", price, mfu = "0.4", utilization = "0.2";
};
table tco_table(const tco_args& a);

struct fit_args {
  std::string csv;
  std::string store, experiment;   // instead of csv: the lab's finished runs (fit_store.hpp)
  std::string loss = "tail_mean";  // with store: tail_mean or a run metric
  std::string tail = "0.1";
  std::string bootstrap = "200", delta = "1e-3", seed = "1";
  bool coarse = false;
};
struct fit_result;  // plan/fit.hpp
table fit_table(const fit_args& a);
// The fitted constants with their bootstrap CIs beside Chinchilla's (Hoffmann et al. 2022,
// eq. (10)), then the Huber objective and the counts: `plan fit`'s table, also the report's.
table fit_constants_table(const fit_result& r, std::size_t runs);

}  // namespace lmlab::plan
