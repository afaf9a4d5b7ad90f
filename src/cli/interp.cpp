// `lmlab interp`: the interpretability lab on any checkpoint the CLI loads (every mixer).
//   lmlab interp cache CKPT --input ids.txt --hooks 'blocks.*.hook_resid_post' --out acts.safetensors
//   lmlab interp heads CKPT [-o md|csv|json]
//   lmlab interp patch CKPT --ids --clean '1 2 3 4' --corrupt '1 2 9 4' --answer 5 --wrong 6 [--heads | --path-to logits [--senders all]]
//   lmlab interp probe CKPT --hook blocks.1.hook_resid_post --examples labels.tsv [--save-direction d.safetensors]
//   lmlab interp steer CKPT --hook blocks.1.hook_resid_post --direction d.safetensors --ids --text '1 2 3' ...
//   lmlab interp logit-lens CKPT --ids --text '1 2 3' [--answer 4];  lmlab interp attn CKPT --layer 0 --head 1 ...
//   lmlab interp tms --n 5 --m 2 --sparsity 0.9 --importance 0.9^
//   lmlab interp sae CKPT --hook blocks.1.hook_resid_pre --task recall --n 256 [--kind topk --k 4] [--out sae.safetensors]
// Definitions and citations: docs/interp.md.
// Not for: the logic (src/interp/).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/table.hpp"
#include "data/spm_bpe.hpp"
#include "data/tokenizer.hpp"
#include "interp/interp.hpp"
#include "interp/probe.hpp"
#include "interp/sae_lm.hpp"
#include "interp/tms.hpp"
#include "nn/safetensors.hpp"
#include "tasks/registry.hpp"
#include "train/import.hpp"

namespace {
namespace in = lmlab::interp;
namespace tr = lmlab::train;
using lmlab::tensor;

// Token ids from "1 2 3" or "1,2,3"; `where` names the source (file:line) in errors.
// `col0`: the column of s[0] in the line, so errors give the line's column.
std::vector<std::int32_t> parse_ids(const std::string& s, const std::string& where, std::int64_t vocab, std::size_t col0 = 0) {
  std::vector<std::int32_t> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == ',' || s[i] == '\t' || s[i] == '\r') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != ',' && s[j] != '\t' && s[j] != '\r') ++j;
    const std::string w = s.substr(i, j - i);
    std::int64_t v = -1;
    try {
      std::size_t used = 0;
      v = std::stoll(w, &used);
      if (used != w.size()) v = -1;
    } catch (const std::exception&) {
    }
    LMLAB_CHECK(v >= 0, "{}:{}: '{}' is not a token id", where, col0 + i + 1, w);
    LMLAB_CHECK(v < vocab, "{}:{}: token id {} is outside the vocabulary of {}", where, col0 + i + 1, v, vocab);
    out.push_back(static_cast<std::int32_t>(v));
    i = j;
  }
  return out;
}

tensor rows_to_tensor(const std::vector<std::vector<std::int32_t>>& rows, const std::string& where) {
  LMLAB_CHECK(!rows.empty() && !rows[0].empty(), "{}: no token ids", where);
  std::vector<std::int32_t> flat;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    LMLAB_CHECK(rows[r].size() == rows[0].size(), "{}: row {} has {} tokens, row 1 has {} (rows must have equal length)", where,
                r + 1, rows[r].size(), rows[0].size());
    flat.insert(flat.end(), rows[r].begin(), rows[r].end());
  }
  return tensor::from<std::int32_t>({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())},
                                    std::span<const std::int32_t>(flat));
}

struct model_handle {
  tr::loaded_checkpoint ck;
  std::unique_ptr<lmlab::data::tokenizer> tok;
  std::int64_t vocab() const { return ck.model->vocab_size(); }
  // Ids from text: with `ids` a list of token ids, else the checkpoint's tokenizer.
  std::vector<std::int32_t> encode(const std::string& text, bool ids, const std::string& what) {
    if (ids) return parse_ids(text, what, vocab());
    if (!tok) {
      LMLAB_CHECK_HINT(ck.tokenizer.has_value(), "pass --ids and give token ids", "{}: the checkpoint has no tokenizer", what);
      tok = lmlab::data::tokenizer_from_json(*ck.tokenizer, (ck.dir / "tokenizer.json").string());
    }
    return lmlab::data::encode_for_generation(*tok, text);
  }
  std::int32_t one_token(const std::string& text, bool ids, const std::string& what) {
    auto v = encode(text, ids, what);
    LMLAB_CHECK(v.size() == 1, "{}: '{}' is {} tokens; expected exactly one", what, text, v.size());
    return v[0];
  }
};

model_handle open_model(const std::string& path) { return {tr::load_model_any(path), nullptr}; }

