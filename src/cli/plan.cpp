// `lmlab plan <verb>`: the planner's command line. Each sub-verb maps its flags (numeric ones
// in the sweep grammar) onto an args struct of plan/tables.hpp and prints the table with -o.
// Not for: any formula (src/plan/ holds those, with their citations).
#include <iostream>
#include <string>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/table.hpp"
#include "plan/tables.hpp"

namespace {

using lmlab::plan::chinchilla_args;
using lmlab::plan::memory_args;
using lmlab::plan::specdec_args;
using namespace lmlab::plan;

// Adds a sub-verb with -o and a footer example; `run` builds the table.
template <class Args, class Run>
CLI::App* add_verb(CLI::App& plan, const char* name, const char* desc, const char* example,
                   std::shared_ptr<Args> args, std::shared_ptr<std::string> out, Run run) {
  CLI::App* s = plan.add_subcommand(name, desc);
  s->footer(lmlab::cli::examples({example}));
  lmlab::cli::add_table_format(*s, *out, "output format: text|md|csv|json|jsonl");
  s->callback([args, out, run] {
    const auto fmt = lmlab::parse_table_format(*out);
    run(*args).print(std::cout, fmt);
  });
  return s;
}

// inference and tco: the target loss, given directly or as the loss of a model.
template <class Args>
void add_target_loss_options(CLI::App& s, Args& a) {
  s.add_option("--fit", a.fit, "hoffmann | epoch")->capture_default_str();
  s.add_option("--loss", a.loss, "target loss");
  s.add_option("--compute", a.compute, "target = Chinchilla-optimal loss at this budget");
  s.add_option("--params", a.params, "target = loss of this model (with --tokens)");
  s.add_option("--tokens", a.tokens, "training tokens of that model");
}

void add_chinchilla_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<chinchilla_args>();
  auto* s = add_verb(plan, "chinchilla", "Compute-optimal N and D for a FLOP budget (Hoffmann et al. 2022)",
                     "lmlab plan chinchilla --compute 1e21-1e25*10 --fit hoffmann,epoch -o md", a, out,
                     lmlab::plan::chinchilla_table);
  s->add_option("--compute,-C", a->compute, "training FLOPs (sweep)");
  s->add_option("--params,-N", a->params, "parameter count (sweep): the D that makes it compute-optimal");
  s->add_option("--fit", a->fits, "comma list: hoffmann, epoch, approach1, approach2, custom")->capture_default_str();
  s->add_option("--E", a->E, "custom fit: irreducible loss E");
  s->add_option("--A", a->A, "custom fit: A");
  s->add_option("--B", a->B, "custom fit: B");
  s->add_option("--alpha", a->alpha, "custom fit: alpha");
  s->add_option("--beta", a->beta, "custom fit: beta");
  s->add_option("--check-rule", a->check_rule, "a rule of thumb to test, e.g. 'N = C^0.49 / 1.7, D = C^0.51 * 7.7'");
}

void add_specdec_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<specdec_args>();
  auto* s = add_verb(plan, "specdec", "Speculative decoding: expected tokens, speedup, optimal draft length",
                     "lmlab plan specdec --alpha 0.6-0.9+0.1 --c 0.05,0.1 --gamma 1-8+1", a, out,
                     lmlab::plan::specdec_table);
  s->add_option("--alpha", a->alpha, "acceptance rate in [0,1] (sweep)")->capture_default_str();
  s->add_option("--gamma", a->gamma, "draft tokens per step (sweep); default: the optimal one");
  s->add_option("--c", a->c, "draft/target walltime per token (sweep)")->capture_default_str();
  s->add_option("--c-hat", a->c_hat, "draft/target arithmetic per token for ops_factor (sweep; default c)");
  s->add_option("--accept-log", a->accept_log, "file of accepted draft lengths per step (estimates alpha)");
  s->add_option("--max-gamma", a->max_gamma, "largest gamma searched")->capture_default_str();
}

