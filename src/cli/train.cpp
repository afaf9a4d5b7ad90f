// `lmlab train`, `lmlab sample` and `lmlab eval`: train any zoo model (models/lm_config.hpp:
// GPT by default; pattern, pos_encoding, ffn, MoE, MoD keys) from a TOML config, sample from
// a checkpoint, and measure a checkpoint's loss, perplexity and bits per character.
//   lmlab train --config configs/gpt-brown.toml [--set train.steps=500]... [--resume]
//   mpirun -np 2 lmlab train --config ...        (data parallel: train/data_parallel.hpp)
//   lmlab sample runs/gpt-brown/checkpoint --prompt "The " --temperature 0.8 --top-k 40 --seed 1
//   lmlab eval runs/gpt-brown/checkpoint [--split val|train] [--max-batches N]
//   lmlab eval model.gguf --text story.txt      (any model path: train/import.hpp)
// The file is named after the train layer so LMLAB_LAYERS_ONLY builds keep it with it.
// Not for: the logic (src/train/, src/models/).
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/table.hpp"
#include "core/fs.hpp"
#include "data/spm_bpe.hpp"
#include "data/tokenizer.hpp"
#include "models/sample.hpp"
#include "ops/gemm.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"
#include "train/data_parallel.hpp"
#include "train/import.hpp"
#include "train/trainer.hpp"

