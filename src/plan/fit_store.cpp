// Scaling-law observations from the results store: see fit_store.hpp.
#include "plan/fit_store.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace lmlab::plan {

namespace {

// The last value of a run metric, or an error naming the run.
double last_metric(store::results_store& db, const store::run_info& r, const std::string& name, const std::string& why) {
  const auto pts = db.metrics(r.id, name);
  LMLAB_CHECK_HINT(!pts.empty(), why, "{}: run '{}' has no metric '{}'", db.path().string(), r.name, name);
  return std::max_element(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.step < b.step; })->value;
}

double tail_mean_loss(store::results_store& db, const store::run_info& r, double tail) {
  const auto pts = db.metrics(r.id, "train_loss");
  LMLAB_CHECK_HINT(!pts.empty(), "give --loss METRIC for runs that log no train_loss", "{}: run '{}' has no train_loss",
                   db.path().string(), r.name);
  std::int64_t last = 0;
  for (const auto& p : pts) last = std::max(last, p.step);
  const double from = static_cast<double>(last) * (1 - tail);
  double sum = 0;
  int n = 0;
  for (const auto& p : pts)
    if (static_cast<double>(p.step) >= from) sum += p.value, ++n;
  return sum / n;  // n >= 1: the last point always qualifies
}

}  // namespace

store_observations observations_from_store(const std::filesystem::path& store, const std::string& experiment,
                                           const std::string& loss, double tail) {
  LMLAB_CHECK_HINT(std::filesystem::exists(store), "run the sweep first: lmlab lab run SPEC", "plan fit: {}: no such store",
                   store.string());
  store::results_store db(store, {.read_only = true});
  return observations_from_store(db, experiment, loss, tail);
}

store_observations observations_from_store(store::results_store& db, const std::string& experiment, const std::string& loss,
                                           double tail) {
  LMLAB_CHECK(tail > 0 && tail <= 1, "plan fit: --tail must be in (0, 1], got {}", tail);
  store_observations out;
  std::set<std::string> experiments;
  for (const auto& r : db.list_runs("lab")) {
    const std::string exp = r.config.value("experiment", std::string());
    experiments.insert(exp);
    if (exp != experiment) continue;
    if (r.status != store::run_status::finished) {
      ++out.skipped;
      continue;
    }
    observation o;
    o.n = last_metric(db, r, "n_params", "lab runs log n_params when they start");
    o.d = last_metric(db, r, "train_tokens", "runs before train_tokens was logged: rerun them (lmlab lab run --retry-failed does not; delete the store or use a new one)");
    o.loss = loss == "tail_mean" ? tail_mean_loss(db, r, tail) : last_metric(db, r, loss, "lmlab lab show RUN lists its metrics");
    out.obs.push_back(o);
    out.runs.push_back(r.name);
  }
  std::string known;
  for (const auto& e : experiments) known += (known.empty() ? "" : ", ") + e;
  LMLAB_CHECK_HINT(!out.obs.empty(), "experiments in the store: " + (known.empty() ? std::string("none") : known),
                   "plan fit: {}: no finished run of experiment '{}' ({} unfinished)", db.path().string(), experiment, out.skipped);
  return out;
}

}  // namespace lmlab::plan
