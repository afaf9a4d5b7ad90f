// Runs probe suites against one endpoint: builds items, sends them with a concurrency limit,
// scores them, stores every sample in the results store, aggregates, and writes the outputs
// in the lm-evaluation-harness layout:
//   <out>/<model>/results_<timestamp>.json        results, configs, versions, n-samples, config
//   <out>/<model>/samples_<suite>_<timestamp>.jsonl one line per sample (doc, arguments, resps...)
// A rerun of the same command finds its run by name and gets every answered request from the
// cache, so an interrupted or killed run continues where it stopped: no sample is asked twice
// and none is lost (a request that fails after its retries is recorded with its error, the
// run is marked failed, and the next rerun asks it again).
// Not for: HTTP details (client.hpp), the suites' content (suites_*.cpp).
#pragma once

#include <atomic>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "probe/client.hpp"
#include "probe/samples_vote.hpp"
#include "probe/scoring.hpp"
#include "probe/suite.hpp"
#include "store/results_store.hpp"

namespace lmlab::probe {

struct run_options {
  std::vector<std::string> suites;
  suite_options suite_opts;
  int concurrency = 4;
  mc_mode scoring = mc_mode::auto_;
  std::filesystem::path output_dir = "lmlab-probe";
  std::string run_name;                 // default: "<provider>/<model> <suites> seed=<seed>"
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT: finish in-flight items, then stop
  std::ostream* log = nullptr;          // progress lines
  sampling_options samples;             // --samples: n answers per free-form item (samples_vote.hpp)
};

struct run_summary {
  std::int64_t run_id = 0;
  std::string run_name;
  nlohmann::json results;               // the results_<timestamp>.json content
  std::filesystem::path results_file;
  std::vector<std::filesystem::path> sample_files;
  std::int64_t n_samples = 0, n_failed = 0, n_cached = 0, n_skipped = 0;
  bool interrupted = false;
};

run_summary run_probe(client& c, store::results_store& db, const run_options& opt);

// Runs fn(i) for i in [0, n) on at most `concurrency` threads. Stops handing out new indices
// once `stop` is set. Exceptions from fn propagate (the first one, after all threads join).
void parallel_for(std::size_t n, int concurrency, const std::function<void(std::size_t)>& fn,
                  const std::atomic<bool>* stop = nullptr);

}  // namespace lmlab::probe