// Where token inputs come from: an ids file, a text, or a task's test examples.
struct input_opts {
  std::string file, text, task;
  std::vector<std::string> task_sets;
  bool ids = false;
  std::int64_t n = 16;
  std::uint64_t seed = 0;
  void add(CLI::App* s) {
    s->add_option("--input", file, "file of token-id rows (space or comma separated, equal lengths)");
    s->add_option("--text", text, "one input: text (tokenised) or, with --ids, token ids");
    s->add_option("--task", task, "the first --n test examples of a lab task (params: --task-set), cropped to the shortest");
    s->add_option("--task-set", task_sets, "a task parameter KEY=VALUE (repeatable), e.g. --task-set vocab_size=32");
    s->add_flag("--ids", ids, "--text, --clean, --corrupt, --answer and --wrong are token ids, not text");
    s->add_option("--n", n, "examples taken from --task")->capture_default_str();
    s->add_option("--seed", seed, "seed of --task's dataset")->capture_default_str();
  }
  tensor load(model_handle& m) const {
    const int given = !file.empty() + !text.empty() + !task.empty();
    if (given != 1) throw lmlab::usage_error("give exactly one of --input, --text and --task");
    if (!text.empty()) return rows_to_tensor({m.encode(text, ids, "--text")}, "--text");
    if (!task.empty()) {
      nlohmann::json table = {{"name", task}};
      for (const auto& kv : task_sets) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw lmlab::usage_error(fmt::format("--task-set {}: expected KEY=VALUE", kv));
        const std::string v = kv.substr(eq + 1);
        table[kv.substr(0, eq)] = nlohmann::json::accept(v) ? nlohmann::json::parse(v) : nlohmann::json(v);
      }
      auto ds = lmlab::tasks::build_task(table, seed);
      LMLAB_CHECK(!ds.test.empty(), "--task {}: no test examples", task);
      std::size_t T = SIZE_MAX;
      const auto N = std::min<std::size_t>(static_cast<std::size_t>(n), ds.test.size());
      for (std::size_t i = 0; i < N; ++i) T = std::min(T, ds.test[i].input.size());
      std::vector<std::vector<std::int32_t>> rows;
      for (std::size_t i = 0; i < N; ++i) rows.emplace_back(ds.test[i].input.begin(), ds.test[i].input.begin() + static_cast<std::ptrdiff_t>(T));
      for (auto& r : rows)
        for (auto v : r) LMLAB_CHECK(v < m.vocab(), "--task {}: token id {} is outside the model's vocabulary of {}", task, v, m.vocab());
      return rows_to_tensor(rows, "--task " + task);
    }
    std::istringstream lines(lmlab::read_text_file(file));
    std::vector<std::vector<std::int32_t>> rows;
    std::size_t ln = 0;
    for (std::string line; std::getline(lines, line);) {
      ++ln;
      if (line.find_first_not_of(" \t\r,") == std::string::npos) continue;
      rows.push_back(parse_ids(line, file + ":" + std::to_string(ln), m.vocab()));
    }
    return rows_to_tensor(rows, file);
  }
};

// The options every verb on a model shares: the checkpoint (the first positional) and the
// table format (-o, the last option).

// A verb's model and the token ids it runs on, opened when the verb runs.
struct model_and_inputs {
  model_handle m;
  tensor ids;
};
model_and_inputs open_with_inputs(const std::string& ckpt, const input_opts& in) {
  model_and_inputs r{open_model(ckpt), {}};
  r.ids = in.load(r.m);
  return r;
}

std::vector<double> parse_scales(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  for (std::string w; std::getline(ss, w, ',');) {
    try {
      out.push_back(std::stod(w));
    } catch (const std::exception&) {
      throw lmlab::usage_error(fmt::format("--scales {}: '{}' is not a number", s, w));
    }
  }
  return out;
}

