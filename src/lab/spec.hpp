// Experiment specs: a TOML file that says "this model grid x this task x this training
// budget x these seeds", expanded into a deterministic, ordered list of runs. Each run is
// a JSON object {model, task, train, seed} with a stable id (the first 16 hex digits of the
// sha256 of its canonical JSON) and a derived 64-bit seed.
//
//   name = "recall"                    # required
//   question = "Does attention ..."    # optional, quoted by the report
//   seeds = [0, 1, 2]                  # replicate seeds: an array, a sweep "0-4+1", or a count 3 (= 0,1,2)
//   [model]
//   arch = "gpt,mamba"                 # a string axis: comma list or TOML array
//   d_model = "64,128,256"             # numeric axes use the llama-bench sweep grammar
//   n_layers = 2
//   [task]
//   name = "mqar"                      # a task of the registry (tasks/registry.hpp)
//   num_kv_pairs = [4, 8, 16]          # TOML arrays are axes too
//   [train]
//   steps = 2000                       # budget: steps, tokens or flops (at least one)
//   lr = "1e-3,3e-3"
//   [report] ... [expect] ...          # what the report shows and checks: experiment_meta.hpp
//
// A key whose value lists several values is an axis; runs are the Cartesian product of the
// axes in the order model, task, train (keys sorted by name within a section), seeds last
// and fastest. A task parameter that is itself a list (test_num_kv_pairs) takes an array as
// its value; an array of arrays sweeps it. `--set section.key=value` overrides (the value
// is read as TOML, else as a string, so `--set model.d_model=64,128` sweeps).
// Errors name the key and where it came from: `spec.toml:7: model.d_model: ...` or
// `--set model.d_model=x: model.d_model: ...`.
// The derived seed depends only on the replicate seed, so every grid point of replicate k
// sees the same data order and initialisation stream (paired comparisons across the grid).
// Not for: running the runs (lab/sweep, later), storing results (store/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lab/experiment_meta.hpp"

namespace lmlab::lab {

struct run_config {
  std::size_t index = 0;        // position in the grid
  std::string id;               // 16 hex digits of sha256(config.dump())
  std::int64_t replicate = 0;   // the seed as written in the spec
  std::uint64_t seed = 0;       // derived from `replicate`
  nlohmann::json config;        // {"model": {...}, "task": {...}, "train": {...}, "seed": replicate}
};

struct spec_axis {
  std::string key;                      // "model.d_model"
  std::vector<nlohmann::json> values;
};

struct experiment_spec {
  std::string name;
  std::string question;
  std::string description;
  std::string source;                   // file name used in messages
  std::vector<spec_axis> axes;          // in expansion order (seeds excluded)
  std::vector<std::int64_t> seeds;
  std::vector<run_config> runs;
  report_meta meta;                     // [report] and [expect] (experiment_meta.hpp)
};

// Parses TOML text; `source` names it in errors. Throws lmlab::error.
experiment_spec parse_spec(std::string_view toml_text, std::string_view source,
                           const std::vector<std::string>& overrides = {});
experiment_spec load_spec(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

// A spec may carry sizes, e.g. [sizes.quick] with "train.steps" = 300: the overrides (as
// "section.key=value" strings, applied before the user's --set) for that size.
std::vector<std::string> size_overrides(std::string_view toml_text, std::string_view source, std::string_view size);
// The size "full" is the base values when there is no [sizes.full] table.
// Whether the spec runs at size NAME: it has a [sizes.NAME] table, or no [sizes] tables at
// all, or NAME is "full". `lab suite --size NAME` runs only those (an experiment too costly to
// decide anything at quick size has [sizes.full] but no [sizes.quick]).
bool has_size(std::string_view toml_text, std::string_view source, std::string_view size);

// The run id of a canonical config, and the derived seed of a replicate.
std::string run_id(const nlohmann::json& config);
std::uint64_t derive_seed(std::int64_t replicate);

// The spec's [model] object -> the keys of models/lm_config.hpp, resolving the lab's
// conveniences: arch/mixer (a pattern: gpt, mamba, rwkv, retnet, griffin, hawk), d_ff (d_mlp),
// activation (ffn), d_head (must be d_model / n_heads), rope_scaling_type and
// rope_scaling_factor (the nested rope_scaling object). Errors name "model.<key>".
nlohmann::json lm_model_json(const nlohmann::json& spec_model);

// Known keys of the [model] and [train] sections, for help texts and docs. The model keys are
// models::model_fields() (declared once, in models/lm_config.cpp) plus the conveniences above.
std::vector<std::string> model_keys();
std::vector<std::string> train_keys();

}  // namespace lmlab::lab