namespace {
namespace tr = lmlab::train;

std::string keys_footer() {
  std::string s = "Config keys (TOML tables [model], [data], [train]; override with --set section.key=value):\n";
  for (const auto& k : tr::describe_keys()) s += "  " + k + "\n";
  return s;
}

struct train_opts {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
};

// `lmlab train`, in one process or as one rank of `mpirun -np P lmlab train` (data parallel:
// rank 0 prepares the data, prints and writes the checkpoint; every rank trains).
void train_command(const train_opts& o, tr::data_parallel& dp) {
  const bool lead = dp.rank() == 0;
  std::FILE* log = lead ? stderr : nullptr;
  tr::train_config cfg = tr::load_train_config(o.config, o.sets);
  std::optional<tr::prepared_data> prepared;
  if (lead) prepared = tr::open_prepared_data(cfg.data, log);
  dp.barrier();  // the others open what rank 0 prepared
  if (!lead) prepared = tr::open_prepared_data(cfg.data, log);
  tr::prepared_data& pd = *prepared;
  const std::int64_t tv = pd.tokenizer->vocab_size();
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = tv;
  LMLAB_CHECK_HINT(cfg.model.vocab_size >= tv, "set model.vocab_size = 0 to use the tokenizer's",
                   "{}: model.vocab_size = {} is smaller than the tokenizer's {}", o.config, cfg.model.vocab_size, tv);
  if (lead) std::fprintf(stderr, "data: %s (%zu train / %zu val tokens, vocab %lld, tokenizer %s)\n", pd.dir.c_str(),
               pd.train.size(), pd.val.size(), static_cast<long long>(tv), cfg.data.tokenizer.c_str());
  const lmlab::models::lm_config& mc = cfg.model;
  const std::int64_t n_params = lmlab::models::lm(mc, 0).num_parameters();
  if (lead) std::fprintf(stderr, "model: pattern %s, pos %s, ffn %s, d_model %lld, %lld layers, %lld heads, n_ctx %lld, %lld parameters; %d threads (%s)\n",
               mc.pattern.c_str(), mc.pos_encoding.c_str(), mc.ffn.c_str(),
               static_cast<long long>(mc.d_model), static_cast<long long>(mc.n_layers), static_cast<long long>(mc.n_heads),
               static_cast<long long>(mc.n_ctx), static_cast<long long>(n_params),
               cfg.train.threads > 0 ? static_cast<int>(cfg.train.threads) : lmlab::num_threads(), lmlab::blas_name());
  tr::token_source src{pd.train, pd.val, pd.tokenizer->to_json()};
  tr::run_options ro;
  ro.resume = o.resume;
  if (dp.size() > 1) {
    ro.dp = &dp;
    ro.progress = log;
    ro.write_files = lead;
  }
  auto sum = tr::run_training(cfg, src, ro);
  if (!lead) return;
  std::printf("steps %lld-%lld | final val loss %.4f | %.0f tok/s | MFU %.1f%% | %.1f s\n",
              static_cast<long long>(sum.start_step), static_cast<long long>(sum.end_step), sum.final_val_loss,
              sum.tokens_per_s, 100 * sum.mfu, sum.seconds);
  if (sum.dp_ranks > 1)
    std::printf("data parallel: %d ranks, %d buckets of %zu bytes in all | per step: compute %.1f ms, all-reduce %.1f ms, "
                "exposed %.1f ms\n", sum.dp_ranks, sum.dp_mean.buckets, sum.dp_mean.bytes, 1e3 * sum.dp_mean.compute_s,
                1e3 * sum.dp_mean.comm_s, 1e3 * sum.dp_mean.exposed_s);
  std::printf("checkpoint: %s/checkpoint\n", cfg.train.out_dir.c_str());
}

void add_train(CLI::App& app) {
  auto* s = app.add_subcommand("train", "Train a model (GPT or any zoo architecture) on a corpus from a TOML config");
  auto o = std::make_shared<train_opts>();
  s->add_option("--config", o->config, "TOML config (e.g. configs/gpt-brown.toml)")->required();
  s->add_option("--set", o->sets, "override a key: --set train.lr=3e-4 (repeatable)");
  s->add_flag("--resume", o->resume, "continue from <out_dir>/checkpoint, bit-identically");
  s->footer("Example:\n  lmlab train --config configs/gpt-brown.toml --set train.steps=200\n\n" + keys_footer());
  s->callback([o] {
    tr::data_parallel& dp = tr::data_parallel::world();
    if (dp.size() == 1) return train_command(*o, dp);
    try {
      train_command(*o, dp);
    } catch (const lmlab::error& e) {
      // One rank's error ends them all, naming the rank (the others wait in an all-reduce).
      std::fprintf(stderr, "error: rank %d of %d: %s\n", dp.rank(), dp.size(), e.what());
      if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
      dp.abort(1);
    }
  });
}

std::unique_ptr<lmlab::data::tokenizer> tokenizer_of(const tr::loaded_checkpoint& ck) {
  LMLAB_CHECK_HINT(ck.tokenizer.has_value(),
                   "checkpoints written by `lmlab train`, GGUF files and Hugging Face folders with tokenizer.json carry a tokenizer",
                   "{}: no tokenizer.json in the checkpoint", ck.dir.string());
  return lmlab::data::tokenizer_from_json(*ck.tokenizer, (ck.dir / "tokenizer.json").string());
}

void add_sample(CLI::App& app) {
  auto* s = app.add_subcommand("sample", "Generate text from a checkpoint, a GGUF file or a Hugging Face folder");
  struct opts {
    std::string ckpt, prompt = "\n";
    lmlab::models::sample_options so;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt, "checkpoint folder (runs/<name>/checkpoint), .gguf file or Hugging Face folder");
  s->add_option("--prompt", o->prompt, "text to continue")->capture_default_str();
  s->add_option("--temperature", o->so.temperature, "softmax temperature; 0 = greedy")->capture_default_str();
  s->add_option("--top-k", o->so.top_k, "keep the k most likely tokens; 0 = off")->capture_default_str();
  s->add_option("--top-p", o->so.top_p, "nucleus: keep the smallest set with this mass; 1 = off")->capture_default_str();
  s->add_option("--seed", o->so.seed, "sampling seed")->capture_default_str();
  s->add_option("--max-new-tokens", o->so.max_new_tokens, "tokens to generate")->capture_default_str();
  s->footer("Examples:\n  lmlab sample runs/gpt-brown/checkpoint --prompt 'The jury said' --temperature 0.8 --top-k 40\n"
            "  lmlab sample ../shared/models/stories260K.gguf --prompt '' --temperature 0 --max-new-tokens 256");
  s->callback([o] {
    auto ck = tr::load_model_any(o->ckpt);
    auto tok = tokenizer_of(ck);
    auto ids = lmlab::data::encode_for_generation(*tok, o->prompt);
    LMLAB_CHECK_HINT(!ids.empty(), "give a non-empty --prompt (this tokenizer adds no BOS)", "sample: the prompt encodes to no tokens");
    // The text printed is the decoding of all ids so far (prompt included), so tokenizers
    // whose pieces depend on their neighbours (SentencePiece's dummy prefix) print right.
    std::size_t printed = 0;
    const auto flush = [&] {
      const std::string text = tok->decode(ids);
      if (text.size() > printed) std::cout << text.substr(printed) << std::flush;
      printed = std::max(printed, text.size());
    };
    flush();
    lmlab::models::generate(*ck.model, ids, o->so, [&](std::int32_t id) {
      ids.push_back(id);
      flush();
      return true;
    });
    std::cout << "\n";
  });
}

void add_eval(CLI::App& app) {
  auto* s = app.add_subcommand("eval", "Loss, perplexity and bits per character of a model on a data split or a text file");
  struct opts {
    std::string ckpt, split = "val", out = "text", rope_scaling, text;
    std::int64_t max_batches = 0, batch_size = 0, seq_len = 0;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--split", o->split, "val or train")->capture_default_str();
  s->add_option("--text", o->text, "evaluate on this UTF-8 text file (BOS first where the tokenizer adds one) instead of a split");
  s->add_option("--max-batches", o->max_batches, "evaluate only the first N batches; 0 = the whole split")->capture_default_str();
  s->add_option("--batch-size", o->batch_size, "rows per batch; 0 = train.batch_size")->capture_default_str();
  lmlab::cli::add_table_format(*s, o->out);
  s->add_option("--seq-len", o->seq_len, "evaluation context; 0 = train.seq_len (longer: length extrapolation)")
      ->capture_default_str();
  s->add_option("--rope-scaling", o->rope_scaling,
                "RoPE scaling at evaluation, no retraining: TYPE:FACTOR[:ORIGINAL] with TYPE linear|ntk|dynamic|yarn|llama3, "
                "e.g. yarn:4 (ORIGINAL defaults to n_ctx)");
  s->footer("Examples:\n  lmlab eval runs/rope/checkpoint --seq-len 512 --rope-scaling yarn:4\n"
            "  lmlab eval ../shared/models/stories260K.gguf --text story.txt --seq-len 256");
  s->callback([o] {
    const auto fmt_out = lmlab::parse_table_format(o->out);
    if (o->split != "val" && o->split != "train")
      throw lmlab::usage_error(fmt::format("--split {}: expected val or train", o->split));
    auto ck = tr::load_model_any(o->ckpt);
    auto tok = tokenizer_of(ck);
    std::vector<std::int32_t> text_ids;
    std::optional<tr::prepared_data> pd;
    std::int64_t B = o->batch_size, T = o->seq_len;
    if (!o->text.empty()) {
      text_ids = lmlab::data::encode_for_generation(*tok, lmlab::read_text_file(o->text));
      const auto n = static_cast<std::int64_t>(text_ids.size());
      LMLAB_CHECK_HINT(n >= 2, "use a longer text", "eval: {} encodes to {} tokens; at least 2 are needed", o->text, n);
      if (B <= 0) B = 1;
      if (T <= 0) T = std::min(ck.model->n_ctx(), n - 1);
    } else {
      LMLAB_CHECK_HINT(ck.trainer_state.contains("config"), "pass --text FILE to evaluate on a text file",
                       "{}: no training config (trainer_state.json); cannot tell which data split to use", o->ckpt);
      auto cfg = tr::parse_train_config(ck.trainer_state["config"].get<std::string>(), o->ckpt + "/trainer_state.json");
      pd = tr::open_prepared_data(cfg.data);
      if (B <= 0) B = cfg.train.batch_size;
      if (T <= 0) T = cfg.train.seq(cfg.model);
    }
    if (!o->rope_scaling.empty()) {
      lmlab::models::rope_scaling_config rs;
      std::vector<std::string> parts;
      for (std::size_t a = 0, b; a <= o->rope_scaling.size(); a = b + 1) {
        b = o->rope_scaling.find(':', a);
        if (b == std::string::npos) b = o->rope_scaling.size();
        parts.push_back(o->rope_scaling.substr(a, b - a));
      }
      if (parts.size() < 2 || parts.size() > 3)
        throw lmlab::usage_error(fmt::format("--rope-scaling {}: expected TYPE:FACTOR[:ORIGINAL], e.g. yarn:4", o->rope_scaling));
      rs.type = parts[0];
      try {
        rs.factor = std::stod(parts[1]);
        if (parts.size() == 3) rs.original_max_position_embeddings = std::stoll(parts[2]);
      } catch (const std::exception&) {
        throw lmlab::usage_error(fmt::format("--rope-scaling {}: FACTOR and ORIGINAL must be numbers", o->rope_scaling));
      }
      ck.model->set_rope_scaling(rs);
    }
    const lmlab::data::token_view view = !o->text.empty() ? lmlab::data::token_view(text_ids)
                                         : o->split == "val"  ? lmlab::data::token_view(pd->val)
                                                              : lmlab::data::token_view(pd->train);
    auto r = tr::evaluate_split(*ck.model, view, tok.get(), B, T, o->max_batches);
    lmlab::table t({"checkpoint", "split", "seq_len", "tokens", "chars", "loss", "perplexity", "bits_per_char"});
    t.add_row({o->ckpt, o->text.empty() ? o->split : o->text, T, r.tokens, r.chars, lmlab::cell(r.loss, fmt::format("{:.4f}", r.loss)),
               lmlab::cell(r.perplexity, fmt::format("{:.3f}", r.perplexity)),
               lmlab::cell(r.bits_per_char, fmt::format("{:.4f}", r.bits_per_char))});
    t.print(std::cout, fmt_out);
  });
}

LMLAB_COMMAND("train", 10, add_train);
LMLAB_COMMAND("sample", 11, add_sample);
LMLAB_COMMAND("eval", 12, add_eval);

}  // namespace
