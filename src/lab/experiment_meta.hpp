// What the report needs to know about an experiment, read from its spec TOML beside the grid:
// the title, the research question (an id into data/notes/questions.json), the figures, and
// the published expectation with a small declarative agreement rule. The report evaluates the
// rule against the store (report/agreement.cpp); this file only parses and checks it.
//
//   [report]
//   title = "Associative recall: attention vs recurrent mixers"
//   question = "recall"                       # id in data/notes/questions.json (default: name)
//   figures = ["loss", "slices", "heatmap", "final"]   # the built-in figures (default: these four;
//                                             #   "metrics" adds a table of every test metric per
//                                             #   slice, mean ± 95% CI over seeds)
//   [[report.plot]]                           # extra: a per-variant metric against another
//   id = "state"                              #   figure id (fig-<experiment>-state.csv)
//   title = "Recall against state size"
//   x = "state_bytes"                         #   metrics (grammar below), mean over seeds;
//   y = "accuracy@hardest"                    #   y gets the seeds' 95% CI as error bars
//   series = "model.arch"                     #   a config key: one line per value (default: variant)
//                                             #   x and y both NAME@each: a point per variant and slice
//   log_x = true
//   # x = "step": y is a run metric logged over training, one line per series (mean, 95% CI band)
//   # x = "slice": y = "METRIC[@PREFIX*]", the test evaluations of METRIC per slice: slices
//   #   "KEY=NUM" or "GROUP/KEY=NUM" give lines over NUM per GROUP; "ROW=NUM/COL=NUM" a heatmap
//
//   [expect]
//   published = "attention solves MQAR while small-state recurrent mixers degrade"
//   citation = "Arora et al. 2023, Zoology (arXiv:2312.04927)"
//   summary = "the best attention variant beats every recurrent one at the hardest slice"
//   quick_limit = "at 700 steps ..."         # optional: why the quick size cannot decide, with the
//                                             #   numbers; the report prints it beside an undecided
//                                             #   verdict, next to the archived full size (lab/archive.hpp)
//   [expect.groups]                           # named variant groups: conditions on the config
//   attention = "model.pattern ~ A+"          #   key op value, joined by " and "; ops: = != < <=
//   recurrent = "model.pattern ~ [^A]+"       #   > >= ~ (regex, whole value) in (a, b, ...)
//   [expect.exclude]                          # optional: seeds left out of every check, named
//   metric = "accuracy@id/*"                  #   in the verdict: those whose metric is below
//   below = 0.9                               #   `below` (the model did not learn); fewer than
//   reason = "did not learn the task"         #   min_seeds (default 3) left in a variant: not
//   min_seeds = 3                             #   decided
//   [[expect.require]]                        # preconditions: when one fails, the verdict is
//   left = "max(all).accuracy@id/*"           #   "not decided: <otherwise>"
//   op = ">="
//   right = 0.9
//   otherwise = "the model did not learn the task"
//   [[expect.rule]]                           # every rule must hold for "agrees"
//   metric = "accuracy@hardest"               #   default metric of both sides (default: accuracy)
//   left = "max(attention)"
//   op = ">"
//   right = "max(recurrent)"
//
// A metric is NAME[@SLICE]: NAME an evaluation metric of the test split (accuracy) or a run
// metric (final_train_loss, n_params, steps, train_flops, state_bytes: the last value logged);
// SLICE a test slice ("kv=8"), "hardest"/"easiest" (by difficulty), or "PREFIX*" (the mean of
// a run's slices starting with PREFIX); no slice: "all". Each seed gives one value; a variant's
// value is their mean with a Student-t 95% CI.
// A side (left/right) is a number, or AGG(GROUP)[.METRIC]: AGG max or min (the variant with the
// highest/lowest value of the group) or each (every variant; each(g) on both sides pairs a
// variant with itself); GROUP a name from [expect.groups] or "all". In a rule with
//   pair = { differ = "model.n_layers", closest = "n_params", within = 0.15 }
// the sides are "first" and "second": the two variants that differ in `differ` whose `closest`
// metric is nearest (relative gap at most `within`, else not decided).
// op: > >= < <= (left op right, with `margin` required in the op's direction: l >= r + margin,
// l < r - margin) or within (|l - r| / min(|l|, |r|) <= margin). tolerance = NUMBER or "ci"
// (the right side's CI half-width, at least tolerance_min) is allowed against the margin.
// ci_overlap = "undecided": when the two sides' 95% CIs overlap (or the right number lies in the
// left's CI) the rule is not decided. A group or slice without finished runs: not decided.
// Errors name the file and key: "experiments/x.toml: expect.rule[2].op: ...".
// Not for: evaluating the rule (report/), the grid (spec.hpp).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::lab {