void add_memory_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<memory_args>();
  auto* s = add_verb(plan, "memory", "Weights, KV cache and state (inference) or training memory",
                     "lmlab plan memory --model llama-3-70b,mixtral-8x7b --context 8k,32k,128k --batch 1,8", a, out,
                     lmlab::plan::memory_table);
  s->add_option("--model,-m", a->model, "catalog names (comma list) or a config.json path")->capture_default_str();
  s->add_option("--config", a->model, "a Hugging Face config.json (same as --model PATH)");
  s->add_option("--pattern", a->pattern, "per-layer pattern, e.g. MMMA (A attn, S sliding, L MLA, M mamba, R rwkv, "
                                         "G rg-lru; lower case = MoE)");
  s->add_option("--mode", a->mode, "inference | training")->capture_default_str();
  s->add_option("--context,--seq", a->context, "tokens per sequence (sweep; k = 1024)")->capture_default_str();
  s->add_option("--batch", a->batch, "sequences (inference) or micro-batch (training) (sweep)")->capture_default_str();
  s->add_option("--weight-dtype", a->weight_dtype, "fp32|bf16|fp8|int4")->capture_default_str();
  s->add_option("--kv-dtype", a->kv_dtype, "KV cache dtype")->capture_default_str();
  s->add_option("--state-dtype", a->state_dtype, "recurrent state dtype")->capture_default_str();
  s->add_option("--tp", a->tp, "tensor parallel degree (sweep)")->capture_default_str();
  s->add_option("--ep", a->ep, "expert parallel degree (sweep)")->capture_default_str();
  s->add_option("--pp", a->pp, "pipeline parallel degree (training; sweep)")->capture_default_str();
  s->add_option("--dp", a->dp, "data parallel degree (training; sweep)")->capture_default_str();
  s->add_option("--zero", a->zero, "ZeRO stage 0-3 (training; sweep)")->capture_default_str();
  s->add_option("--recompute", a->recompute, "none | selective | full (training)")->capture_default_str();
  s->add_flag("--list", a->list, "list the model catalog");
}

void add_vlm_tokens_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<vlm_args>();
  auto* s = add_verb(plan, "vlm-tokens", "Image/video -> LLM tokens for LLaVA-1.6, InternVL, Qwen2-VL, plain ViT",
                     "lmlab plan vlm-tokens --image 1920x1080,672x672 --scheme llava-1.6,internvl,qwen2-vl", a, out,
                     vlm_tokens_table);
  s->add_option("--image", a->images, "comma list of WIDTHxHEIGHT")->capture_default_str();
  s->add_option("--scheme", a->schemes, "comma list: llava-1.6, internvl, qwen2-vl, vit")->capture_default_str();
  s->add_option("--patch", a->patch, "vit: patch size (sweep)")->capture_default_str();
  s->add_option("--shuffle", a->shuffle, "vit: pixel-shuffle ratio, 0.5 = 4x fewer tokens (sweep)")->capture_default_str();
  s->add_flag("--cls", a->cls, "vit: add a CLS token");
  s->add_option("--max-tiles", a->max_tiles, "internvl: max_num (sweep)")->capture_default_str();
  s->add_option("--min-tiles", a->min_tiles, "internvl: min_num")->capture_default_str();
  s->add_flag("--no-thumbnail", a->no_thumbnail, "internvl: no thumbnail tile");
  s->add_option("--min-pixels", a->min_pixels, "qwen2-vl: min_pixels (sweep)")->capture_default_str();
  s->add_option("--max-pixels", a->max_pixels, "qwen2-vl: max_pixels (sweep)")->capture_default_str();
  s->add_option("--frames", a->frames, "video frames (sweep)")->capture_default_str();
  s->add_option("--temporal-merge", a->temporal_merge, "frames merged per group (non-qwen schemes)")->capture_default_str();
  s->add_flag("--positions", a->positions, "qwen2-vl: print the M-RoPE (t,h,w) ids of the first image");
  s->add_option("--text-before", a->text_before, "qwen2-vl --positions: text tokens before the image")->capture_default_str();
}

