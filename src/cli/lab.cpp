// `lmlab lab`: run experiment specs as resumable sweeps (run; one shard of one with --shard,
// merge to fold shards in, slurm to write a job array of shards), the curated suite that is
// the main job (suite), one run inside a sweep's child process (exec, hidden), the results
// store (ls, show, export) and the probe tasks (tasks, task). Logic lives in src/lab/ and src/tasks/.
// Not for: the HTML report (`lmlab report`), single LM training runs (`lmlab train`).
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <memory>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "core/table.hpp"
#include "lab/archive.hpp"
#include "lab/experiment_meta.hpp"
#include "lab/run.hpp"
#include "lab/shard.hpp"
#include "lab/slurm.hpp"
#include "lab/spec.hpp"
#include "lab/sweep.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"

namespace {
namespace fs = std::filesystem;
using namespace lmlab;

struct lab_args {
  std::vector<std::string> specs, sets;
  std::string store = "lmlab.db", runs_dir = "runs", size, out = "lmlab-report", format = "text", run, dir, table = "runs";
  std::string experiments = "experiments", only, shard;
  int jobs = 1, threads = 0;
  bool retry_failed = false, no_report = false;
};

// A spec file with its --size and --set applied.
lab::experiment_spec load_sized_spec(const lab_args& a, const std::string& file) {
  const std::string text = read_text_file(file);
  std::vector<std::string> overrides;
  if (!a.size.empty()) overrides = lab::size_overrides(text, file, a.size);
  overrides.insert(overrides.end(), a.sets.begin(), a.sets.end());
  return lab::parse_spec(text, file, overrides);
}

// The specs' runs in one queue over the -j workers (lab/sweep.hpp run_sweeps), longest first.
lab::sweep_summary run_specs(const lab_args& a, const std::vector<std::string>& files) {
  std::vector<lab::experiment_spec> specs;
  for (const auto& f : files) specs.push_back(load_sized_spec(a, f));
  lab::sweep_options o;
  if (!a.shard.empty()) o.only_shard = lab::parse_shard(a.shard);
  o.jobs = a.jobs;
  o.threads = a.threads;
  o.store = a.store;
  o.runs_dir = a.runs_dir;
  o.retry_failed = a.retry_failed;
  lab::sweep_summary total;
  for (const auto& s : lab::run_sweeps(specs, o)) {
    total.total += s.total;
    total.skipped += s.skipped;
    total.finished += s.finished;
    total.failed += s.failed;
    total.failures.insert(total.failures.end(), s.failures.begin(), s.failures.end());
  }
  return total;
}

void print_failures(const lab::sweep_summary& s) {
  for (const auto& f : s.failures) std::fprintf(stderr, "  failed: %s\n", f.c_str());
}

void add_store_option(CLI::App* c, const std::shared_ptr<lab_args>& a) {
  c->add_option("--store", a->store, "results store (SQLite)")->capture_default_str();
}

void add_merge(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  CLI::App* merge = lab->add_subcommand("merge", "Fold a sharded sweep's per-run stores (<runs-dir>/**/run.db) into the store");
  merge->add_option("spec", a->specs, "specs whose runs must all be there (lists the missing ones)")->check(CLI::ExistingFile);
  merge->add_option("--size", a->size, "the --size the shards ran with");
  merge->add_option("--set", a->sets, "the --set overrides the shards ran with; repeatable");
  add_store_option(merge, a);
  merge->add_option("--runs-dir", a->runs_dir, "run folders the shards wrote")->capture_default_str();
  merge->callback([a]() {
    std::vector<lab::experiment_spec> specs;
    for (const auto& f : a->specs) specs.push_back(load_sized_spec(*a, f));
    store::results_store db(a->store);
    auto m = lab::merge_run_stores(db, a->runs_dir, specs, stderr);
    std::printf("merge into %s: %d added, %d replaced, %d unchanged, %zu files skipped, %d in progress (run.db.partial)\n",
                a->store.c_str(), m.added, m.replaced, m.unchanged, m.warnings.size(), m.in_progress);
    for (const auto& r : m.missing) std::printf("  missing: %s\n", r.c_str());
    if (!m.missing.empty())
      throw error(fmt::format("lab merge: {} runs of the spec have no result yet", m.missing.size()),
                  "rerun the shards that lack them (`lab run SPEC --shard I/N` resumes), then merge again");
  });
}

struct slurm_args {
  int shards = 0, max_running = 16, jobs_per_task = 1, cpus = 0;
  std::string mem, time, partition, logs = "slurm-logs", script, lmlab;
};

void add_slurm(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  auto s = std::make_shared<slurm_args>();
  CLI::App* cmd = lab->add_subcommand("slurm", "Write an sbatch script that runs a spec as a Slurm job array of shards");
  cmd->add_option("spec", a->specs, "experiment spec TOML file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--size", a->size, "a [sizes.NAME] table of the spec to apply (quick, full)");
  cmd->add_option("--set", a->sets, "override section.key=value; repeatable");
  cmd->add_option("--store", a->store, "the main store `lab merge` folds the shards into")->capture_default_str();
  cmd->add_option("--runs-dir", a->runs_dir, "run folders (on a filesystem every node sees)")->capture_default_str();
  cmd->add_option("--shards", s->shards, "array tasks N (default: one per run)");
  cmd->add_option("--max-running", s->max_running, "K in --array=0-(N-1)%K: tasks at once")->capture_default_str();
  cmd->add_option("-j,--jobs-per-task", s->jobs_per_task, "runs in parallel inside a task")->capture_default_str();
  cmd->add_option("--cpus-per-task", s->cpus, "cores per task (default: the spec's [resources], else 1)");
  cmd->add_option("--mem", s->mem, "memory per task, e.g. 4G (default: [resources], else 2G)");
  cmd->add_option("--time", s->time, "time limit per task (default: [resources], else 01:00:00)");
  cmd->add_option("--partition", s->partition, "Slurm partition (default: the cluster's)");
  cmd->add_option("--logs", s->logs, "folder for the tasks' logs")->capture_default_str();
  cmd->add_option("--lmlab", s->lmlab, "the lmlab binary the nodes run (default: this one)");
  cmd->add_option("-o,--output", s->script, "script file (default: <experiment>.sbatch)");
  cmd->callback([a, s]() {
    LMLAB_CHECK(a->specs.size() == 1, "lab slurm: give one spec (got {})", a->specs.size());
    const std::string file = a->specs[0];
    const auto spec = load_sized_spec(*a, file);
    lab::slurm_job j;
    j.name = spec.name;
    j.lmlab = s->lmlab.empty() ? fs::read_symlink("/proc/self/exe").string() : s->lmlab;
    j.workdir = fs::current_path().string();
    const std::string runs_dir = fs::absolute(a->runs_dir).string();
    j.run_args = {fs::absolute(file).string()};
    if (!a->size.empty()) j.run_args.insert(j.run_args.end(), {"--size", a->size});
    for (const auto& x : a->sets) j.run_args.insert(j.run_args.end(), {"--set", x});
    j.run_args.insert(j.run_args.end(), {"--runs-dir", runs_dir});
    const int runs = static_cast<int>(spec.runs.size());
    j.shards = s->shards > 0 ? std::min(s->shards, runs) : runs;
    j.max_running = std::min(s->max_running, j.shards);
    j.jobs_per_task = s->jobs_per_task;
    j.res = lab::read_resources(read_text_file(file), file);
    if (s->cpus > 0) j.res.cpus_per_task = s->cpus;
    if (!s->mem.empty()) j.res.mem = s->mem;
    if (!s->time.empty()) j.res.time = s->time;
    j.partition = s->partition;
    j.log_dir = fs::absolute(s->logs).string();
    std::string merge = lab::shell_quote(j.lmlab) + " lab merge";
    for (std::size_t i = 0; i < j.run_args.size(); ++i) merge += " " + lab::shell_quote(j.run_args[i]);
    merge += " --store " + lab::shell_quote(fs::absolute(a->store).string());
    j.merge_command = merge;
    const std::string out = s->script.empty() ? spec.name + ".sbatch" : s->script;
    fs::create_directories(j.log_dir);  // Slurm does not create the --output folder
    write_file_atomic(out, lab::sbatch_script(j));
    std::printf("%s: %d runs in %d array tasks (at most %d at once), %d cores and %s each; logs in %s\n", out.c_str(), runs,
                j.shards, j.max_running, j.res.cpus_per_task, j.res.mem.c_str(), j.log_dir.c_str());
    std::printf("submit:  sbatch %s\nthen:    %s\n", lab::shell_quote(out).c_str(), merge.c_str());
  });
}

// archive: an experiment's finished runs at one size -> results/full/<experiment>.jsonl.
void add_archive(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = lab->add_subcommand(
      "archive", "Write an experiment's finished runs at one size into a committed text archive the report shows");
  cmd->add_option("spec", a->specs, "the experiment's spec TOML (other files in its folder with the same name join it)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--size", a->size, "the size its runs were run at (default: full)");
  add_store_option(cmd, a);
  cmd->add_option("--out", *out, "archive file (default: results/full/<experiment>.jsonl)");
  cmd->footer("Example: lmlab lab archive experiments/scan.toml --size full --store full.db\n"
              "         (writes results/full/scan.jsonl; `lmlab report` shows its verdict beside the quick one: docs/lab.md)");
  cmd->callback([a, out]() {
    if (a->size.empty()) a->size = "full";
    LMLAB_CHECK_HINT(fs::exists(a->store), "run the experiment first: lmlab lab run SPEC --size " + a->size + " --store STORE",
                     "lab archive: no results store at {}", a->store);
    std::set<fs::path> files;
    for (const auto& f : a->specs) {
      const std::string name = lab::load_spec(f).name;
      files.insert(f);
      const fs::path dir = fs::path(f).parent_path().empty() ? fs::path(".") : fs::path(f).parent_path();
      const auto metas = lab::load_experiment_metas(dir);
      for (const auto& g : metas.at(name).files) files.insert(fs::path(f).parent_path().empty() ? g.filename() : g);
    }
    const std::vector<fs::path> specs(files.begin(), files.end());
    std::string experiment;
    lab::size_run_ids(specs, a->size, &experiment);
    const fs::path file = out->empty() ? fs::path("results/full") / (experiment + ".jsonl") : fs::path(*out);
    std::string command = "lmlab lab archive";
    for (const auto& f : a->specs) command += " " + lab::shell_quote(f);
    command += " --size " + a->size + " --store " + lab::shell_quote(a->store) + " --out " + lab::shell_quote(file.string());
    store::results_store db(a->store);
    const auto sum = lab::write_archive(db, specs, a->size, file, command);
    std::printf("%s: %zu of %zu runs of %s at size %s (%.1f CPU-s)\n", file.string().c_str(), sum.archived, sum.expected,
                sum.experiment.c_str(), a->size.c_str(), sum.cpu_seconds);
    for (const auto& m : sum.missing) std::fprintf(stderr, "  not finished, left out: %s\n", m.c_str());
  });
}

void add_sweep_flags(CLI::App* c, const std::shared_ptr<lab_args>& a) {
  add_store_option(c, a);
  c->add_option("-j,--jobs", a->jobs, "runs in parallel (the cores are split between them)")->capture_default_str();
  c->add_option("--threads", a->threads, "total cores to use (0: all)")->capture_default_str();
  c->add_option("--set", a->sets, "override section.key=value (sweep grammar allowed); repeatable");
  c->add_option("--runs-dir", a->runs_dir, "run folders (checkpoints, logs)")->capture_default_str();
  c->add_flag("--retry-failed", a->retry_failed, "rerun runs that failed before");
}

void add_run(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  CLI::App* run = lab->add_subcommand("run", "Run experiment specs; rerunning skips finished runs and resumes the rest");
  run->add_option("spec", a->specs, "experiment spec TOML files")->required()->check(CLI::ExistingFile);
  run->add_option("--size", a->size, "a [sizes.NAME] table of the spec to apply (quick, full)");
  run->add_option("--shard", a->shard,
                  "I/N: run only shard I of N, each run into its own <run dir>/run.db (then `lab merge`)");
  add_sweep_flags(run, a);
  run->callback([a]() {
    auto s = run_specs(*a, a->specs);
    print_failures(s);
    std::printf("%d runs: %d finished now, %d skipped (done before), %d failed\n", s.total, s.finished, s.skipped, s.failed);
    if (!a->shard.empty()) std::printf("shard %s: its runs are in their run folders; fold them in with `lmlab lab merge`\n", a->shard.c_str());
  });
}

void add_suite(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  CLI::App* suite = lab->add_subcommand("suite", "The curated experiments (experiments/*.toml) at one size, then the report");
  suite->add_option("--size", a->size, "quick (about 16 minutes on 2 cores) or full")->capture_default_str();
  suite->add_option("--experiments", a->experiments, "folder of specs")->capture_default_str();
  suite->add_option("--only", a->only, "comma list of experiment file stems to run (default: all)");
  suite->add_option("--out", a->out, "report folder")->capture_default_str();
  suite->add_flag("--no-report", a->no_report, "skip the report");
  add_sweep_flags(suite, a);
  suite->callback([a]() {
    if (a->size.empty()) a->size = "quick";
    std::vector<std::string> files;
    LMLAB_CHECK_HINT(fs::is_directory(a->experiments), "run from the repository root or pass --experiments DIR",
                     "lab suite: no folder {}", a->experiments);
    for (auto& e : fs::directory_iterator(a->experiments))
      if (e.path().extension() == ".toml") {
        const std::string stem = e.path().stem().string();
        if (!a->only.empty() && ("," + a->only + ",").find("," + stem + ",") == std::string::npos) continue;
        if (!lab::has_size(read_text_file(e.path()), e.path().string(), a->size)) {
          std::printf("suite (%s): %s has no [sizes.%s]: not run at this size\n", a->size.c_str(), stem.c_str(),
                      a->size.c_str());
          continue;
        }
        files.push_back(e.path().string());
      }
    std::sort(files.begin(), files.end());
    LMLAB_CHECK(!files.empty(), "lab suite: no experiment specs in {}", a->experiments);
    auto s = run_specs(*a, files);
    print_failures(s);
    std::printf("suite (%s): %d runs: %d finished now, %d skipped (done before), %d failed\n", a->size.c_str(), s.total,
                s.finished, s.skipped, s.failed);
    if (!a->no_report) {
      // The report verb runs as its own process (it may be built without this verb's layers);
      // the paths travel as arguments, never through a shell.
      // The running binary (a rebuild during the suite must not swap it; lab/sweep.cpp).
      const std::vector<std::string> argv = {"/proc/self/exe", "report", "--store", a->store,
                                             "--out", a->out, "--experiments", a->experiments};
      const int rc = run_process(argv);
      LMLAB_CHECK(rc == 0, "lab suite: the report failed (exit {}): {}", rc, fmt::format("{}", fmt::join(argv, " ")));
      std::printf("report: %s/index.html\n", a->out.c_str());
    }
  });
}

// The hidden verb a sweep starts for each run (lab/sweep.cpp).
void add_exec(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  CLI::App* exec = lab->add_subcommand("exec", "Run one run of a sweep (started by `lab run`; not for direct use)");
  exec->group("");  // hidden
  add_store_option(exec, a);
  exec->add_option("--run", a->run, "run name in the store")->required();
  exec->add_option("--dir", a->dir, "run folder")->required();
  exec->add_option("--threads", a->threads, "threads")->capture_default_str();
  exec->callback([a]() {
    lab::exec_options o;
    o.store = a->store;
    o.run = a->run;
    o.dir = a->dir;
    o.threads = std::max(1, a->threads);
    lab::execute_run(o);
  });
}

// ls, show, export: the results store.
void add_store_verbs(CLI::App* lab, const std::shared_ptr<lab_args>& a) {
  CLI::App* ls = lab->add_subcommand("ls", "List lab runs in the store");
  add_store_option(ls, a);
  lmlab::cli::add_table_format(*ls, a->format);
  ls->callback([a]() {
    store::results_store db(a->store);
    db.runs_table("lab").print(std::cout, parse_table_format(a->format));
  });

  CLI::App* show = lab->add_subcommand("show", "One run: config, status, evaluations, last metrics");
  add_store_option(show, a);
  show->add_option("run", a->run, "run id or name")->required();
  lmlab::cli::add_table_format(*show, a->format);
  show->callback([a]() {
    store::results_store db(a->store);
    auto r = db.resolve_run(a->run);
    std::printf("run %lld  %s  [%s]%s%s\n", static_cast<long long>(r.id), r.name.c_str(),
                std::string(store::to_string(r.status)).c_str(), r.failure_reason.empty() ? "" : "  ",
                r.failure_reason.c_str());
    std::printf("config: %s\n", r.config.dump().c_str());
    db.evaluations_table(r.id).print(std::cout, parse_table_format(a->format));
    // The last value of each metric (a training curve's end, a runner's summary numbers).
    std::map<std::string, store::metric_point> last;
    for (auto& p : db.metrics(r.id))
      if (auto it = last.find(p.name); it == last.end() || p.step >= it->second.step) last[p.name] = p;
    table m({"metric", "step", "value"});
    for (const auto& [name, p] : last) m.add_row({name, p.step, p.value});
    std::printf("\n");
    m.print(std::cout, parse_table_format(a->format));
  });

  CLI::App* exp = lab->add_subcommand("export", "Export runs, metrics or evaluations (CSV/JSON)");
  add_store_option(exp, a);
  exp->add_option("--table", a->table, "runs|metrics|evaluations")->capture_default_str();
  exp->add_option("-o,--output", a->format, "csv|json|jsonl|md|text")->capture_default_str();
  exp->callback([a]() {
    store::results_store db(a->store);
    const auto f = parse_table_format(a->format);
    if (a->table == "runs") db.runs_table("lab").print(std::cout, f);
    else if (a->table == "metrics") db.metrics_table().print(std::cout, f);
    else if (a->table == "evaluations") db.evaluations_table().print(std::cout, f);
    else throw usage_error(fmt::format("--table: unknown table '{}'", a->table), "use runs, metrics or evaluations");
  });
}

// tasks, task: the probe tasks.
void add_task_verbs(CLI::App* lab) {
  CLI::App* tasks_cmd = lab->add_subcommand("tasks", "List the probe tasks and their parameters");
  tasks_cmd->callback([]() {
    table t({"task", "summary", "parameters"});
    for (const auto& ti : tasks::task_registry()) {
      std::string ps;
      for (const auto& p : ti.params) ps += (ps.empty() ? "" : ", ") + p.name;
      t.add_row({ti.name, ti.summary, ps});
    }
    t.print(std::cout, table_format::text);
  });

  auto task_sets = std::make_shared<std::vector<std::string>>();
  auto task_name = std::make_shared<std::string>();
  auto task_n = std::make_shared<int>(2);
  CLI::App* task = lab->add_subcommand("task", "Print examples of a task: lmlab lab task scan --set split=length");
  task->add_option("name", *task_name, "task name")->required();
  task->add_option("--set", *task_sets, "parameter=value; repeatable");
  task->add_option("-n", *task_n, "examples per split")->capture_default_str();
  task->callback([task_name, task_sets, task_n]() {
    nlohmann::json t = {{"name", *task_name}};
    for (const auto& s : *task_sets) {
      auto eq = s.find('=');
      if (eq == std::string::npos) throw usage_error(fmt::format("--set {}: expected KEY=VALUE", s));
      const std::string v = s.substr(eq + 1);
      auto j = nlohmann::json::parse(v, nullptr, false);
      t[s.substr(0, eq)] = j.is_discarded() ? nlohmann::json(v) : j;
    }
    auto ds = tasks::build_task(t, 0);
    std::cout << tasks::summary(ds).dump(2) << "\n";
    for (const auto* split : {&ds.train, &ds.test}) {
      std::cout << (split == &ds.train ? "== train" : "== test") << "\n";
      for (int i = 0; i < *task_n && i < static_cast<int>(split->size()); ++i)
        std::cout << tasks::format_example(ds.vocab, (*split)[static_cast<std::size_t>(i)]) << "\n";
    }
  });
}

void add_lab(CLI::App& app) {
  auto a = std::make_shared<lab_args>();
  CLI::App* lab = lmlab::cli::add_verb_group(
      app, "lab", "Train grids of small models on probe tasks: sweeps, the curated suite, results","Example: lmlab lab suite --size quick   (the main job: every experiment in experiments/, then the report)\n"
              "         lmlab lab run experiments/recall.toml --size quick -j 2 --set model.d_model=64,128\n"
              "         lmlab lab slurm experiments/recall.toml --shards 16   (a Slurm job array; then `lab merge`:\n"
              "         docs/scaleout.md)");
  add_run(lab, a);
  add_merge(lab, a);
  add_slurm(lab, a);
  add_archive(lab, a);
  add_suite(lab, a);
  add_exec(lab, a);
  add_store_verbs(lab, a);
  add_task_verbs(lab);
}

}  // namespace

LMLAB_COMMAND("lab", 40, add_lab);
