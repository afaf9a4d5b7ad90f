// Scaling-law observations read straight from the lab's results store: one (N, D, loss) per
// finished run of an experiment, for `lmlab plan fit --store lmlab.db --experiment NAME`.
//   N     the run's `n_params` metric
//   D     its `train_tokens` metric (batch × mean training length × steps; lab/run.cpp)
//   loss  "tail_mean" (default): the mean of the logged `train_loss` over the last `tail` share
//         of the run's steps; or the name of any run metric (its last value), e.g.
//         final_train_loss.
// Errors name the store, the experiment and the run. Built only with the store layer.
// Not for: the fit itself (fit.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plan/fit.hpp"
#include "store/results_store.hpp"

namespace lmlab::plan {

struct store_observations {
  std::vector<observation> obs;
  std::vector<std::string> runs;  // the run names, in obs order
  std::size_t skipped = 0;        // runs of the experiment that did not finish
};

store_observations observations_from_store(const std::filesystem::path& store, const std::string& experiment,
                                           const std::string& loss = "tail_mean", double tail = 0.1);
// The same from an open store (the report's fit sections, fit_section.hpp).
store_observations observations_from_store(store::results_store& db, const std::string& experiment,
                                           const std::string& loss = "tail_mean", double tail = 0.1);

}  // namespace lmlab::plan