void add_cache(CLI::App& parent) {
  auto* s = parent.add_subcommand("cache", "Write chosen hook activations on some inputs to a safetensors file");
  struct opts {
    std::string ckpt, hooks = "blocks.*.hook_resid_post", out;
    bool layer_at_a_time = false;
    input_opts in;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--hooks", o->hooks, "comma-separated globs over hook names ('*' matches anything)")->capture_default_str();
  s->add_option("--out", o->out, "output .safetensors (written atomically)")->required();
  s->add_flag("--layer-at-a-time", o->layer_at_a_time, "keep one layer's activations in memory at a time (one forward per layer)");
  o->in.add(s);
  s->callback([o] {
    auto [m, ids] = open_with_inputs(o->ckpt, o->in);
    const auto names = in::match_hooks(*m.ck.model, o->hooks);
    const auto bytes = in::write_cache(o->out, *m.ck.model, ids, names, o->layer_at_a_time,
                                       {{"checkpoint", o->ckpt}, {"hooks", o->hooks}, {"input_shape", lmlab::shape_str(ids.shape())}});
    std::printf("wrote %s: %zu tensors, %llu bytes, inputs %s\n", o->out.c_str(), names.size(),
                static_cast<unsigned long long>(bytes), lmlab::shape_str(ids.shape()).c_str());
  });
}

void add_heads(CLI::App& parent) {
  auto* s = parent.add_subcommand("heads", "Induction-head and previous-token-head scores per head (repeated random tokens)");
  struct opts {
    std::string ckpt, out = "text";
    in::heads_options h;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--n", o->h.n, "random tokens per half; 0 = min(50, n_ctx / 2)")->capture_default_str();
  s->add_option("--batch", o->h.batch, "sequences")->capture_default_str();
  s->add_option("--seed", o->h.seed, "seed of the random tokens")->capture_default_str();
  lmlab::cli::add_table_format(*s, o->out);
  s->callback([o] {
    const auto fmt_out = lmlab::parse_table_format(o->out);
    auto m = open_model(o->ckpt);
    lmlab::table t({"layer", "head", "induction", "prev_token"});
    for (const auto& h : in::head_scores(*m.ck.model, o->h))
      t.add_row({h.layer, h.head, lmlab::cell(h.induction, fmt::format("{:.3f}", h.induction)),
                 lmlab::cell(h.prev_token, fmt::format("{:.3f}", h.prev_token))});
    t.print(std::cout, fmt_out);
  });
}

void print_patch(const in::patch_result& r, const std::string& index_name, lmlab::table_format f, const std::string& csv) {
  lmlab::table long_t({"hook", "layer", index_name, "logit_diff", "effect"});
  // Path patching's MLP senders have index -1: "mlp" in the table, a last grid column.
  for (const auto& c : r.cells)
    long_t.add_row({c.hook, c.layer, c.index < 0 ? lmlab::cell("mlp") : lmlab::cell(c.index), c.metric,
                    lmlab::cell(c.effect, fmt::format("{:.3f}", c.effect))});
  if (!csv.empty()) {
    std::ofstream out(csv);
    LMLAB_CHECK(out.good(), "{}: cannot open for writing", csv);
    long_t.print(out, lmlab::table_format::csv);
  }
  if (f != lmlab::table_format::text && f != lmlab::table_format::md) {
    long_t.print(std::cout, f);
    return;
  }
  // A grid: one row per layer, one column per position (or head): the normalised effect.
  std::map<std::int64_t, std::map<std::int64_t, double>> grid;
  std::int64_t cols = 0;
  bool mlp = false;
  for (const auto& c : r.cells) {
    grid[c.layer][c.index] = c.effect;
    cols = std::max(cols, c.index + 1);
    mlp = mlp || c.index < 0;
  }
  std::vector<std::string> head = {"layer"};
  for (std::int64_t i = 0; i < cols; ++i) head.push_back(index_name + " " + std::to_string(i));
  if (mlp) head.push_back("mlp");
  lmlab::table t(head);
  for (const auto& [layer, row] : grid) {
    std::vector<lmlab::cell> cells = {layer};
    for (std::int64_t i = 0; i < cols + (mlp ? 1 : 0); ++i) {
      const std::int64_t k = i == cols ? -1 : i;  // the MLP's column last
      cells.push_back(row.contains(k) ? lmlab::cell(row.at(k), fmt::format("{:.3f}", row.at(k))) : lmlab::cell(""));
    }
    t.add_row(cells);
  }
  std::printf("logit difference: clean %.4f, corrupted %.4f; cells: (patched - corrupted) / (clean - corrupted)\n", r.clean,
              r.corrupted);
  t.print(std::cout, f);
}

void add_patch(CLI::App& parent) {
  auto* s = parent.add_subcommand("patch", "Activation patching (clean into corrupted) over layer x position, or per head");
  struct opts {
    std::string ckpt, clean, corrupt, answer, wrong, site = "hook_resid_pre", out = "text", csv, path_to, senders = "heads";
    std::int64_t receiver_head = -1;
    bool ids = false, heads = false;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--clean", o->clean, "clean input (text, or token ids with --ids)")->required();
  s->add_option("--corrupt", o->corrupt, "corrupted input, same length in tokens")->required();
  s->add_option("--answer", o->answer, "the token the clean input should predict next")->required();
  s->add_option("--wrong", o->wrong, "the token the corrupted input should predict next")->required();
  s->add_flag("--ids", o->ids, "inputs and answers are token ids");
  s->add_option("--site", o->site, "the per-block hook patched at each position: blocks.N.<site>")->capture_default_str();
  s->add_flag("--heads", o->heads, "patch blocks.N.attn.hook_z one head at a time (all positions) instead");
  s->add_option("--path-to", o->path_to,
                "path patching: each sender (--senders) only along the path into 'logits' or blocks.N.attn.hook_q|k|v, every other head frozen at its corrupted value");
  s->add_option("--senders", o->senders, "with --path-to: heads, mlps (blocks.N.hook_mlp_out, column 'mlp') or all")
      ->check(CLI::IsMember({"heads", "mlps", "all"}))
      ->capture_default_str();
  s->add_option("--receiver-head", o->receiver_head,
                "with --path-to blocks.N.attn.hook_q|k|v: replace only this head of the receiver (default: every head)");
  lmlab::cli::add_table_format(*s, o->out, "text|md (a grid) or csv|json|jsonl (one row per cell)");
  s->add_option("--csv", o->csv, "also write the cells as CSV to this file");
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    auto m = open_model(o->ckpt);
    const tensor clean = rows_to_tensor({m.encode(o->clean, o->ids, "--clean")}, "--clean");
    const tensor corrupt = rows_to_tensor({m.encode(o->corrupt, o->ids, "--corrupt")}, "--corrupt");
    const auto a = m.one_token(o->answer, o->ids, "--answer"), w = m.one_token(o->wrong, o->ids, "--wrong");
    LMLAB_CHECK_HINT(!o->path_to.empty() || (o->senders == "heads" && o->receiver_head < 0), "add --path-to logits or a q/k/v receiver",
                     "interp patch: --senders and --receiver-head are options of path patching");
    if (!o->path_to.empty()) {
      in::path_options po;
      po.receiver = o->path_to;
      po.receiver_head = o->receiver_head;
      po.head_senders = o->senders != "mlps";
      po.mlp_senders = o->senders != "heads";
      print_patch(in::path_patch(*m.ck.model, clean, corrupt, a, w, po), "head", f, o->csv);
    }
    else if (o->heads)
      print_patch(in::patch_heads(*m.ck.model, clean, corrupt, a, w), "head", f, o->csv);
    else
      print_patch(in::patch_positions(*m.ck.model, clean, corrupt, a, w, o->site), "pos", f, o->csv);
  });
}

// `interp probe --examples`: label<TAB>token ids, one example a line; labels numbered in order
// of first appearance.
struct probe_examples {
  std::vector<std::vector<std::int32_t>> rows;
  std::vector<int> y;
  std::vector<std::string> labels;
};

probe_examples read_probe_examples(const std::string& file, std::int64_t vocab) {
  probe_examples ex;
  std::istringstream lines(lmlab::read_text_file(file));
  std::map<std::string, int> label_id;
  std::size_t ln = 0;
  for (std::string line; std::getline(lines, line);) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto tab = line.find('\t');
    const std::string where = file + ":" + std::to_string(ln);
    LMLAB_CHECK(tab != std::string::npos && tab > 0, "{}: expected label<TAB>token ids", where);
    const std::string lab = line.substr(0, tab);
    if (!label_id.contains(lab)) label_id[lab] = static_cast<int>(ex.labels.size()), ex.labels.push_back(lab);
    ex.y.push_back(label_id[lab]);
    ex.rows.push_back(parse_ids(line.substr(tab + 1), where, vocab, tab + 1));
    LMLAB_CHECK(!ex.rows.back().empty(), "{}: no token ids", where);
  }
  LMLAB_CHECK(ex.labels.size() >= 2, "{}: the probe needs at least two labels, found {}", file, ex.labels.size());
  return ex;
}

