// `lmlab probe`: evaluate a served model (run), compare two runs with paired statistics
// (compare), list probe runs (ls). The logic lives in src/probe/; this file only maps flags.
// Not for: serving models (`lmlab serve`).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/sweep.hpp"
#include "core/table.hpp"
#include "probe/compare.hpp"
#include "probe/runner.hpp"
#include "probe/report_section.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop.store(true); }


struct run_args {
  std::string model, base_url = "http://127.0.0.1:8080/v1", suites = "sycophancy,calibration", langs = "en,ko";
  std::string store = "lmlab.db", out = "lmlab-probe", name, scoring = "auto", data, report;
  std::string concurrency_levels = "1,4", temperatures = "0,0.7", context_items = "20";
  int n = 40, jobs = 4, retries = 6, repeats = 5, positions = 5;
  std::uint64_t seed = 1234;
  double timeout = 120, dev_fraction = 0.3;
  bool stream = false;
  int samples = 0;
  double sample_temperature = 0.7;
};

lmlab::probe::endpoint_config endpoint_of(const run_args& a) {
  using namespace lmlab::probe;
  endpoint_config cfg;
  std::tie(cfg.provider, cfg.model) = parse_model_ref(a.model);
  cfg.base_url = a.base_url;
  if (const char* k = std::getenv("OPENAI_API_KEY")) cfg.api_key = k;
  cfg.timeout_s = a.timeout;
  cfg.max_retries = a.retries;
  cfg.stream = a.stream;
  return cfg;
}

lmlab::probe::run_options run_options_of(const run_args& a) {
  using namespace lmlab::probe;
  run_options o;
  o.suites = lmlab::split_list(a.suites);
  o.suite_opts.seed = a.seed;
  o.suite_opts.n = a.n;
  o.suite_opts.langs = lmlab::split_list(a.langs);
  o.suite_opts.data = a.data;
  o.suite_opts.repeats = a.repeats;
  o.suite_opts.positions = a.positions;
  o.suite_opts.dev_fraction = a.dev_fraction;
  o.suite_opts.temperatures = lmlab::parse_sweep(a.temperatures, "--temperatures");
  o.suite_opts.concurrency_levels.clear();
  for (auto v : lmlab::parse_sweep_int(a.concurrency_levels, "--concurrency-levels"))
    o.suite_opts.concurrency_levels.push_back(static_cast<int>(v));
  o.suite_opts.context_items.clear();
  for (auto v : lmlab::parse_sweep_int(a.context_items, "--context-items"))
    o.suite_opts.context_items.push_back(static_cast<int>(v));
  o.concurrency = a.jobs;
  o.samples = {a.samples, a.sample_temperature};
  o.scoring = parse_mc_mode(a.scoring);
  o.output_dir = a.out;
  o.run_name = a.name;
  o.stop = &g_stop;
  o.log = &std::cerr;
  return o;
}

// The per-suite metrics, the run's counts, the report (with --report); throws when the run
// was interrupted or samples failed.
void print_probe_run(const run_args& a, const lmlab::probe::run_summary& sum) {
  using namespace lmlab::probe;
  lmlab::table t({"suite", "metric", "value"});
  for (auto it = sum.results["results"].begin(); it != sum.results["results"].end(); ++it)
    for (auto m = it.value().begin(); m != it.value().end(); ++m)
      if (m.value().is_number()) t.add_row({it.key(), m.key().substr(0, m.key().find(',')), m.value().get<double>()});
  t.print(std::cout, lmlab::table_format::md);
  std::cout << "\nrun " << sum.run_id << " (" << sum.run_name << "): " << sum.n_samples << " samples, "
            << sum.n_cached << " from cache, " << sum.n_failed << " failed\nresults: " << sum.results_file.string() << "\n";
  if (!a.report.empty()) {
    const auto w = lmlab::report::write_report(probe_report_document({{sum.results.value("model_name", a.model), sum.results}}),
                                               a.report);
    std::cout << "report: " << w.index.string() << "\n";
  }
  if (sum.interrupted) throw lmlab::error("probe run: interrupted", "rerun the same command to continue");
  if (sum.n_failed > 0)
    throw lmlab::error(fmt::format("probe run: {} samples failed after retries", sum.n_failed),
                       "rerun the same command: answered samples come from the cache");
}