// NAME[@SLICE]; slice empty: "all".
struct metric_ref {
  std::string name = "accuracy";
  std::string slice;
  std::string text() const { return slice.empty() ? name : name + "@" + slice; }
};

// One test on a variant's config value: "model.pattern ~ A+".
struct condition {
  std::string key;                  // "model.pattern"
  std::string op;                   // = != < <= > >= ~ in
  std::vector<std::string> values;  // one, or the list of `in`
};

struct variant_group {
  std::string name;
  std::string where;             // as written
  std::vector<condition> all_of;
};

enum class side_kind { number, max, min, each, first, second };

struct side {
  side_kind kind = side_kind::number;
  double number = 0;
  std::string group;  // max/min/each
  metric_ref metric;
  std::string text;   // as written, for messages
};

struct pair_choice {
  std::string differ;   // config key whose values must differ
  metric_ref closest;   // the two variants nearest in this metric
  double within = 0;    // largest relative gap |a - b| / max(a, b)
};

struct check {
  std::string key;  // "expect.rule[2]" for messages
  side left, right;
  std::string op;   // > >= < <= within
  double margin = 0;
  bool tolerance_ci = false;
  double tolerance = 0;  // a number, or with tolerance_ci the floor under the CI half-width
  bool ci_overlap_undecided = false;
  std::optional<pair_choice> pair;
  std::string otherwise;  // preconditions: why the verdict is not decided when it fails
};

// [expect.exclude]: runs whose metric is below `below` (a seed that did not learn the task) are
// left out of every precondition and rule, and the verdict names them; a variant left with fewer
// than min_seeds seeds makes the verdict "not decided".
struct exclusion {
  metric_ref metric;
  double below = 0;
  std::string reason;
  std::size_t min_seeds = 3;
};

struct expectation {
  std::string published;
  std::string citation;
  std::string summary;
  std::string quick_limit;  // why the quick size cannot decide ("" when it can or nobody said)
  std::optional<exclusion> exclude;
  std::vector<variant_group> groups;
  std::vector<check> require;
  std::vector<check> rules;
};

struct plot_spec {
  std::string id;
  std::string title;
  metric_ref x, y;
  std::string series;  // config key; empty: the variant label
  bool log_x = false;
};

struct report_meta {
  std::string source;    // the file that carried it ("" when no file did)
  std::string title;     // default: the experiment name
  std::string question;  // id in questions.json; default: the experiment name
  std::vector<std::string> figures = {"loss", "slices", "heatmap", "final"};
  std::vector<plot_spec> plots;
  std::optional<expectation> expect;
  bool declared = false;  // the file has a [report] or [expect] table
  std::vector<std::filesystem::path> files;  // every spec file of the experiment (load_experiment_metas)
};

// The built-in figure names.
const std::vector<std::string>& builtin_figures();

// Reads [report] and [expect] of a spec whose task is `task_name` (for checking task.* keys).
// Throws lmlab::error naming `source` and the key.
report_meta parse_report_meta(std::string_view toml_text, std::string_view source, const std::string& experiment,
                              const std::string& task_name);

// Every *.toml in `dir` by experiment name. Several files may share a name (a sweep split in
// two files); at most one of them may carry [report]/[expect]. When `question_ids` is given,
// each declared meta's question (one with [report]) must be one of them (questions_file names it in the error).
std::map<std::string, report_meta> load_experiment_metas(const std::filesystem::path& dir,
                                                         const std::set<std::string>* question_ids = nullptr,
                                                         const std::string& questions_file = "questions.json");

}  // namespace lmlab::lab
