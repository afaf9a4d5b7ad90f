// Paired comparison of two probe runs from the results store: samples are matched by
// (suite, doc_id, repeat), and per suite the difference in accuracy gets McNemar's test and a
// paired bootstrap interval; "tied" when McNemar finds no significant difference.
// Not for: the tests themselves (analysis/stats.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/stats.hpp"
#include "core/table.hpp"
#include "store/results_store.hpp"

namespace lmlab::probe {

struct compare_row {
  std::string suite;
  std::size_t n_paired = 0;
  double acc_a = 0, acc_b = 0;
  analysis::mcnemar_result mcnemar;
  analysis::interval diff;  // acc_a - acc_b with its paired bootstrap interval
  std::string verdict;      // "A better", "B better" or "tied"
};

std::vector<compare_row> compare_runs(store::results_store& db, std::int64_t run_a, std::int64_t run_b,
                                      double alpha = 0.05, std::uint64_t seed = 0);
table compare_table(const std::vector<compare_row>& rows);

}  // namespace lmlab::probe