// Per hook, each example's activation at `position` (feats[hook][example], D[hook] wide), and
// the token there (the control task's type).
struct probe_features {
  std::vector<std::size_t> D;
  std::vector<std::vector<std::vector<double>>> feats;
  std::vector<std::int64_t> types;
};

probe_features probe_features_at(lmlab::models::causal_lm& model, const std::vector<std::vector<std::int32_t>>& rows,
                                  const std::vector<std::string>& hooks, std::int64_t position, const std::string& where) {
  std::map<std::size_t, std::vector<std::size_t>> by_len;
  for (std::size_t i = 0; i < rows.size(); ++i) by_len[rows[i].size()].push_back(i);
  probe_features pf{std::vector<std::size_t>(hooks.size(), 0),
                    std::vector<std::vector<std::vector<double>>>(hooks.size(), std::vector<std::vector<double>>(rows.size())),
                    std::vector<std::int64_t>(rows.size())};
  for (const auto& [T, idx] : by_len) {
    std::vector<std::vector<std::int32_t>> batch;
    for (auto i : idx) batch.push_back(rows[i]);
    const auto pos = position < 0 ? static_cast<std::int64_t>(T) + position : position;
    LMLAB_CHECK(pos >= 0 && pos < static_cast<std::int64_t>(T), "--position {}: outside examples of {} tokens", position, T);
    const auto cache = in::cache_activations(model, rows_to_tensor(batch, where), hooks);
    for (std::size_t k = 0; k < hooks.size(); ++k) {
      const tensor& act = cache.at(hooks[k]);
      LMLAB_CHECK(act.dim() == 3, "{}: the probe needs a (B, T, C) activation, got {}", hooks[k], lmlab::shape_str(act.shape()));
      pf.D[k] = static_cast<std::size_t>(act.size(2));
      for (std::size_t b = 0; b < idx.size(); ++b)
        for (std::int64_t c = 0; c < act.size(2); ++c) pf.feats[k][idx[b]].push_back(act.at({static_cast<std::int64_t>(b), pos, c}));
    }
    for (auto i : idx) pf.types[i] = rows[i][static_cast<std::size_t>(pos)];
  }
  return pf;
}

