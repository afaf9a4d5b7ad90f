// The training config: one TOML file with [model], [data] and [train] tables, overridable with
// `--set section.key=value`. Every key is declared once in a field table (config.cpp), which
// drives parsing, type checks, overrides and writing the resolved config back out, so an
// unknown key, a wrong type or an impossible value is an error naming the key and the file.
// Config names follow shared/STYLE.md (d_model, n_layers, n_heads, n_ctx, vocab_size);
// checkpoints carry the Hugging Face names (models/lm_config.hpp to_hf_json). The [model]
// keys come from the model's own field table (models::model_fields), nested rope_scaling
// included: [model.rope_scaling] or --set model.rope_scaling.factor=4.
// Not for: lab sweep specs (lab/), which expand into many of these.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "models/lm_config.hpp"

namespace lmlab::train {

struct data_config {
  std::string corpus = "brown";     // a corpus name from `lmlab data list`
  std::string tokenizer = "char";   // char | gpt2 | bpe:N | path to tokenizer.json
  std::int64_t val_every = 10;      // every val_every-th document is validation
  std::string prepared_dir;         // where tokens go; empty -> <cache>/prepared/<corpus>-<tokenizer>
};

// The one set of training defaults: `lmlab train` and every lab run (lab/run.cpp reads its
// defaults from here). AdamW with beta2 0.95 and weight decay 0.1 (GPT-3's, Brown et al. 2020,
// appendix B); the lab's specs that trained with its former beta2 0.98 say so in their file.
struct optim_config {
  std::int64_t batch_size = 16;
  std::int64_t seq_len = 0;          // 0 -> model.n_ctx
  std::int64_t steps = 1000;
  double lr = 1e-3, min_lr = -1;     // min_lr < 0 -> lr * 0.1
  std::int64_t warmup_steps = -1;    // < 0 -> min(100, steps / 10)
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;            // 0 disables
  std::int64_t eval_every = 200;     // 0: only at the end
  std::int64_t eval_batches = 20;
  std::int64_t checkpoint_every = 0; // 0: only at the end
  std::int64_t log_every = 10;       // plain progress lines (not a TTY)
  std::int64_t seed = 1337;
  std::int64_t threads = 0;          // 0: leave the BLAS/OpenMP default
  std::string out_dir = "runs/gpt";
  // Data parallel under mpirun (data_parallel.hpp): gradient bucket size, and whether a
  // bucket's all-reduce starts in backward (overlap) or after it.
  std::int64_t dp_bucket_kb = 256;
  bool dp_overlap = true;

  std::int64_t seq(const models::lm_config& m) const { return seq_len > 0 ? seq_len : m.n_ctx; }
  // The defaults that depend on other keys, resolved.
  double final_lr() const { return min_lr >= 0 ? min_lr : lr * 0.1; }
  std::int64_t warmup(std::int64_t total_steps) const {
    return warmup_steps >= 0 ? warmup_steps : std::min<std::int64_t>(100, total_steps / 10);
  }
};

struct train_config {
  models::lm_config model;  // keys: models/lm_config.hpp (the default is GPT-2)
  data_config data;
  optim_config train;
  // model.vocab_size may be 0 in the file: the tokenizer fills it in.
  void validate() const;
};

// Parses TOML text; `where` names the source in errors; `sets` are "section.key=value".
train_config parse_train_config(const std::string& toml_text, const std::string& where,
                                const std::vector<std::string>& sets = {});
train_config load_train_config(const std::filesystem::path& path, const std::vector<std::string>& sets = {});
// The resolved config as TOML (every key), parseable by parse_train_config.
std::string to_toml(const train_config& c);
// One line per key: "section.key (type, default D): doc" (for `lmlab train --help` and docs).
std::vector<std::string> describe_keys();
// A [train] key as declared in the field table, for the lab's spec schema (lab/spec.cpp), which
// shares the optimizer and schedule keys; throws when `key` is not a [train] key.
struct key_info {
  models::field_kind kind;
  std::string doc;
};
key_info train_key(const std::string& key);

}  // namespace lmlab::train
