// The training config's field table, parser, overrides and writer: see config.hpp.
#include "train/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "core/fs.hpp"

namespace lmlab::train {

namespace {

struct field {
  const char* section;
  const char* key;
  models::field_kind k;  // a [model] key keeps its kind from models/lm_config.hpp
  const char* doc;
  std::function<void*(train_config&)> ref;
};

#define LMLAB_FIELD(sec, member, key, k, doc) \
  field { sec, key, models::field_kind::k, doc, [](train_config& c) -> void* { return &c.member; } }

std::vector<field> with_model_fields(std::vector<field> rest) {
  std::vector<field> out;
  for (const auto& mf : models::model_fields()) {
    auto ref = mf.ref;
    out.push_back(field{"model", mf.key, mf.kind, mf.doc, [ref](train_config& c) { return ref(c.model); }});
  }
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

const std::vector<field>& fields() {
  static const std::vector<field> f = with_model_fields({
      LMLAB_FIELD("data", data.corpus, "corpus", string, "corpus name (lmlab data list)"),
      LMLAB_FIELD("data", data.tokenizer, "tokenizer", string, "char | gpt2 | bpe:N | path to tokenizer.json"),
      LMLAB_FIELD("data", data.val_every, "val_every", integer, "every val_every-th document is validation"),
      LMLAB_FIELD("data", data.prepared_dir, "prepared_dir", string, "token files folder; empty = cache"),
      LMLAB_FIELD("train", train.batch_size, "batch_size", integer, "sequences per step"),
      LMLAB_FIELD("train", train.seq_len, "seq_len", integer, "tokens per sequence; 0 = n_ctx"),
      LMLAB_FIELD("train", train.steps, "steps", integer, "optimizer steps"),
      LMLAB_FIELD("train", train.lr, "lr", number, "peak learning rate"),
      LMLAB_FIELD("train", train.min_lr, "min_lr", number, "learning rate at the end of the schedule; < 0 = lr * 0.1"),
      LMLAB_FIELD("train", train.warmup_steps, "warmup_steps", integer, "linear warmup steps; < 0 = min(100, steps / 10)"),
      LMLAB_FIELD("train", train.weight_decay, "weight_decay", number, "AdamW decoupled weight decay (matrices only)"),
      LMLAB_FIELD("train", train.beta1, "beta1", number, "AdamW beta1"),
      LMLAB_FIELD("train", train.beta2, "beta2", number, "AdamW beta2"),
      LMLAB_FIELD("train", train.eps, "eps", number, "AdamW epsilon"),
      LMLAB_FIELD("train", train.grad_clip, "grad_clip", number, "global gradient-norm clip; 0 = off"),
      LMLAB_FIELD("train", train.eval_every, "eval_every", integer, "validation every N steps; 0 = at the end"),
      LMLAB_FIELD("train", train.eval_batches, "eval_batches", integer, "validation batches per evaluation"),
      LMLAB_FIELD("train", train.checkpoint_every, "checkpoint_every", integer, "checkpoint every N steps; 0 = at the end"),
      LMLAB_FIELD("train", train.log_every, "log_every", integer, "progress line every N steps when not a TTY"),
      LMLAB_FIELD("train", train.seed, "seed", integer, "seed of initialisation, batches and dropout"),
      LMLAB_FIELD("train", train.threads, "threads", integer, "BLAS/OpenMP threads; 0 = default"),
      LMLAB_FIELD("train", train.out_dir, "out_dir", string, "run folder (checkpoint/, metrics.jsonl)"),
      LMLAB_FIELD("train", train.dp_bucket_kb, "dp_bucket_kb", integer, "mpirun data parallel: gradient bucket size in KiB"),
      LMLAB_FIELD("train", train.dp_overlap, "dp_overlap", boolean, "mpirun data parallel: all-reduce buckets during backward"),
  });
  return f;
}
#undef LMLAB_FIELD

std::string known_keys(const std::string& section) {
  std::string out;
  for (const auto& f : fields())
    if (section.empty() || section == f.section) out += (out.empty() ? "" : ", ") + std::string(f.section) + "." + f.key;
  return out;
}

const field* find_field(const std::string& section, const std::string& key) {
  for (const auto& f : fields())
    if (section == f.section && key == f.key) return &f;
  return nullptr;
}

std::string node_str(const toml::node& n) {
  std::ostringstream os;
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  n.visit([&](auto&& v) { os << v; });
  return os.str();
}

// Stores a TOML value into the field, checking its type; errors name where and the key.
void assign(train_config& c, const field& f, const toml::node& n, const std::string& where) {
  const std::string name = std::string(f.section) + "." + f.key;
  void* p = f.ref(c);
  auto bad = [&]() {
    return error(fmt::format("{}: {}: expected {}, got {}", where, name, models::field_kind_name(f.k), node_str(n)),
                 fmt::format("{}: {}", name, f.doc));
  };
  switch (f.k) {
    case models::field_kind::integer:
      if (!n.is_integer()) throw bad();
      *static_cast<std::int64_t*>(p) = n.as_integer()->get();
      break;
    case models::field_kind::number:
      if (n.is_integer()) *static_cast<double*>(p) = static_cast<double>(n.as_integer()->get());
      else if (n.is_floating_point()) *static_cast<double*>(p) = n.as_floating_point()->get();
      else throw bad();
      break;
    case models::field_kind::boolean:
      if (!n.is_boolean()) throw bad();
      *static_cast<bool*>(p) = n.as_boolean()->get();
      break;
    case models::field_kind::string:
      if (!n.is_string()) throw bad();
      *static_cast<std::string*>(p) = n.as_string()->get();
      break;
  }
}

void apply_table(train_config& c, const toml::table& root, const std::string& where) {
  for (auto&& [sec_key, sec_node] : root) {
    const std::string sec(sec_key.str());
    if (sec != "model" && sec != "data" && sec != "train")
      throw error(fmt::format("{}: unknown key '{}'", where, sec), "the tables are [model], [data] and [train]");
    const toml::table* t = sec_node.as_table();
    LMLAB_CHECK_HINT(t, fmt::format("write it as a table: [{}]", sec), "{}: {}: expected a table, got {}", where, sec,
                     node_str(sec_node));
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      if (const toml::table* sub = v.as_table(); sub && sec == "model") {
        // Nested tables of the model (rope_scaling): keys "rope_scaling.type", ...
        for (auto&& [k2, v2] : *sub) {
          const std::string key2 = key + "." + std::string(k2.str());
          const field* f = find_field(sec, key2);
          if (!f)
            throw error(fmt::format("{}: unknown key '{}.{}'", where, sec, key2), "known keys: " + known_keys(sec));
          assign(c, *f, v2, where);
        }
        continue;
      }
      const field* f = find_field(sec, key);
      if (!f) throw error(fmt::format("{}: unknown key '{}.{}'", where, sec, key), "known keys: " + known_keys(sec));
      assign(c, *f, v, where);
    }
  }
}

void apply_set(train_config& c, const std::string& set) {
  const auto eq = set.find('=');
  LMLAB_CHECK_HINT(eq != std::string::npos, "write --set section.key=value, e.g. --set train.lr=3e-4",
                   "--set '{}': expected section.key=value", set);
  const std::string path = set.substr(0, eq), value = set.substr(eq + 1);
  const auto dot = path.find('.');
  const field* f = dot == std::string::npos ? nullptr : find_field(path.substr(0, dot), path.substr(dot + 1));
  if (!f) throw error(fmt::format("--set: unknown key '{}'", path), "known keys: " + known_keys(""));
  // The value as TOML (3e-4, 12, true, "x"); anything that does not parse is a bare string.
  toml::table t;
  try {
    t = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    t = toml::table{{"v", value}};
  }
  if (f->k == models::field_kind::string && !t["v"].is_string()) t = toml::table{{"v", value}};
  assign(c, *f, *t.get("v"), "--set");
}

}  // namespace

void train_config::validate() const {
  models::lm_config m = model;
  LMLAB_CHECK(m.vocab_size >= 0, "model.vocab_size: must be >= 0 (0 = the tokenizer's), got {}", m.vocab_size);
  if (m.vocab_size == 0) m.vocab_size = 1;  // filled in from the tokenizer later
  m.validate("model.");
  const auto& t = train;
  LMLAB_CHECK(t.batch_size > 0, "train.batch_size: must be positive, got {}", t.batch_size);
  // One batch's ids are index arithmetic on B*T: bounded so that it cannot wrap.
  constexpr std::int64_t kMaxBatchTokens = (std::int64_t{1} << 31) - 1;
  LMLAB_CHECK_HINT(t.batch_size <= kMaxBatchTokens / std::max<std::int64_t>(t.seq(model), 1),
                   "lower train.batch_size or train.seq_len",
                   "train.batch_size: {} sequences of {} tokens is more than {} tokens per batch", t.batch_size,
                   t.seq(model), kMaxBatchTokens);
  LMLAB_CHECK(t.seq_len >= 0, "train.seq_len: must be >= 0, got {}", t.seq_len);
  LMLAB_CHECK_HINT(t.seq(model) <= model.n_ctx, "raise model.n_ctx or lower train.seq_len",
                   "train.seq_len: {} exceeds model.n_ctx = {}", t.seq_len, model.n_ctx);
  LMLAB_CHECK(t.steps > 0, "train.steps: must be positive, got {}", t.steps);
  LMLAB_CHECK(t.lr > 0, "train.lr: must be positive, got {}", t.lr);
  LMLAB_CHECK(t.min_lr <= t.lr, "train.min_lr: must be in [0, train.lr = {}] (or < 0 for lr * 0.1), got {}", t.lr,
              t.min_lr);
  LMLAB_CHECK(t.weight_decay >= 0, "train.weight_decay: must be >= 0, got {}", t.weight_decay);
  LMLAB_CHECK(t.beta1 >= 0 && t.beta1 < 1, "train.beta1: must be in [0, 1), got {}", t.beta1);
  LMLAB_CHECK(t.beta2 >= 0 && t.beta2 < 1, "train.beta2: must be in [0, 1), got {}", t.beta2);
  LMLAB_CHECK(t.eps > 0, "train.eps: must be positive, got {}", t.eps);
  LMLAB_CHECK(t.grad_clip >= 0, "train.grad_clip: must be >= 0 (0 = off), got {}", t.grad_clip);
  LMLAB_CHECK(t.eval_every >= 0, "train.eval_every: must be >= 0, got {}", t.eval_every);
  LMLAB_CHECK(t.eval_batches > 0, "train.eval_batches: must be positive, got {}", t.eval_batches);
  LMLAB_CHECK(t.checkpoint_every >= 0, "train.checkpoint_every: must be >= 0, got {}", t.checkpoint_every);
  LMLAB_CHECK(t.log_every > 0, "train.log_every: must be positive, got {}", t.log_every);
  LMLAB_CHECK(t.seed >= 0, "train.seed: must be >= 0, got {}", t.seed);
  LMLAB_CHECK(t.threads >= 0, "train.threads: must be >= 0, got {}", t.threads);
  LMLAB_CHECK(t.dp_bucket_kb >= 1, "train.dp_bucket_kb: must be >= 1, got {}", t.dp_bucket_kb);
  LMLAB_CHECK(!t.out_dir.empty(), "train.out_dir: must not be empty");
  LMLAB_CHECK(data.val_every >= 2, "data.val_every: must be >= 2, got {}", data.val_every);
  LMLAB_CHECK(!data.tokenizer.empty(), "data.tokenizer: must not be empty");
  LMLAB_CHECK(!data.corpus.empty(), "data.corpus: must not be empty");
}

train_config parse_train_config(const std::string& text, const std::string& where, const std::vector<std::string>& sets) {
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw error(fmt::format("{}:{}:{}: {}", where, e.source().begin.line, e.source().begin.column, e.description()));
  }
  train_config c;
  apply_table(c, root, where);
  for (const auto& s : sets) apply_set(c, s);
  try {
    c.validate();
  } catch (const error& e) {
    throw error(fmt::format("{}: {}", where, e.what()), e.hint());
  }
  return c;
}