// --save-direction: the two-class probe's direction W[1] - W[0], and the difference of class
// means (all examples), the other common steering direction.
void save_probe_direction(const std::string& file, const std::string& hook, const in::probe_result& r,
                          const std::vector<double>& X, std::size_t d_, const probe_examples& ex) {
  LMLAB_CHECK_HINT(r.classes == 2, "a direction is saved for two-class probes only", "--save-direction: the probe has {} classes",
                   r.classes);
  std::vector<float> d(d_), md(d_);
  for (std::size_t c = 0; c < d_; ++c) d[c] = static_cast<float>(r.weights[d_ + c] - r.weights[c]);
  std::vector<double> cnt(2, 0.0), sum(2 * d_, 0.0);
  for (std::size_t i = 0; i < ex.y.size(); ++i) {
    cnt[static_cast<std::size_t>(ex.y[i])] += 1;
    for (std::size_t c = 0; c < d_; ++c) sum[static_cast<std::size_t>(ex.y[i]) * d_ + c] += X[i * d_ + c];
  }
  for (std::size_t c = 0; c < d_; ++c) md[c] = static_cast<float>(sum[d_ + c] / cnt[1] - sum[c] / cnt[0]);
  const auto vec = [d_](const std::vector<float>& v) { return tensor::from<float>({static_cast<std::int64_t>(d_)}, std::span<const float>(v)); };
  lmlab::nn::save_safetensors(file, {{"direction", vec(d)}, {"mean_diff", vec(md)}},
                              {{"hook", hook}, {"positive", ex.labels[1]}, {"negative", ex.labels[0]}});
  std::fprintf(stderr, "direction (%s minus %s) written to %s\n", ex.labels[1].c_str(), ex.labels[0].c_str(), file.c_str());
}

void add_probe(CLI::App& parent) {
  auto* s = parent.add_subcommand("probe", "Logistic or ridge probe on a hook's activations, with a control task (selectivity)");
  struct opts {
    std::string ckpt, hook, examples, out = "text", save, kind = "logistic";
    std::int64_t position = -1;
    bool ids = true;
    in::probe_options p;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--hook", o->hook, "hook name or globs, e.g. 'blocks.*.hook_resid_post' (one row per hook; (B, T, C) activations)")->required();
  s->add_option("--examples", o->examples, "TSV: label<TAB>token ids, one example a line")->required();
  s->add_option("--position", o->position, "position probed; negative counts from the end")->capture_default_str();
  s->add_option("--test-fraction", o->p.test_fraction, "held-out examples")->capture_default_str();
  s->add_option("--l2", o->p.l2, "L2 penalty on the standardised weights")->capture_default_str();
  s->add_option("--kind", o->kind, "logistic (L-BFGS) or ridge (least squares on one-hot labels, closed form)")->capture_default_str();
  s->add_option("--seed", o->p.seed, "split, control labels and bootstrap")->capture_default_str();
  s->add_option("--save-direction", o->save, "write the probe direction (two classes: W[1] - W[0]) as tensor direction, and the difference of class means as mean_diff, for `interp steer`");
  lmlab::cli::add_table_format(*s, o->out);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    o->p.kind = in::parse_probe_kind(o->kind);
    auto m = open_model(o->ckpt);
    in::match_hooks(*m.ck.model, o->hook);
    const auto ex = read_probe_examples(o->examples, m.vocab());
    // Activations at the probed position, batched by length; the type is the token there.
    const auto hooks = in::match_hooks(*m.ck.model, o->hook);
    LMLAB_CHECK_HINT(o->save.empty() || hooks.size() == 1, "give one hook name with --save-direction",
                     "--save-direction: '{}' matches {} hooks", o->hook, hooks.size());
    const auto pf = probe_features_at(*m.ck.model, ex.rows, hooks, o->position, o->examples);
    const auto ci = [](const lmlab::analysis::interval& i) {
      return lmlab::cell(i.estimate, fmt::format("{:.3f} [{:.3f}, {:.3f}]", i.estimate, i.lo, i.hi));
    };
    lmlab::table t({"hook", "position", "classes", "train", "test", "train_acc", "task_acc", "control_acc", "selectivity"});
    for (std::size_t k = 0; k < hooks.size(); ++k) {
      std::vector<double> X;
      for (const auto& v : pf.feats[k]) X.insert(X.end(), v.begin(), v.end());
      const auto r = in::probe_with_control(X, pf.D[k], ex.y, pf.types, o->p);
      t.add_row({hooks[k], o->position, r.classes, static_cast<std::int64_t>(r.n_train), static_cast<std::int64_t>(r.n_test),
                 lmlab::cell(r.train_acc, fmt::format("{:.3f}", r.train_acc)), ci(r.task_acc), ci(r.control_acc), ci(r.selectivity)});
      if (!o->save.empty()) save_probe_direction(o->save, hooks[k], r, X, pf.D[k], ex);
    }
    t.print(std::cout, f);
  });
}

