// Scaling laws fitted to the lab's own runs, as report sections for `lmlab report`: every lab
// experiment in the store whose finished runs sweep both the token budget (config train.tokens
// takes two or more values) and the model size (two or more n_params) gets Hoffmann et al.
// 2022's Approach 3 fit (fit.hpp) of the observations `plan fit --store` reads (fit_store.hpp),
// with 95% bootstrap CIs beside Chinchilla's constants and the implied compute-optimal exponents.
// Verdict: agrees when Chinchilla's α and β both lie inside our CIs and both CIs are narrower
// than 0.5 (inside a wider one is no test: not decided), differs when either lies outside; with
// fewer than six distinct (N, D) design points (five constants) the fit is not a measurement
// and the verdict says so. Which experiments qualify is read from the runs, never named here.
// Not for: the fit (fit.hpp) or the CLI table (tables.hpp fit_constants_table).
#pragma once

#include <string>
#include <vector>

#include "report/report.hpp"
#include "store/results_store.hpp"

namespace lmlab::plan {

// The experiments of the store that sweep train.tokens and n_params, in name order.
std::vector<std::string> scaling_sweeps(store::results_store& db);

// One section per scaling sweep (empty when the store has none); a sweep with fewer than five
// finished runs gets a section that says so, without a fit. coarse_grid: fit.hpp's (tests).
std::vector<report::section> scaling_fit_sections(store::results_store& db, int bootstrap = 200, bool coarse_grid = false);

}  // namespace lmlab::plan