train_config load_train_config(const std::filesystem::path& path, const std::vector<std::string>& sets) {
  return parse_train_config(read_text_file(path), path.string(), sets);
}

std::string to_toml(const train_config& c_in) {
  train_config c = c_in;
  toml::table root;
  for (const char* sec : {"model", "data", "train"}) {
    toml::table t;
    for (const auto& f : fields()) {
      if (std::string(f.section) != sec) continue;
      void* p = f.ref(c);
      std::string key = f.key;
      toml::table* dst = &t;
      if (const auto dot = key.find('.'); dot != std::string::npos) {  // nested (model.rope_scaling)
        const std::string outer = key.substr(0, dot);
        if (!t.contains(outer)) t.insert(outer, toml::table{});
        dst = t.get(outer)->as_table();
        key = key.substr(dot + 1);
      }
      switch (f.k) {
        case models::field_kind::integer: dst->insert(key, *static_cast<std::int64_t*>(p)); break;
        case models::field_kind::number: dst->insert(key, *static_cast<double*>(p)); break;
        case models::field_kind::boolean: dst->insert(key, *static_cast<bool*>(p)); break;
        case models::field_kind::string: dst->insert(key, *static_cast<std::string*>(p)); break;
      }
    }
    root.insert(sec, std::move(t));
  }
  std::ostringstream os;
  os << root << "\n";
  return os.str();
}

key_info train_key(const std::string& key) {
  const field* f = find_field("train", key);
  LMLAB_ASSERT(f != nullptr, "train_key: no [train] key named this");
  return {f->k, f->doc};
}

std::vector<std::string> describe_keys() {
  std::vector<std::string> out;
  train_config c;  // the defaults
  for (const auto& f : fields()) {
    const void* p = f.ref(c);
    std::string dflt;
    switch (f.k) {
      case models::field_kind::integer: dflt = std::to_string(*static_cast<const std::int64_t*>(p)); break;
      case models::field_kind::number: dflt = fmt::format("{}", *static_cast<const double*>(p)); break;
      case models::field_kind::boolean: dflt = *static_cast<const bool*>(p) ? "true" : "false"; break;
      case models::field_kind::string: dflt = fmt::format("\"{}\"", *static_cast<const std::string*>(p)); break;
    }
    out.push_back(fmt::format("{}.{} ({}, default {}): {}", f.section, f.key, models::field_kind_name(f.k), dflt, f.doc));
  }
  return out;
}

}  // namespace lmlab::train