void add_steer(CLI::App& parent) {
  auto* s = parent.add_subcommand("steer", "Add a direction at a hook with a scale sweep; measure the logit difference");
  struct opts {
    std::string ckpt, hook, direction, scales = "-8,-4,-2,0,2,4,8", answer, wrong, out = "text";
    bool unit = false;
    input_opts in;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--hook", o->hook, "hook name, e.g. blocks.1.hook_resid_post")->required();
  s->add_option("--direction", o->direction, "safetensors FILE[:TENSOR] (default tensor 'direction', as probe writes)")->required();
  s->add_option("--scales", o->scales, "comma-separated scales")->capture_default_str();
  s->add_flag("--unit", o->unit, "scale the direction to unit L2 norm first (scales are then in activation units)");
  s->add_option("--answer", o->answer, "metric: logit[answer] - logit[wrong] at the last position")->required();
  s->add_option("--wrong", o->wrong, "see --answer")->required();
  lmlab::cli::add_table_format(*s, o->out);
  o->in.add(s);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    auto [m, ids] = open_with_inputs(o->ckpt, o->in);
    const auto a = m.one_token(o->answer, o->in.ids, "--answer"), w = m.one_token(o->wrong, o->in.ids, "--wrong");
    std::string file = o->direction, name = "direction";
    if (const auto c = file.rfind(':'); c != std::string::npos && !std::filesystem::exists(file)) {
      name = file.substr(c + 1);
      file = file.substr(0, c);
    }
    tensor d = lmlab::nn::safetensors_file::load(file).get(name).to_raw(lmlab::dtype::f32);
    if (o->unit) {
      double n2 = 0;
      for (double v : d.to_vector()) n2 += v * v;
      LMLAB_CHECK(n2 > 0, "{}: the direction '{}' is zero; --unit cannot normalise it", file, name);
      float* p = d.data<float>();
      for (std::int64_t i = 0; i < d.numel(); ++i) p[i] = static_cast<float>(p[i] / std::sqrt(n2));
    }
    const auto pts = in::steer_sweep(*m.ck.model, ids, o->hook, d, parse_scales(o->scales),
                                     [&](const tensor& logits) { return in::logit_diff(logits, a, w); });
    lmlab::table t({"hook", "scale", "logit_diff", "delta"});
    for (const auto& p : pts)
      t.add_row({o->hook, p.scale, lmlab::cell(p.metric, fmt::format("{:.4f}", p.metric)), lmlab::cell(p.delta, fmt::format("{:+.4f}", p.delta))});
    t.print(std::cout, f);
  });
}

void add_tms(CLI::App& parent) {
  auto* s = parent.add_subcommand("tms", "Train a toy model of superposition (Elhage et al. 2022) and print W, b and feature norms");
  struct opts {
    in::tms_config c;
    std::string importance, out = "text";
  };
  auto o = std::make_shared<opts>();
  s->add_option("--n", o->c.n, "features")->capture_default_str();
  s->add_option("--m", o->c.m, "hidden dimensions")->capture_default_str();
  s->add_option("--sparsity", o->c.sparsity, "S: probability a feature is 0")->capture_default_str();
  s->add_option("--importance", o->importance, "comma-separated I_i (default all 1), or DECAY^i with --importance 0.9^");
  s->add_option("--steps", o->c.steps, "Adam steps")->capture_default_str();
  s->add_option("--batch", o->c.batch, "batch size")->capture_default_str();
  s->add_option("--instances", o->c.instances, "instances trained; the lowest loss is kept")->capture_default_str();
  s->add_option("--lr", o->c.lr, "Adam learning rate")->capture_default_str();
  s->add_option("--seed", o->c.seed, "seed")->capture_default_str();
  lmlab::cli::add_table_format(*s, o->out);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    if (o->importance.ends_with("^")) {
      const double r = parse_scales(o->importance.substr(0, o->importance.size() - 1)).at(0);
      for (std::int64_t i = 0; i < o->c.n; ++i) o->c.importance.push_back(std::pow(r, static_cast<double>(i)));
    } else if (!o->importance.empty()) {
      o->c.importance = parse_scales(o->importance);
    }
    const auto t = in::train_tms(o->c);
    std::printf("loss %.6f | dimensions per feature D* = m / |W|_F^2 = %.3f\n", t.loss, t.dimensions_per_feature());
    std::vector<std::string> cols = {"feature", "importance", "norm", "bias"};
    for (std::int64_t j = 0; j < t.m; ++j) cols.push_back("W" + std::to_string(j));
    lmlab::table tab(cols);
    for (std::int64_t i = 0; i < t.n; ++i) {
      std::vector<lmlab::cell> row = {i, o->c.importance.empty() ? 1.0 : o->c.importance[static_cast<std::size_t>(i)],
                                      lmlab::cell(t.norm(i), fmt::format("{:.3f}", t.norm(i))),
                                      lmlab::cell(t.b[static_cast<std::size_t>(i)], fmt::format("{:.3f}", t.b[static_cast<std::size_t>(i)]))};
      for (std::int64_t j = 0; j < t.m; ++j) {
        const double w = t.W[static_cast<std::size_t>(j * t.n + i)];
        row.push_back(lmlab::cell(w, fmt::format("{:.3f}", w)));
      }
      tab.add_row(row);
    }
    tab.print(std::cout, f);
  });
}

