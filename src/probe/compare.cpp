// Paired run comparison: see compare.hpp.
#include "probe/compare.hpp"

#include <map>
#include <set>

#include "core/error.hpp"

namespace lmlab::probe {

std::vector<compare_row> compare_runs(store::results_store& db, std::int64_t run_a, std::int64_t run_b, double alpha,
                                      std::uint64_t seed) {
  const auto key = [](const store::stored_sample& s) { return s.doc_id + "#" + std::to_string(s.repeat); };
  std::map<std::string, std::map<std::string, bool>> a, b;  // suite -> item -> correct
  for (const auto& s : db.samples(run_a))
    if (s.data.contains("correct")) a[s.task][key(s)] = s.data["correct"].get<bool>();
  for (const auto& s : db.samples(run_b))
    if (s.data.contains("correct")) b[s.task][key(s)] = s.data["correct"].get<bool>();
  std::vector<compare_row> rows;
  for (const auto& [suite, items_a] : a) {
    if (!b.count(suite)) continue;
    std::vector<bool> ca, cb;
    std::vector<double> xa, xb;
    for (const auto& [id, ok] : items_a) {
      auto it = b[suite].find(id);
      if (it == b[suite].end()) continue;
      ca.push_back(ok);
      cb.push_back(it->second);
      xa.push_back(ok ? 1.0 : 0.0);
      xb.push_back(it->second ? 1.0 : 0.0);
    }
    if (ca.size() < 2) continue;
    compare_row r;
    r.suite = suite;
    r.n_paired = ca.size();
    for (std::size_t i = 0; i < ca.size(); ++i) {
      r.acc_a += xa[i] / static_cast<double>(ca.size());
      r.acc_b += xb[i] / static_cast<double>(ca.size());
    }
    r.mcnemar = analysis::mcnemar_test(ca, cb, alpha);
    analysis::bootstrap_options bo;
    bo.seed = seed;
    bo.confidence = 1 - alpha;
    r.diff = analysis::paired_bootstrap_ci(xa, xb, bo);
    r.verdict = r.mcnemar.tied ? "tied" : r.acc_a > r.acc_b ? "A better" : "B better";
    rows.push_back(std::move(r));
  }
  LMLAB_CHECK_HINT(!rows.empty(), "compare runs of the same suites with the same --seed and --n",
                   "{}: runs {} and {} share no scored samples", db.path().string(), run_a, run_b);
  return rows;
}

table compare_table(const std::vector<compare_row>& rows) {
  table t({"suite", "n", "acc_a", "acc_b", "diff", "ci_lo", "ci_hi", "a_only", "b_only", "test", "p_value", "verdict"});
  for (const auto& r : rows)
    t.add_row({r.suite, r.n_paired, r.acc_a, r.acc_b, r.diff.estimate, r.diff.lo, r.diff.hi, r.mcnemar.a_only,
               r.mcnemar.b_only, r.mcnemar.exact ? "mcnemar-exact" : "mcnemar-chi2", r.mcnemar.p_value, r.verdict});
  return t;
}

}  // namespace lmlab::probe
