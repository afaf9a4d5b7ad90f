// Experiment-spec parsing and grid expansion: see spec.hpp.
#include "lab/spec.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <sstream>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sweep.hpp"
#include "models/arch.hpp"
#include "models/lm_config.hpp"
#include "train/config.hpp"
#include "tasks/params.hpp"
#include "tasks/registry.hpp"

namespace lmlab::lab {

using lmlab::tasks::param_kind;
using lmlab::tasks::param_spec;
using nlohmann::json;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

param_spec P(const char* name, param_kind kind, const char* help, double min = -inf, double max = inf,
             std::vector<std::string> choices = {}) {
  return tasks::make_param_spec(name, kind, help, min, max, std::move(choices));
}

param_kind kind_of(models::field_kind k) {
  switch (k) {
    case models::field_kind::integer: return param_kind::integer;
    case models::field_kind::number: return param_kind::number;
    case models::field_kind::boolean: return param_kind::boolean;
    case models::field_kind::string: return param_kind::string;
  }
  return param_kind::string;
}

// Every key of the model as declared once in models/lm_config.cpp (their values are checked by
// lm_config::validate per grid point), then the lab's conveniences (resolved by lm_model_json).
const std::vector<param_spec>& model_schema() {
  using K = param_kind;
  static const std::vector<param_spec> s = [] {
    std::vector<param_spec> out;
    for (const auto& f : models::model_fields())
      if (std::string_view(f.key).find('.') == std::string_view::npos) out.push_back(P(f.key, kind_of(f.kind), f.doc));
    const std::vector<param_spec> conveniences = {
        P("arch", K::string, "model family as a pattern shorthand: gpt, mamba, rwkv, retnet, griffin, hawk"),
        P("mixer", K::string, "the same as arch"),
        P("d_head", K::integer, "per-head width; must be d_model / n_heads", 1, 1 << 16),
        P("d_ff", K::integer, "FFN width (the same as d_mlp)", 1, 1 << 22),
        P("activation", K::string, "the same as ffn", -inf, inf, {"gelu", "swiglu"}),
        P("rope_scaling_type", K::string, "RoPE scaling during training (rope_scaling.type)", -inf, inf,
          {"none", "linear", "ntk", "dynamic", "yarn", "llama3"}),
        P("rope_scaling_factor", K::number, "RoPE scaling factor during training (rope_scaling.factor)", 1.0, 1e6),
    };
    out.insert(out.end(), conveniences.begin(), conveniences.end());
    return out;
  }();
  return s;
}

// A [train] key shared with `lmlab train`: its type and help as train/config.cpp declares them
// (the defaults too: lab/run.cpp reads them from train::optim_config); the lab adds the range.
param_spec shared(const char* key, double min, double max) {
  const train::key_info k = train::train_key(key);
  return P(key, kind_of(k.kind), k.doc.c_str(), min, max);
}

const std::vector<param_spec>& train_schema() {
  using K = param_kind;
  static const std::vector<param_spec> s = {
      shared("steps", 1, 1e15),
      P("tokens", K::number, "training tokens", 1, inf),
      P("flops", K::number, "training FLOPs: steps = flops / (the model's train FLOPs per token x tokens per step)", 1, inf),
      shared("batch_size", 1, 1 << 24),
      P("batch_by_length", K::boolean, "batches of similar-length examples, each example still drawn with probability 1/N (lab/batches.hpp)"),
      P("seq_len", K::integer, "tokens per sequence (default: the task's)", 1, 1 << 24),
      shared("lr", 1e-12, 10.0),
      shared("min_lr", 0.0, 10.0),
      shared("warmup_steps", 0, 1e15),
      P("schedule", K::string, "learning-rate schedule", -inf, inf, {"constant", "linear", "cosine", "wsd"}),
      P("decay_fraction", K::number, "wsd: share of the post-warmup steps spent decaying", 0.0, 1.0),
      P("optimizer", K::string, "optimizer", -inf, inf, {"adamw", "sgd"}),
      shared("weight_decay", 0.0, 10.0),
      shared("beta1", 0.0, 0.999999),
      shared("beta2", 0.0, 0.999999),
      shared("grad_clip", 0.0, inf),
      P("eval_every", K::integer, "evaluate every N steps", 1, 1e15),
      P("eval_examples", K::integer, "test examples per evaluation", 1, 1e12),
      P("eval_rope_scalings", K::string,
        "extra final evaluations with RoPE rescaled without retraining, e.g. \"linear:4;ntk:4;yarn:4\" (one run "
        "evaluates each; commas sweep them as separate runs)"),
      P("threads", K::integer, "threads per run", 1, 4096),
      P("time_limit_s", K::number, "wall-clock limit per run", 1e-3, inf),
      P("mup", K::boolean, "muP parameterisation"),
  };
  return s;
}

const param_spec* find_spec(const std::vector<param_spec>& schema, const std::string& key) {
  for (const auto& s : schema)
    if (s.name == key) return &s;
  return nullptr;
}

std::vector<std::string> names_of(const std::vector<param_spec>& schema) {
  std::vector<std::string> n;
  for (const auto& s : schema) n.push_back(s.name);
  return n;
}

// One key's raw value and where it came from.
struct entry {
  const toml::node* node = nullptr;
  std::string origin;  // "spec.toml:7" or "--set model.d_model=64"
};

std::string origin_of(const toml::node& n, std::string_view source) {
  const auto line = n.source().begin.line;
  return line ? fmt::format("{}:{}", source, line) : std::string(source);
}

[[noreturn]] void fail(const std::string& origin, const std::string& key, const std::string& msg,
                       const std::string& hint = {}) {
  throw lmlab::error(fmt::format("{}: {}: {}", origin, key, msg), hint);
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::string: return "string";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    default: return "date/time";
  }
}