void add_logit_lens(CLI::App& parent) {
  auto* s = parent.add_subcommand("logit-lens", "Decode every layer's residual stream with the final norm and head (last position)");
  struct opts {
    std::string ckpt, answer, out = "text";
    std::int64_t top = 3;
    input_opts in;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--answer", o->answer, "also report this token's probability and rank");
  s->add_option("--top", o->top, "top tokens shown per layer")->capture_default_str();
  lmlab::cli::add_table_format(*s, o->out);
  o->in.add(s);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    auto [m, ids] = open_with_inputs(o->ckpt, o->in);
    const std::int32_t a = o->answer.empty() ? -1 : m.one_token(o->answer, o->in.ids, "--answer");
    std::vector<std::string> cols = {"layer", "top"};
    if (a >= 0) cols.insert(cols.end(), {"p_answer", "rank_answer"});
    lmlab::table t(cols);
    const auto& model = m;  // a lambda may not capture a structured binding before C++20 in clang 14
    const auto show = [&](std::int32_t id) {
      return model.tok ? model.tok->decode(std::span<const std::int32_t>(&id, 1)) : std::to_string(id);
    };
    for (const auto& [name, logits] : in::logit_lens(*m.ck.model, ids)) {
      // Softmax of row 0's last position.
      const std::int64_t T = logits.size(1), V = logits.size(2);
      std::vector<double> p(static_cast<std::size_t>(V));
      double mx = -INFINITY, z = 0;
      for (std::int64_t v = 0; v < V; ++v) mx = std::max(mx, p[static_cast<std::size_t>(v)] = logits.at({0, T - 1, v}));
      for (auto& x : p) z += (x = std::exp(x - mx));
      for (auto& x : p) x /= z;
      std::vector<std::int32_t> order(static_cast<std::size_t>(V));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) { return p[static_cast<std::size_t>(x)] > p[static_cast<std::size_t>(y)]; });
      std::string top;
      for (std::int64_t k = 0; k < std::min(o->top, V); ++k)
        top += fmt::format("{}{} ({:.3f})", k ? ", " : "", show(order[static_cast<std::size_t>(k)]), p[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]);
      std::vector<lmlab::cell> row = {in::layer_of(name), top};
      if (a >= 0) {
        const auto rank = std::find(order.begin(), order.end(), a) - order.begin();
        row.push_back(lmlab::cell(p[static_cast<std::size_t>(a)], fmt::format("{:.4f}", p[static_cast<std::size_t>(a)])));
        row.push_back(static_cast<std::int64_t>(rank + 1));
      }
      t.add_row(row);
    }
    t.print(std::cout, f);
  });
}

void add_attn(CLI::App& parent) {
  auto* s = parent.add_subcommand("attn", "The attention pattern of one head on one input (rows: queries, columns: keys)");
  struct opts {
    std::string ckpt, out = "text";
    std::int64_t layer = 0, head = 0;
    input_opts in;
  };
  auto o = std::make_shared<opts>();
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--layer", o->layer, "layer")->capture_default_str();
  s->add_option("--head", o->head, "head")->capture_default_str();
  lmlab::cli::add_table_format(*s, o->out);
  o->in.add(s);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    auto [m, ids] = open_with_inputs(o->ckpt, o->in);
    const std::string hook = fmt::format("blocks.{}.attn.hook_pattern", o->layer);
    in::match_hooks(*m.ck.model, hook);
    const tensor p = in::cache_activations(*m.ck.model, ids, {hook}).at(hook);  // (B, H, T, T)
    LMLAB_CHECK(o->head >= 0 && o->head < p.size(1), "--head {}: layer {} has {} heads", o->head, o->layer, p.size(1));
    const std::int64_t T = p.size(2);
    std::vector<std::string> cols = {"query"};
    for (std::int64_t k = 0; k < T; ++k) cols.push_back(std::to_string(k));
    lmlab::table t(cols);
    for (std::int64_t q = 0; q < T; ++q) {
      std::vector<lmlab::cell> row = {q};
      for (std::int64_t k = 0; k < T; ++k) {
        const double v = p.at({0, o->head, q, k});
        row.push_back(lmlab::cell(v, fmt::format("{:.2f}", v)));
      }
      t.add_row(row);
    }
    t.print(std::cout, f);
  });
}