void add_probe_run(CLI::App* probe) {
  auto a = std::make_shared<run_args>();
  CLI::App* run = probe->add_subcommand("run", "Run probe suites against an endpoint; rerunning continues from the cache");
  run->add_option("--model", a->model, "provider/name, e.g. openai/gpt-4o-mini, llamacpp/qwen2.5-7b")->required();
  run->add_option("--base-url", a->base_url, "server URL, usually ending in /v1")->capture_default_str();
  run->add_option("--suite,--suites", a->suites, "comma list of suites")->capture_default_str();
  run->add_option("--n", a->n, "items per condition")->capture_default_str();
  run->add_option("--seed", a->seed, "item generation seed")->capture_default_str();
  run->add_option("--lang", a->langs, "comma list: en, ko")->capture_default_str();
  run->add_option("--data", a->data, "JSONL to read instead of generating (SycophancyEval or lmlab MC format)");
  run->add_option("-j,--concurrency", a->jobs, "requests in flight")->capture_default_str();
  run->add_option("--timeout", a->timeout, "seconds per request (whole body)")->capture_default_str();
  run->add_option("--retries", a->retries, "retries per request")->capture_default_str();
  run->add_flag("--stream", a->stream, "stream responses (SSE)");
  run->add_option("--scoring", a->scoring, "multiple choice: auto, echo, top_logprobs, letter")->capture_default_str();
  run->add_option("--store", a->store, "results store (SQLite)")->capture_default_str();
  run->add_option("--out", a->out, "output folder (lm-evaluation-harness layout)")->capture_default_str();
  run->add_option("--name", a->name, "run name (default: model, suites and seed)");
  run->add_option("--repeats", a->repeats, "nondeterminism: asks per prompt and condition")->capture_default_str();
  run->add_option("--concurrency-levels", a->concurrency_levels, "nondeterminism: sweep")->capture_default_str();
  run->add_option("--temperatures", a->temperatures, "nondeterminism: sweep")->capture_default_str();
  run->add_option("--context-items", a->context_items, "lost_in_middle: items in the context (sweep)")->capture_default_str();
  run->add_option("--positions", a->positions, "lost_in_middle: answer positions")->capture_default_str();
  run->add_option("--dev-fraction", a->dev_fraction, "calibration: share for temperature fitting")->capture_default_str();
  run->add_option("--samples", a->samples, "free-form items: also ask N samples each; pass@k and majority vote (docs/probe.md)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  run->add_option("--sample-temperature", a->sample_temperature, "temperature of those samples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run->add_option("--report", a->report, "also write the report folder (index.html) for this run here");
  run->callback([a] {
    using namespace lmlab::probe;
    const endpoint_config cfg = endpoint_of(*a);
    run_options o = run_options_of(*a);
    std::signal(SIGINT, on_sigint);
    lmlab::store::results_store db(a->store);
    client c(cfg, &db);
    auto sum = run_probe(c, db, o);
    print_probe_run(*a, sum);
  });
}

void add_probe_compare(CLI::App* probe) {
  auto cmp = std::make_shared<std::tuple<std::string, std::string, std::string, std::string, double>>(
      "", "", "lmlab.db", "text", 0.05);
  CLI::App* compare = probe->add_subcommand("compare", "Paired comparison of two runs: McNemar and a paired bootstrap CI");
  compare->add_option("RUN_A", std::get<0>(*cmp), "run id or name")->required();
  compare->add_option("RUN_B", std::get<1>(*cmp), "run id or name")->required();
  compare->add_option("--store", std::get<2>(*cmp), "results store")->capture_default_str();
  lmlab::cli::add_table_format(*compare, std::get<3>(*cmp));
  compare->add_option("--alpha", std::get<4>(*cmp), "significance level")->capture_default_str();
  compare->callback([cmp] {
    const auto fmt = lmlab::parse_table_format(std::get<3>(*cmp));
    lmlab::store::results_store db(std::get<2>(*cmp));
    const auto ra = db.resolve_run(std::get<0>(*cmp)), rb = db.resolve_run(std::get<1>(*cmp));
    lmlab::probe::compare_table(lmlab::probe::compare_runs(db, ra.id, rb.id, std::get<4>(*cmp))).print(std::cout, fmt);
  });
}

void add_probe_ls(CLI::App* probe) {
  auto ls = std::make_shared<std::pair<std::string, std::string>>("lmlab.db", "text");
  CLI::App* lsc = probe->add_subcommand("ls", "List probe runs in the results store");
  lsc->add_option("--store", ls->first, "results store")->capture_default_str();
  lmlab::cli::add_table_format(*lsc, ls->second);
  lsc->callback([ls] {
    const auto fmt = lmlab::parse_table_format(ls->second);
    lmlab::store::results_store db(ls->first);
    lmlab::table t({"id", "name", "status", "created_at", "finished_at", "failure_reason"});
    for (const auto& r : db.list_runs("probe"))
      t.add_row({r.id, r.name, std::string(lmlab::store::to_string(r.status)), r.created_at, r.finished_at, r.failure_reason});
    t.print(std::cout, fmt);
  });
}

void add_probe(CLI::App& app) {
  CLI::App* probe = lmlab::cli::add_verb_group(
      app, "probe",
      "Probe served models (OpenAI-compatible): sycophancy, calibration, lost in the middle, nondeterminism, "
      "hallucination, perturbation, SCAN, POPE with images (docs/probe.md)");
  add_probe_run(probe);
  add_probe_compare(probe);
  add_probe_ls(probe);
}

}  // namespace

static void add_probe_report(CLI::App& app) {
  CLI::App* probe = app.get_subcommand("probe");
  auto r = std::make_shared<std::tuple<std::vector<std::string>, std::string, std::string, std::string>>(
      std::vector<std::string>{}, "lmlab.db", "lmlab-probe-report", "");
  CLI::App* rep = probe->add_subcommand("report", "Write the report folder (index.html, figures, CSVs) for probe runs");
  rep->add_option("RUN", std::get<0>(*r), "run ids or names (several: compared in the same figures)")->required();
  rep->add_option("--store", std::get<1>(*r), "results store")->capture_default_str();
  rep->add_option("--out", std::get<2>(*r), "report folder (replaced only if it is an lmlab report)")->capture_default_str();
  rep->add_option("--assets", std::get<3>(*r), "folder with the pinned Vega builds (default: the cache)");
  rep->callback([r] {
    lmlab::store::results_store db(std::get<1>(*r));
    const auto runs = lmlab::probe::load_report_runs(db, std::get<0>(*r));
    const auto w = lmlab::report::write_report(lmlab::probe::probe_report_document(runs), std::get<2>(*r),
                                               {.assets_dir = std::get<3>(*r)});
    std::cout << "report: " << w.index.string() << " (" << w.figures << " figures, " << w.tables << " tables)\n";
  });
}

static void add_probe_all(CLI::App& app) {
  add_probe(app);
  add_probe_report(app);
  lmlab::probe::register_report_source();  // `lmlab report` adds the probe runs' sections
}

LMLAB_COMMAND("probe", 50, add_probe_all);