void add_mfu_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<mfu_args>();
  auto* s = add_verb(plan, "mfu", "Model FLOPs utilisation from measured throughput (PaLM appendix B)",
                     "lmlab plan mfu --model llama-3-8b --tokens-per-sec 3000,4000 --devices 8 --hardware h100", a, out,
                     mfu_table);
  s->add_option("--model,-m", a->model, "catalog name or config.json");
  s->add_option("--params", a->params, "parameters (without --model)");
  s->add_option("--layers", a->layers, "attention layers (without --model)");
  s->add_option("--d-attn", a->d_attn, "heads x head_dim (without --model)");
  s->add_option("--seq", a->seq, "sequence length (sweep)")->capture_default_str();
  s->add_option("--tokens-per-sec", a->tokens_per_sec, "measured training tokens/s over all devices (sweep)");
  s->add_option("--devices", a->devices, "devices (sweep)")->capture_default_str();
  s->add_option("--hardware", a->hardware, "h100, h200, a100, b200, mi300x, tpu-v5p, this-cpu")->capture_default_str();
}

void add_parallel_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<parallel_args>();
  auto* s = add_verb(plan, "parallel", "Training step time for a TP/PP/DP/EP/CP layout, or the best layouts",
                     "lmlab plan parallel --model llama-3-70b --hardware h100 --devices 64 --trace step.json", a, out,
                     parallel_table);
  s->add_option("--model,-m", a->model, "catalog name or config.json")->capture_default_str();
  s->add_option("--hardware", a->hardware, "accelerator")->capture_default_str();
  s->add_option("--devices", a->devices, "devices (sweep)")->capture_default_str();
  s->add_option("--tp", a->tp, "tensor parallel (sweep; none of tp/pp/dp = search)");
  s->add_option("--pp", a->pp, "pipeline parallel (sweep)");
  s->add_option("--dp", a->dp, "data parallel (default devices/(tp·pp·cp))");
  s->add_option("--ep", a->ep, "expert parallel (sweep)")->capture_default_str();
  s->add_option("--cp", a->cp, "context parallel (sweep)")->capture_default_str();
  s->add_option("--micro-batch", a->micro_batch, "sequences per micro-batch (sweep)")->capture_default_str();
  s->add_option("--virtual-stages", a->virtual_stages, "interleaved schedule: model chunks per stage (sweep)")->capture_default_str();
  s->add_option("--global-batch", a->global_batch, "sequences per step")->capture_default_str();
  s->add_option("--seq", a->seq, "sequence length")->capture_default_str();
  s->add_option("--efficiency", a->efficiency, "fraction of peak reached by matmuls")->capture_default_str();
  s->add_option("--dp-overlap", a->dp_overlap, "fraction of the DP all-reduce hidden by backward")->capture_default_str();
  s->add_option("--zero", a->zero, "ZeRO stage 0-3")->capture_default_str();
  s->add_option("--mem-cap", a->mem_cap, "GiB per device (default: the hardware's memory)");
  s->add_option("--schedule", a->schedule, "gpipe | 1f1b | interleaved")->capture_default_str();
  s->add_flag("--recompute-full", a->recompute_full, "full activation recomputation");
  s->add_option("--top", a->top, "layouts shown by the search")->capture_default_str();
  s->add_option("--trace", a->trace, "write a Chrome-trace JSON (Perfetto) of the first row's step");
}

void add_inference_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<inference_args>();
  auto* s = add_verb(plan, "inference", "Compute-optimal size counting lifetime inference (Sardana & Frankle)",
                     "lmlab plan inference --params 7e9 --tokens 2e12 --inference-tokens 0,1e12,1e13", a, out,
                     inference_table);
  add_target_loss_options(*s, *a);
  s->add_option("--inference-tokens", a->inference_tokens, "lifetime inference tokens (sweep)")->capture_default_str();
}