// `interp sae`: train (or load) a sparse autoencoder on a hook's activations and score it on
// held-out inputs, with the CE-loss score of the model with the SAE spliced in.
void add_sae(CLI::App& parent) {
  auto* s = parent.add_subcommand("sae", "Train (or load with --sae) a sparse autoencoder on a hook's activations; L0, explained variance, dead latents, CE-loss score");
  struct opts {
    std::string ckpt, hook = "blocks.0.hook_resid_post", kind = "topk", load, save, out = "text";
    in::sae_config c;
    bool auxk = false;
    double test_fraction = 0.25;
    input_opts in;
  };
  auto o = std::make_shared<opts>();
  o->c.d_sae = 0;
  o->c.steps = 1000;
  o->c.batch = 64;
  lmlab::cli::add_checkpoint(*s, o->ckpt);
  s->add_option("--hook", o->hook, "a (B, T, C) hook, e.g. blocks.1.hook_resid_pre")->capture_default_str();
  s->add_option("--kind", o->kind, "topk | batchtopk | l1")->capture_default_str();
  s->add_option("--d-sae", o->c.d_sae, "latents; 0 = 4 x the hook's width")->capture_default_str();
  s->add_option("--k", o->c.k, "active latents (topk; batchtopk: on average)")->capture_default_str();
  s->add_option("--l1", o->c.l1, "L1 coefficient (kind l1)")->capture_default_str();
  s->add_flag("--auxk", o->auxk, "add Gao et al.'s AuxK loss (coefficient 1/32, k_aux = d_in / 2)");
  s->add_option("--steps", o->c.steps, "Adam steps")->capture_default_str();
  s->add_option("--batch", o->c.batch, "rows per step")->capture_default_str();
  s->add_option("--lr", o->c.lr, "Adam learning rate")->capture_default_str();
  s->add_option("--sae-seed", o->c.seed, "seed of the SAE's initialisation and minibatches")->capture_default_str();
  s->add_option("--test-fraction", o->test_fraction, "share of the input rows (sequences) held out for the metrics")->capture_default_str();
  s->add_option("--sae", o->load, "score this SAE (a file from --out) instead of training one");
  s->add_option("--out", o->save, "write the trained SAE (safetensors, F64; for --sae)");
  lmlab::cli::add_table_format(*s, o->out);
  o->in.add(s);
  s->callback([o] {
    const auto f = lmlab::parse_table_format(o->out);
    if (o->test_fraction <= 0 || o->test_fraction >= 1)
      throw lmlab::usage_error(fmt::format("--test-fraction {}: expected a value in (0, 1)", o->test_fraction));
    // Not a structured binding: the lambda below captures ids (clang 14 rejects that; scripts/fuzz.sh).
    auto opened = open_with_inputs(o->ckpt, o->in);
    auto& m = opened.m;
    const tensor& ids = opened.ids;
    in::match_hooks(*m.ck.model, o->hook);
    const std::int64_t B = ids.size(0), T = ids.size(1);
    LMLAB_CHECK_HINT(T >= 2, "give longer inputs", "interp sae: inputs of {} token(s); the CE-loss score needs at least 2", T);
    // Split by sequence (positions of one sequence never straddle train and test).
    LMLAB_CHECK_HINT(B >= 2, "give more rows (--input with several lines, or --task with --n 64)",
                     "interp sae: {} input row(s); a train/test split needs at least 2", B);
    const std::int64_t n_test = std::clamp<std::int64_t>(std::llround(o->test_fraction * static_cast<double>(B)), 1, B - 1);
    auto rows = [&](std::int64_t from, std::int64_t to, std::int64_t t0, std::int64_t t1) {
      std::vector<std::vector<std::int32_t>> r;
      for (std::int64_t b = from; b < to; ++b) {
        r.emplace_back();
        for (std::int64_t t = t0; t < t1; ++t) r.back().push_back(static_cast<std::int32_t>(ids.at({b, t})));
      }
      return rows_to_tensor(r, "inputs");
    };
    const std::int64_t n_train = B - n_test;
    std::int64_t C = 0;
    const std::vector<double> X = in::hook_rows(*m.ck.model, rows(0, n_train, 0, T), o->hook, &C);
    const tensor test_ids = rows(n_train, B, 0, T);
    const std::vector<double> Xt = in::hook_rows(*m.ck.model, test_ids, o->hook, &C);
    in::sae sae;
    if (!o->load.empty()) {
      sae = in::load_sae(o->load);
      LMLAB_CHECK(sae.d_in == C, "--sae {}: its d_in is {}, the hook {} has width {}", o->load, sae.d_in, o->hook, C);
    } else {
      o->c.kind = in::parse_sae_kind(o->kind);
      o->c.d_in = C;
      if (o->c.d_sae == 0) o->c.d_sae = 4 * C;
      if (o->auxk) o->c.aux_coef = 1.0 / 32;
      sae = in::train_sae(X, n_train * T, o->c);
      if (!o->save.empty())
        in::save_sae(o->save, sae, {{"hook", o->hook}, {"checkpoint", o->ckpt}});
    }
    const in::sae_metrics mt = in::evaluate_sae(sae, Xt, n_test * T);
    const in::sae_ce ce = in::sae_ce_scores(*m.ck.model, rows(n_train, B, 0, T - 1), rows(n_train, B, 1, T), o->hook, sae);
    lmlab::table t({"kind", "d_in", "d_sae", "k", "train_rows", "test_rows", "l0", "explained_variance", "dead_fraction",
                    "ce_clean", "ce_sae", "ce_ablation", "ce_loss_score"});
    auto num = [](double v) { return lmlab::cell(v, fmt::format("{:.4f}", v)); };
    t.add_row({in::sae_kind_name(sae.kind), sae.d_in, sae.d_sae, sae.k, n_train * T, n_test * T, num(mt.l0),
               num(mt.explained_variance), num(mt.dead_fraction), num(ce.clean), num(ce.sae), num(ce.ablation), num(ce.score)});
    t.print(std::cout, f);
    if (!o->save.empty() && o->load.empty()) std::fprintf(stderr, "SAE written to %s\n", o->save.c_str());
  });
}

void add_interp(CLI::App& app) {
  auto* s = lmlab::cli::add_verb_group(app, "interp",
                                       "Interpretability: cache activations, score heads, patch, probe, steer, SAEs (docs/interp.md)");
  add_cache(*s);
  add_heads(*s);
  add_patch(*s);
  add_probe(*s);
  add_steer(*s);
  add_tms(*s);
  add_sae(*s);
  add_logit_lens(*s);
  add_attn(*s);
}

LMLAB_COMMAND("interp", 15, add_interp);

}  // namespace