std::string describe(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  if (n.is_string()) return "string '" + n.as_string()->get() + "'";
  std::ostringstream os;
  n.visit([&](auto&& v) { os << v; });
  return toml_type_name(n) + " " + os.str();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? std::string() : item.substr(b, e - b + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The values of one key, checked against its spec: one value, or several (an axis).
class value_reader {
 public:
  value_reader(const param_spec& spec, const entry& e, std::string dotted) : s_(spec), e_(e), key_(std::move(dotted)) {}

  std::vector<json> read() const {
    const toml::node& n = *e_.node;
    const bool list_kind = s_.kind == param_kind::integer_list || s_.kind == param_kind::string_list;
    std::vector<json> out;
    if (list_kind) {
      // A list parameter: an array (or a string) is one value; an array of arrays sweeps.
      if (n.is_array() && !n.as_array()->empty() && n.as_array()->front().is_array()) {
        for (const auto& item : *n.as_array()) out.push_back(list_value(item));
      } else {
        out.push_back(list_value(n));
      }
    } else if (n.is_array()) {
      if (n.as_array()->empty()) fail(e_.origin, key_, "empty array", "give at least one value");
      for (const auto& item : *n.as_array()) {
        if (item.is_array()) fail(e_.origin, key_, "nested arrays are only allowed for list parameters");
        if (item.is_string() && s_.kind != param_kind::string)
          fail(e_.origin, key_, fmt::format("expected {} in the array, got {}", kind_name(), describe(item)),
               "in an array write numbers without quotes, or use one sweep string such as \"64,128\"");
        for (auto& v : scalar(item)) out.push_back(std::move(v));
      }
    } else {
      out = scalar(n);
    }
    std::set<std::string> seen;
    for (const auto& v : out)
      if (!seen.insert(v.dump()).second)
        fail(e_.origin, key_, fmt::format("the value {} appears twice", v.dump()), "each grid value must be distinct");
    return out;
  }

 private:
  std::string kind_name() const { return tasks::param_kind_name(s_.kind); }

  // A sweep string through core/sweep.hpp; its error gains the origin.
  std::vector<json> sweep(const std::string& text, bool integer) const {
    std::vector<json> out;
    try {
      if (integer)
        for (auto v : parse_sweep_int(text, key_)) out.push_back(v);
      else
        for (auto v : parse_sweep(text, key_)) out.push_back(v);
    } catch (const lmlab::error& e) {
      throw lmlab::error(fmt::format("{}: {}", e_.origin, e.what()), e.hint());
    }
    return out;
  }

  void range(double v) const {
    if (v >= s_.min && v <= s_.max) return;
    std::string r = std::isfinite(s_.min) && std::isfinite(s_.max) ? fmt::format("[{}, {}]", s_.min, s_.max)
                    : std::isfinite(s_.min)                       ? fmt::format(">= {}", s_.min)
                                                                  : fmt::format("<= {}", s_.max);
    fail(e_.origin, key_, fmt::format("{} is out of range (must be {})", v, r), s_.help);
  }
  void choice(const std::string& v) const {
    if (s_.choices.empty() || std::find(s_.choices.begin(), s_.choices.end(), v) != s_.choices.end()) return;
    fail(e_.origin, key_, fmt::format("'{}' is not one of: {}", v, fmt::join(s_.choices, ", ")), s_.help);
  }

  std::vector<json> scalar(const toml::node& n) const {
    std::vector<json> out;
    switch (s_.kind) {
      case param_kind::integer:
      case param_kind::number: {
        const bool integer = s_.kind == param_kind::integer;
        if (n.is_string()) {
          const auto parsed = sweep(n.as_string()->get(), integer);
          for (const auto& v : parsed) range(v.get<double>()), out.push_back(v);
        } else if (n.is_integer()) {
          const auto v = n.as_integer()->get();
          range(static_cast<double>(v));
          out.push_back(integer ? json(v) : json(static_cast<double>(v)));
        } else if (n.is_floating_point()) {
          const double v = n.as_floating_point()->get();
          if (integer && (std::round(v) != v || !std::isfinite(v)))
            fail(e_.origin, key_, fmt::format("expected an integer, got float {}", v));
          range(v);
          out.push_back(integer ? json(static_cast<std::int64_t>(v)) : json(v));
        } else {
          fail(e_.origin, key_, fmt::format("expected {}, got {}", integer ? "an integer" : "a number", describe(n)),
               "a sweep is a string such as \"64,128\" or \"256-4096*2\"");
        }
        break;
      }
      case param_kind::boolean:
        if (!n.is_boolean()) fail(e_.origin, key_, fmt::format("expected a boolean, got {}", describe(n)));
        out.push_back(n.as_boolean()->get());
        break;
      case param_kind::string:
        if (!n.is_string()) fail(e_.origin, key_, fmt::format("expected a string, got {}", describe(n)));
        for (const auto& item : split_commas(n.as_string()->get())) {
          if (item.empty()) fail(e_.origin, key_, fmt::format("empty item in '{}'", n.as_string()->get()));
          choice(item);
          out.push_back(item);
        }
        break;
      default:
        LMLAB_ASSERT(false, "list kinds are read by list_value");
    }
    return out;
  }

  json list_value(const toml::node& n) const {
    json arr = json::array();
    if (s_.kind == param_kind::integer_list) {
      if (n.is_string()) {
        for (const auto& v : sweep(n.as_string()->get(), true)) range(v.get<double>()), arr.push_back(v);
        return arr;
      }
      if (!n.is_array()) fail(e_.origin, key_, fmt::format("expected a list of integers, got {}", describe(n)));
      for (const auto& item : *n.as_array()) {
        if (!item.is_integer()) fail(e_.origin, key_, fmt::format("expected a list of integers, got {} in it", describe(item)));
        range(static_cast<double>(item.as_integer()->get()));
        arr.push_back(item.as_integer()->get());
      }
      return arr;
    }
    if (n.is_string()) {
      for (const auto& s : split_commas(n.as_string()->get())) choice(s), arr.push_back(s);
      return arr;
    }
    if (!n.is_array()) fail(e_.origin, key_, fmt::format("expected a list of strings, got {}", describe(n)));
    for (const auto& item : *n.as_array()) {
      if (!item.is_string()) fail(e_.origin, key_, fmt::format("expected a list of strings, got {} in it", describe(item)));
      choice(item.as_string()->get());
      arr.push_back(item.as_string()->get());
    }
    return arr;
  }

  const param_spec& s_;
  const entry& e_;
  std::string key_;
};

struct section_values {
  std::string name;  // model | task | train
  std::vector<std::pair<std::string, std::vector<json>>> keys;  // sorted by key
};

// " (grid point model.d_model=96 task.num_kv_pairs=8)" when the spec has axes.
std::string grid_note(const experiment_spec& spec, const std::vector<std::size_t>& choice) {
  if (spec.axes.empty()) return "";
  std::string s = " (grid point";
  for (std::size_t a = 0; a < spec.axes.size(); ++a)
    s += fmt::format(" {}={}", spec.axes[a].key, spec.axes[a].values[choice[a]].dump());
  return s + ")";
}

std::string strip_owner(const std::string& msg, const std::string& owner, const std::string& key) {
  const std::string prefix = owner + ": " + key + ": ";
  return msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg;
}

// A grid point's model through lm_config's own checks (models/lm_config.cpp: the one place
// that declares what a value may be), located at the key's line. The task's vocabulary and
// length, known only at run time, stand in as 2 and 1 when the spec leaves them out.
void check_model(const json& m, const std::function<std::string(const std::string&)>& origin_of_key,
                 const std::string& note) {
  try {
    json mj = lm_model_json(m);
    if (!mj.contains("vocab_size")) mj["vocab_size"] = 2;
    if (!mj.contains("n_ctx")) mj["n_ctx"] = 1;
    models::lm_config_from_json(mj, "model");
  } catch (const lmlab::error& e) {
    std::string msg = e.what();
    for (const std::string pre : {"model: ", "model."})
      if (msg.rfind(pre, 0) == 0) {
        msg = msg.substr(pre.size());
        break;
      }
    const auto colon = msg.find(": ");
    const std::string key = colon == std::string::npos ? "" : msg.substr(0, colon);
    fail(origin_of_key(key), "model." + key, (colon == std::string::npos ? msg : msg.substr(colon + 2)) + note, e.hint());
  }
}


// A spec's keys before they are checked: top-level scalars and the [model], [task], [train]
// entries, from the file and then from --set (which replaces). Owns the TOML the entries
// point into.
struct spec_entries {
  std::string src;
  toml::table root;
  std::deque<toml::table> override_tables;  // one per --set, kept alive for its node
  std::map<std::string, entry> top;
  std::map<std::string, std::map<std::string, entry>> sections{{"model", {}}, {"task", {}}, {"train", {}}};
  std::map<std::string, std::string> section_origin;

  // Where a key was set, else its section, else the file.
  std::string origin_for(const std::string& sec, const std::string& key) {
    auto it = sections[sec].find(key);
    if (it != sections[sec].end()) return it->second.origin;
    return section_origin.count(sec) ? section_origin[sec] : src;
  }
};

const std::vector<std::string> top_keys = {"name", "question", "description", "seeds", "model", "task", "train"};

toml::table parse_toml(std::string_view toml_text, const std::string& src) {
  try {
    return toml::parse(toml_text, src);
  } catch (const toml::parse_error& e) {
    throw lmlab::error(fmt::format("{}:{}:{}: TOML syntax error: {}", src, e.source().begin.line,
                                   e.source().begin.column, e.description()),
                       "see https://toml.io for the syntax");
  }
}

void gather_file_entries(spec_entries& g) {
  for (auto&& [k, v] : g.root) {
    const std::string key(k.str());
    const std::string where = origin_of(v, g.src);
    // size_overrides(), parse_report_meta(), read_resources() (slurm.hpp)
    if (key == "sizes" || key == "report" || key == "expect" || key == "resources") continue;
    if (g.sections.count(key)) {
      if (!v.is_table()) fail(where, key, fmt::format("expected a table [{}], got {}", key, describe(v)));
      g.section_origin[key] = where;
      for (auto&& [kk, vv] : *v.as_table()) {
        if (vv.is_table())
          fail(origin_of(vv, g.src), key + "." + std::string(kk.str()), "nested tables are not allowed in a section");
        g.sections[key][std::string(kk.str())] = {&vv, origin_of(vv, g.src)};
      }
    } else if (std::find(top_keys.begin(), top_keys.end(), key) != top_keys.end()) {
      g.top[key] = {&v, where};
    } else {
      const std::string near = tasks::closest_name(key, top_keys);
      fail(where, key, "unknown top-level key",
           (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
               "top-level keys: name, question, description, seeds and the sections [model], [task], [train], "
               "[report], [expect], [sizes.NAME], [resources]");
    }
  }
}

// Overrides: `section.key=value` or `key=value`; the value is TOML if it parses, else a string.
void apply_overrides(spec_entries& g, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const std::string origin = "--set " + o;
    const std::size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw lmlab::usage_error(fmt::format("{}: expected KEY=VALUE", origin), "e.g. --set model.d_model=64,128");
    const std::string path = o.substr(0, eq), value = o.substr(eq + 1);
    toml::table t;
    try {
      t = toml::parse("v = " + value);
    } catch (const toml::parse_error&) {
      t = toml::table{};
      t.insert("v", value);
    }
    g.override_tables.push_back(std::move(t));
    const toml::node* node = g.override_tables.back().get("v");
    const std::size_t dot = path.find('.');
    if (dot == std::string::npos) {
      if (std::find(top_keys.begin(), top_keys.end(), path) == top_keys.end() || g.sections.count(path))
        fail(origin, path, "unknown top-level key", "write section.key, e.g. model.d_model");
      g.top[path] = {node, origin};
    } else {
      const std::string sec = path.substr(0, dot), key = path.substr(dot + 1);
      if (!g.sections.count(sec)) {
        const std::string near = tasks::closest_name(sec, {"model", "task", "train"});
        fail(origin, path, fmt::format("unknown section '{}'", sec),
             (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "sections: model, task, train");
      }
      if (key.empty() || key.find('.') != std::string::npos) fail(origin, path, "expected section.key");
      g.sections[sec][key] = {node, origin};
    }
  }
}

std::string top_string(const spec_entries& g, const char* key, bool required) {
  auto it = g.top.find(key);
  if (it == g.top.end()) {
    if (required) throw lmlab::error(fmt::format("{}: {}: missing", g.src, key), "add e.g. name = \"recall\" at the top");
    return std::string();
  }
  if (!it->second.node->is_string())
    fail(it->second.origin, key, fmt::format("expected a string, got {}", describe(*it->second.node)));
  return it->second.node->as_string()->get();
}

// Seeds: an array, a sweep string, or a count.
std::vector<std::int64_t> read_seeds(const spec_entries& g) {
  auto it = g.top.find("seeds");
  if (it == g.top.end()) return {0};
  std::vector<std::int64_t> seeds;
  const entry& e = it->second;
  const toml::node& n = *e.node;
  if (n.is_integer()) {
    const auto count = n.as_integer()->get();
    if (count < 1 || count > 100000) fail(e.origin, "seeds", fmt::format("a count of {} seeds is out of range [1, 100000]", count));
    for (std::int64_t i = 0; i < count; ++i) seeds.push_back(i);
  } else {
    param_spec s = P("seeds", param_kind::integer, "replicate seeds", 0, 9.2e18);
    value_reader r(s, e, "seeds");
    for (const auto& v : r.read()) seeds.push_back(v.get<std::int64_t>());
  }
  return seeds;
}

// The spec's one task (task.name), looked up in the task registry.
const tasks::task_info& read_task(spec_entries& g) {
  if (!g.section_origin.count("task") && g.sections["task"].empty())
    throw lmlab::error(fmt::format("{}: task: missing section", g.src), "add a [task] table with name = \"mqar\" (or another task)");
  if (!g.sections["task"].count("name")) {
    throw lmlab::error(fmt::format("{}: task.name: missing", g.section_origin.count("task") ? g.section_origin["task"] : g.src),
                       "name the task, e.g. name = \"mqar\"");
  }
  const entry& task_name_entry = g.sections["task"]["name"];
  if (!task_name_entry.node->is_string())
    fail(task_name_entry.origin, "task.name", fmt::format("expected a string, got {}", describe(*task_name_entry.node)));
  const std::string task_name = task_name_entry.node->as_string()->get();
  if (task_name.find(',') != std::string::npos)
    fail(task_name_entry.origin, "task.name", "a spec has one task", "write one spec per task");
  try {
    return tasks::find_task(task_name);
  } catch (const lmlab::error& e) {
    fail(task_name_entry.origin, "task.name", fmt::format("unknown task '{}'", task_name), e.hint());
  }
}

// Every key of the three sections read into its list of values, checked against its schema.
std::vector<section_values> read_values(spec_entries& g, const tasks::task_info& task, const std::string& task_name) {
  std::vector<section_values> values;
  for (const char* sec : {"model", "task", "train"}) {
    const std::vector<param_spec>& schema =
        std::string(sec) == "model" ? model_schema() : std::string(sec) == "train" ? train_schema() : task.params;
    section_values sv{sec, {}};
    for (const auto& [key, e] : g.sections[sec]) {
      const std::string dotted = std::string(sec) + "." + key;
      if (std::string(sec) == "task" && key == "name") continue;
      const param_spec* s = find_spec(schema, key);
      if (!s) {
        const auto names = names_of(schema);
        const std::string near = tasks::closest_name(key, names);
        const std::string what = std::string(sec) == "task" ? fmt::format("unknown key for task '{}'", task_name)
                                                            : fmt::format("unknown key in [{}]", sec);
        fail(e.origin, dotted, what,
             (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                 fmt::format("known keys: {}", fmt::join(names, ", ")));
      }
      sv.keys.emplace_back(key, value_reader(*s, e, dotted).read());
    }
    values.push_back(std::move(sv));
  }
  return values;
}

void check_budget(spec_entries& g) {
  const auto& tr = g.sections["train"];
  if (!tr.count("steps") && !tr.count("tokens") && !tr.count("flops"))
    throw lmlab::error(fmt::format("{}: train: no training budget", g.section_origin.count("train") ? g.section_origin["train"] : g.src),
                       "give train.steps, train.tokens or train.flops");
}

// The keys with several values become the spec's axes; returns each axis's (section, key index).
std::vector<std::pair<std::size_t, std::size_t>> collect_axes(const std::vector<section_values>& values,
                                                              experiment_spec& spec) {
  std::vector<std::pair<std::size_t, std::size_t>> axis_pos;
  for (std::size_t s = 0; s < values.size(); ++s)
    for (std::size_t k = 0; k < values[s].keys.size(); ++k)
      if (values[s].keys[k].second.size() > 1) {
        axis_pos.push_back({s, k});
        spec.axes.push_back({values[s].name + "." + values[s].keys[k].first, values[s].keys[k].second});
      }
  return axis_pos;
}

// The number of grid points times seeds, counted before anything is materialised: each run
// holds its config (about 3 KB and 30 us to build), so the cap keeps the worst spec at a few
// seconds and a few hundred MB.
std::size_t grid_runs(const experiment_spec& spec, const std::string& src) {
  constexpr std::size_t kMaxRuns = 100000;
  double grid = static_cast<double>(spec.seeds.size());
  for (const auto& a : spec.axes) grid *= static_cast<double>(a.values.size());
  LMLAB_CHECK_HINT(grid <= static_cast<double>(kMaxRuns), "narrow the sweeps or split the spec",
                   "{}: the grid has {:.0f} runs, more than the {} one spec may expand to", src, grid, kMaxRuns);
  return static_cast<std::size_t>(grid);
}

// Grid point i's value index per axis (last axis fastest).
void decode_grid_point(const experiment_spec& spec, std::size_t i, std::vector<std::size_t>& choice) {
  std::size_t rem = i;
  for (std::size_t a = spec.axes.size(); a-- > 0;) {
    choice[a] = rem % spec.axes[a].values.size();
    rem /= spec.axes[a].values.size();
  }
}

// One grid point's {model, task, train}: each key's value, or its axis's chosen one.
json grid_point_config(const std::vector<section_values>& values,
                       const std::vector<std::pair<std::size_t, std::size_t>>& axis_pos,
                       const std::vector<std::size_t>& choice) {
  json cfg = json::object();
  for (std::size_t s = 0; s < values.size(); ++s) {
    json sec = json::object();
    for (std::size_t k = 0; k < values[s].keys.size(); ++k) {
      std::size_t pick = 0;
      for (std::size_t a = 0; a < axis_pos.size(); ++a)
        if (axis_pos[a] == std::make_pair(s, k)) pick = choice[a];
      sec[values[s].keys[k].first] = values[s].keys[k].second[pick];
    }
    cfg[values[s].name] = std::move(sec);
  }
  return cfg;
}

// The task's canonical form with defaults; errors located at the offending key.
void canonicalise_task(json& cfg, const tasks::task_info& task, const std::string& task_name, spec_entries& g,
                       const std::string& note) {
  json task_params = cfg["task"];
  try {
    cfg["task"] = task.canonical(task_params);
  } catch (const tasks::param_error& e) {
    const std::string key = e.key().empty() ? "name" : e.key();
    fail(g.origin_for("task", key), "task." + key, strip_owner(e.what(), task_name, key) + note, e.hint());
  }
  cfg["task"]["name"] = task_name;
}

// Checks across model keys, the model's own checks, and checks across train keys.
// The divisibility checks read only positive divisors: a zero or negative one (n_kv_heads = 0
// means n_heads) is left to check_model's range errors, never divided by.
void check_model_and_train(const json& cfg, spec_entries& g, const std::string& note) {
  const json& m = cfg["model"];
  const auto positive = [&](const char* key) { return m.contains(key) && m[key].get<std::int64_t>() > 0; };
  if (m.contains("d_model") && positive("n_heads") && !m.contains("d_head") &&
      m["d_model"].get<std::int64_t>() % m["n_heads"].get<std::int64_t>() != 0)
    fail(g.origin_for("model", "n_heads"), "model.n_heads",
         fmt::format("d_model {} is not divisible by n_heads {}{}", m["d_model"].get<std::int64_t>(),
                     m["n_heads"].get<std::int64_t>(), note),
         "set d_head explicitly or pick n_heads dividing d_model");
  if (positive("n_kv_heads") && m.contains("n_heads") &&
      m["n_heads"].get<std::int64_t>() % m["n_kv_heads"].get<std::int64_t>() != 0)
    fail(g.origin_for("model", "n_kv_heads"), "model.n_kv_heads",
         fmt::format("n_heads {} is not divisible by n_kv_heads {}{}", m["n_heads"].get<std::int64_t>(),
                     m["n_kv_heads"].get<std::int64_t>(), note));
  if (m.contains("top_k") && m.contains("n_experts") && m["top_k"].get<std::int64_t>() > m["n_experts"].get<std::int64_t>())
    fail(g.origin_for("model", "top_k"), "model.top_k",
         fmt::format("top_k {} exceeds n_experts {}", m["top_k"].get<std::int64_t>(), m["n_experts"].get<std::int64_t>()));
  check_model(m, [&](const std::string& key) { return g.origin_for("model", key); }, note);
  const json& t = cfg["train"];
  if (t.contains("min_lr") && t.contains("lr") && t["min_lr"].get<double>() > t["lr"].get<double>())
    fail(g.origin_for("train", "min_lr"), "train.min_lr",
         fmt::format("min_lr {} exceeds lr {}{}", t["min_lr"].get<double>(), t["lr"].get<double>(), note));
  if (t.contains("warmup_steps") && t.contains("steps") &&
      t["warmup_steps"].get<std::int64_t>() > t["steps"].get<std::int64_t>())
    fail(g.origin_for("train", "warmup_steps"), "train.warmup_steps",
         fmt::format("warmup_steps {} exceeds steps {}", t["warmup_steps"].get<std::int64_t>(), t["steps"].get<std::int64_t>()));
}

// One run per seed of a grid point's config (seeds innermost).
void add_replicates(experiment_spec& spec, const json& cfg, std::set<std::string>& ids) {
  for (const auto replicate : spec.seeds) {
    run_config r;
    r.index = spec.runs.size();
    r.replicate = replicate;
    r.seed = derive_seed(replicate);
    r.config = cfg;
    r.config["seed"] = replicate;
    r.id = run_id(r.config);
    LMLAB_ASSERT(ids.insert(r.id).second, "two runs of one grid share an id");
    spec.runs.push_back(std::move(r));
  }
}

}  // namespace

json lm_model_json(const json& m) {
  json out = json::object();
  auto pattern_of = [](const std::string& key, const std::string& v) -> std::string {
    std::string p = models::pattern_for_arch(v);
    if (p.empty())
      throw error(fmt::format("model.{}: unknown value '{}'", key, v),
                  "use gpt, mamba, rwkv, retnet, griffin, hawk, or give model.pattern");
    return p;
  };
  for (auto& [k, v] : m.items()) {
    if (k == "arch" || k == "mixer") {
      if (!m.contains("pattern")) out["pattern"] = pattern_of(k, v.get<std::string>());
    } else if (k == "d_ff") {
      out["d_mlp"] = v;
    } else if (k == "activation") {
      const std::string a = v.get<std::string>();
      LMLAB_CHECK_HINT(a == "gelu" || a == "swiglu", "use gelu or swiglu", "model.activation: '{}' is not implemented", a);
      out["ffn"] = a;
    } else if (k == "d_head") {
      LMLAB_CHECK_HINT(m.contains("d_model") && m.contains("n_heads") &&
                           v.get<std::int64_t>() * m["n_heads"].get<std::int64_t>() == m["d_model"].get<std::int64_t>(),
                       "leave d_head out: it is d_model / n_heads", "model.d_head: only d_model / n_heads is supported");
    } else if (k == "rope_scaling_type") {
      out["rope_scaling"]["type"] = v;
    } else if (k == "rope_scaling_factor") {
      out["rope_scaling"]["factor"] = v;
    } else {
      out[k] = v;
    }
  }
  return out;
}

std::vector<std::string> model_keys() { return names_of(model_schema()); }
std::vector<std::string> train_keys() { return names_of(train_schema()); }

std::string run_id(const json& config) {
  const std::string text = config.dump();
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}).substr(0, 16);
}

std::uint64_t derive_seed(std::int64_t replicate) {
  // splitmix64 (Steele et al. 2014) of the replicate: well-mixed, stable across versions.
  std::uint64_t z = static_cast<std::uint64_t>(replicate) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

experiment_spec parse_spec(std::string_view toml_text, std::string_view source,
                           const std::vector<std::string>& overrides) {
  spec_entries g;
  g.src = std::string(source);
  g.root = parse_toml(toml_text, g.src);
  gather_file_entries(g);
  apply_overrides(g, overrides);

  experiment_spec spec;
  spec.source = g.src;
  spec.name = top_string(g, "name", true);
  spec.question = top_string(g, "question", false);
  spec.description = top_string(g, "description", false);
  spec.seeds = read_seeds(g);
  const tasks::task_info& task = read_task(g);
  const std::string task_name = g.sections["task"]["name"].node->as_string()->get();
  const std::vector<section_values> values = read_values(g, task, task_name);
  if (task.build) check_budget(g);  // a lab runner's task (no dataset) sets its own (lab/runner.hpp)

  // The Cartesian product of the axes (last axis fastest; seeds innermost).
  const auto axis_pos = collect_axes(values, spec);
  const std::size_t total = grid_runs(spec, g.src);
  std::vector<std::size_t> choice(spec.axes.size(), 0);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < total / spec.seeds.size(); ++i) {
    decode_grid_point(spec, i, choice);
    json cfg = grid_point_config(values, axis_pos, choice);
    canonicalise_task(cfg, task, task_name, g, grid_note(spec, choice));
    check_model_and_train(cfg, g, grid_note(spec, choice));
    add_replicates(spec, cfg, ids);
  }
  spec.meta = parse_report_meta(toml_text, g.src, spec.name, task_name);
  return spec;
}

experiment_spec load_spec(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  return parse_spec(read_text_file(path), path.string(), overrides);
}

namespace {
toml::table parse_sizes_root(std::string_view toml_text, std::string_view source) {
  try {
    return toml::parse(toml_text, std::string(source));
  } catch (const toml::parse_error& e) {
    throw lmlab::error(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
}
}  // namespace

bool has_size(std::string_view toml_text, std::string_view source, std::string_view size) {
  const toml::table root = parse_sizes_root(toml_text, source);
  const toml::node* sizes = root.get("sizes");
  // No [sizes] at all: the spec runs as written at every size.
  return size == "full" || !sizes || (sizes->is_table() && sizes->as_table()->get(size) != nullptr);
}

std::vector<std::string> size_overrides(std::string_view toml_text, std::string_view source, std::string_view size) {
  const toml::table root = parse_sizes_root(toml_text, source);
  std::vector<std::string> out;
  const toml::node* sizes = root.get("sizes");
  if (!sizes) return out;
  LMLAB_CHECK(sizes->is_table(), "{}: sizes: expected tables [sizes.quick], [sizes.full]", source);
  const toml::node* t = sizes->as_table()->get(size);
  if (!t && size == "full") return out;  // the base values are the full size
  LMLAB_CHECK_HINT(t && t->is_table(), "add a [sizes." + std::string(size) + "] table of section.key = value overrides",
                   "{}: no size '{}'", source, size);
  for (auto&& [k, v] : *t->as_table()) {
    std::ostringstream os;
    if (v.is_string()) os << *v.as_string();
    else if (v.is_array()) os << *v.as_array();
    else if (v.is_table()) throw lmlab::error(fmt::format("{}: sizes.{}.{}: expected a value", source, size, k.str()));
    else v.visit([&](auto&& x) { os << x; });
    out.push_back(std::string(k.str()) + "=" + os.str());
  }
  return out;
}

}  // namespace lmlab::lab