void add_tco_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<tco_args>();
  auto* s = add_verb(plan, "tco", "Training + serving cost in accelerator-hours and dollars",
                     "lmlab plan tco --compute 1e23 --requests-per-day 1e6,1e8 --tokens-per-request 1000 --days 365", a,
                     out, tco_table);
  add_target_loss_options(*s, *a);
  s->add_option("--requests-per-day", a->requests_per_day, "(sweep)")->capture_default_str();
  s->add_option("--tokens-per-request", a->tokens_per_request, "(sweep)")->capture_default_str();
  s->add_option("--days", a->days, "deployment days (sweep)")->capture_default_str();
  s->add_option("--hardware", a->hardware, "accelerator (peak and price)")->capture_default_str();
  s->add_option("--price", a->price, "USD per accelerator-hour (default: catalog)");
  s->add_option("--mfu", a->mfu, "training MFU (sweep)")->capture_default_str();
  s->add_option("--utilization", a->utilization, "serving FLOP utilisation (sweep)")->capture_default_str();
}

void add_fit_verb(CLI::App& plan, const std::shared_ptr<std::string>& out) {
  auto a = std::make_shared<fit_args>();
  auto* s = add_verb(plan, "fit", "Fit L(N,D) = E + A/N^alpha + B/D^beta to runs (Huber on log loss, L-BFGS)",
                     "lmlab plan fit --csv runs.csv --bootstrap 200\n  lmlab plan fit --store lmlab.db --experiment scaling_brown", a, out, fit_table);
  s->add_option("--csv", a->csv, "CSV with columns N,D,loss");
  s->add_option("--store", a->store, "instead of --csv: the lab's results store (with --experiment)");
  s->add_option("--experiment", a->experiment, "with --store: the experiment whose finished runs are fitted (N = n_params, D = train_tokens)");
  s->add_option("--loss", a->loss, "with --store: tail_mean (mean train_loss over the last --tail of steps) or a run metric")
      ->capture_default_str();
  s->add_option("--tail", a->tail, "with --store: share of steps averaged by tail_mean")->capture_default_str();
  s->add_option("--bootstrap", a->bootstrap, "bootstrap resamples")->capture_default_str();
  s->add_option("--delta", a->delta, "Huber delta")->capture_default_str();
  s->add_option("--seed", a->seed, "bootstrap seed")->capture_default_str();
  s->add_flag("--coarse", a->coarse, "small init grid (108 starts instead of 4500)");
}

void add_plan(CLI::App& app) {
  CLI::App* plan = lmlab::cli::add_verb_group(
      app, "plan",
      "Planner: scaling laws, inference cost, memory/KV, MFU and parallelism, speculative decoding, VLM image tokens",
      "Numeric flags marked (sweep) take a sweep (1e21-1e25*10, 1,2,4,8, 64-256+64) and print one row per point;\n"
      "the others take one value.\n" +
          lmlab::cli::examples({"lmlab plan chinchilla --compute 1e19-1e25*10",
                                "lmlab plan chinchilla --check-rule 'N_opt = C^0.49 / 1.7, D_opt = C^0.51 * 7.7'",
                                "lmlab plan memory --model llama-3-8b,deepseek-v3 --context 8k,128k",
                                "lmlab plan vlm-tokens --image 1920x1080 --scheme qwen2-vl"}));
  auto out = std::make_shared<std::string>("text");

  add_chinchilla_verb(*plan, out);
  add_specdec_verb(*plan, out);
  add_memory_verb(*plan, out);
  add_vlm_tokens_verb(*plan, out);
  add_mfu_verb(*plan, out);
  add_parallel_verb(*plan, out);
  add_inference_verb(*plan, out);
  add_tco_verb(*plan, out);
  add_fit_verb(*plan, out);
}

LMLAB_COMMAND("plan", 30, add_plan);

}  // namespace
