// Collapse loops (datalab/collapse.hpp, ngram_lm.hpp, ngram_collapse.hpp) and their lab
// runners: the Gaussian variance law in expectation over chains, the workflows by hand, the
// n-gram model's probabilities by hand, and a spec that runs through the runner.
#include <gtest/gtest.h>

#include <cmath>

#include "datalab_spec.hpp"
#include "core/error.hpp"
#include "datalab/collapse.hpp"
#include "datalab/ngram_collapse.hpp"
#include "datalab/ngram_lm.hpp"
#include "datalab/runners.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "store/results_store.hpp"

#include <unistd.h>
#include <filesystem>
#include <set>
#include "toy_docs.hpp"

namespace dl = lmlab::datalab;

TEST(collapse, digamma_known_values) {
  EXPECT_NEAR(dl::digamma(1.0), -0.57721566490153286, 1e-12);
  EXPECT_NEAR(dl::digamma(0.5), -0.57721566490153286 - 2 * std::log(2.0), 1e-12);
  EXPECT_NEAR(dl::digamma(10.0), 2.2517525890667211, 1e-12);
}

TEST(collapse, variance_law_values) {
  EXPECT_DOUBLE_EQ(dl::gaussian_variance_law(10, 0), 1.0);
  EXPECT_DOUBLE_EQ(dl::gaussian_variance_law(10, 1), 0.9);
  EXPECT_DOUBLE_EQ(dl::gaussian_variance_law(10, 3), 0.729);
  EXPECT_DOUBLE_EQ(dl::gaussian_variance_law(10, 3, 2.0), 0.729 * 4);
}

// E[σ²_n] = σ²((M−1)/M)^n (Shumailov et al. 2024): the chain mean lies within 4 standard
// errors of the law at every generation, in 1 and 3 dimensions and at T = 1.2.
TEST(collapse, gaussian_variance_decays_as_the_law_in_expectation) {
  for (int dim : {1, 3})
    for (double temp : {1.0, 1.2}) {
      dl::gaussian_config c;
      c.dim = dim;
      c.s.samples = 10;
      c.s.generations = 6;
      c.s.chains = 10000;
      c.s.temperature = temp;
      const auto g = dl::run_gaussian_collapse(c, 7);
      ASSERT_EQ(g.size(), 6u);
      for (const auto& s : g) {
        EXPECT_NEAR(s.var_ratio_mean, s.var_law, 4 * s.var_ratio_se) << "dim " << dim << " T " << temp << " gen " << s.generation;
        EXPECT_DOUBLE_EQ(s.var_law, dl::gaussian_variance_law(10, s.generation, temp));
      }
      if (dim == 1 && temp == 1.0) {
        // E[log σ²_n] = n(ψ((M−1)/2) + log(2/M)); sd of log χ²_9 / 10 is sqrt(ψ'(4.5)) ≈ 0.5 per generation.
        for (const auto& s : g) EXPECT_NEAR(s.log_var_mean, s.log_var_law, 5 * 0.5 * std::sqrt(s.generation / 10000.0));
        // The typical chain is far below the mean: the median collapses faster than the law.
        EXPECT_LT(g.back().var_ratio_median, g.back().var_law);
      }
    }
}

TEST(collapse, accumulate_and_real_data_keep_the_variance) {
  dl::gaussian_config c;
  c.s.samples = 20;
  c.s.generations = 40;
  c.s.chains = 400;
  const double replace = dl::run_gaussian_collapse(c, 3).back().var_ratio_median;
  c.s.flow = dl::workflow::accumulate;
  const auto acc = dl::run_gaussian_collapse(c, 3).back();
  EXPECT_TRUE(std::isnan(acc.var_law));  // the law is for replace without real data only
  c.s.flow = dl::workflow::replace;
  c.s.real_fraction = 0.5;
  const double mixed = dl::run_gaussian_collapse(c, 3).back().var_ratio_median;
  EXPECT_LT(replace, 0.4);  // 0.95^40 = 0.13 in expectation, lower for the median
  EXPECT_GT(acc.var_ratio_median, 0.6);
  EXPECT_GT(mixed, 0.6);
}

TEST(collapse, workflow_rows_by_hand) {
  lmlab::rng g(1);
  dl::collapse_schedule s;
  s.real_fraction = 0.5;
  const std::vector<int> real = {1, 1, 2, 2, 3, 3, 4, 4};  // 4 rows of width 2
  std::vector<int> pool = real;
  const std::vector<int> synth = {9, 9, 8, 8, 7, 7, 6, 6};
  auto r = dl::workflow_rows(s, 2, real, pool, synth, g);
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(std::vector<int>(r.begin(), r.begin() + 4), (std::vector<int>{9, 9, 8, 8}));  // first M/2 synthetic rows
  for (std::size_t i = 4; i < 8; i += 2) {
    EXPECT_EQ(r[i], r[i + 1]);
    EXPECT_LE(r[i], 4);  // then real rows, whole
  }
  EXPECT_NE(r[4], r[6]);  // drawn without replacement
  s.flow = dl::workflow::accumulate;
  r = dl::workflow_rows(s, 2, real, pool, synth, g);
  EXPECT_EQ(r.size(), 16u);
  EXPECT_EQ(pool.size(), 16u);
  s.flow = dl::workflow::accumulate_subset;
  r = dl::workflow_rows(s, 2, real, pool, synth, g);
  EXPECT_EQ(r.size(), 8u);
  EXPECT_EQ(pool.size(), 24u);
  EXPECT_THROW(dl::parse_workflow("keep"), lmlab::error);
}

TEST(collapse, em_recovers_a_mixture_and_the_loop_runs) {
  const dl::mixture truth = {{0.5, 0.3, 0.2}, {-4.0, 0.0, 5.0}, {1.0, 0.5, 1.5}};
  lmlab::rng g(5);
  std::vector<double> x;
  for (int i = 0; i < 20000; ++i) {
    const double u = g.uniform();
    const int k = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
    x.push_back(truth.mean[k] + truth.sd[k] * g.normal());
  }
  const auto m = dl::fit_mixture(x, {}, 3, 200);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(m.weight[k], truth.weight[k], 0.02);
    EXPECT_NEAR(m.mean[k], truth.mean[k], 0.1);
    EXPECT_NEAR(m.sd[k], truth.sd[k], 0.1);
  }
  EXPECT_NEAR(truth.variance(), 0.5 * 17 + 0.3 * 0.25 + 0.2 * 27.25 - std::pow(-2.0 + 1.0, 2), 1e-12);
  dl::mixture_config c;
  c.s.samples = 100;
  c.s.generations = 3;
  c.s.chains = 20;
  const auto gens = dl::run_mixture_collapse(c, 1);
  ASSERT_EQ(gens.size(), 3u);
  EXPECT_NEAR(gens[0].var_ratio_mean, 1.0, 0.2);
  EXPECT_NEAR(gens[0].tail_mass, 0.01, 0.01);
}

TEST(ngram_lm, probabilities_by_hand) {
  // ids: 0 <s>, 1..3 words; chunk [1 2 1 3]
  const std::vector<std::int32_t> data = {1, 2, 1, 3};
  dl::ngram_lm uni(1, 4, 0.5);
  uni.fit(data, 4);
  const std::vector<std::int32_t> q = {1};
  EXPECT_DOUBLE_EQ(uni.prob(q, 0), 0.5 * 2.0 / 4.0 + 0.5 / 3.0);
  dl::ngram_lm bi(2, 4, 0.5);
  bi.fit(data, 4);
  // p(2 | 1) = 0.5 · c(1 2)/c(1) + 0.5 · (0.5 · 1/4 + 0.5 · 1/3)
  const std::vector<std::int32_t> h = {1, 2};
  EXPECT_DOUBLE_EQ(bi.prob(h, 1), 0.5 * 0.5 + 0.5 * (0.5 * 0.25 + 0.5 / 3.0));
  // An unseen context (3) falls back to the unigram level.
  const std::vector<std::int32_t> u = {3, 1};
  EXPECT_DOUBLE_EQ(bi.prob(u, 1), 0.5 * 0.5 + 0.5 / 3.0);
  // Each context's distribution sums to 1.
  for (std::int32_t ctx : {1, 2, 3}) {
    double sum = 0;
    for (std::int32_t w = 1; w <= 3; ++w) {
      const std::vector<std::int32_t> c = {ctx, w};
      sum += bi.prob(c, 1);
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  EXPECT_NEAR(bi.mean_nll(data, 4), -(std::log(bi.prob(data, 0)) + std::log(bi.prob(data, 1)) + std::log(bi.prob(data, 2)) +
                                      std::log(bi.prob(data, 3))) / 4, 1e-12);
  EXPECT_THROW(bi.fit(std::vector<std::int32_t>{1, 5}, 2), lmlab::error);
}

TEST(ngram_lm, sampling_matches_the_probabilities_at_each_temperature) {
  const std::vector<std::int32_t> data = {1, 2, 1, 3, 1, 1, 2, 3};
  dl::ngram_lm lm(1, 4, 0.6);
  lm.fit(data, 4);
  for (double temp : {1.0, 0.5}) {
    lmlab::rng g(11);
    std::vector<double> freq(4, 0);
    const int n = 40000;
    for (int i = 0; i < n; ++i) freq[static_cast<std::size_t>(lm.sample(1, temp, g)[0])] += 1.0 / n;
    double z = 0;
    std::vector<double> want(4, 0);
    for (std::int32_t w = 1; w <= 3; ++w) {
      const std::vector<std::int32_t> c = {w};
      z += want[static_cast<std::size_t>(w)] = std::pow(lm.prob(c, 0), 1 / temp);
    }
    for (std::size_t w = 1; w <= 3; ++w) EXPECT_NEAR(freq[w], want[w] / z, 0.01) << "T " << temp << " w " << w;
  }
}

using lmlab::testing::toy_docs;

TEST(ngram_collapse, loop_on_a_toy_corpus) {
  dl::ngram_collapse_config c;
  c.real_tokens = 1600;
  c.heldout_tokens = 640;
  c.chunk = 16;
  c.s.generations = 4;
  const auto corpus = dl::prepare_ngram_corpus(toy_docs(10, 0), toy_docs(4, 100), c);
  ASSERT_EQ(corpus.real.size(), 1600u);
  ASSERT_EQ(corpus.heldout.size(), 640u);
  EXPECT_EQ(corpus.words[0], "<s>");
  for (auto flow : {dl::workflow::replace, dl::workflow::accumulate}) {
    c.s.flow = flow;
    const auto r = dl::run_ngram_collapse(corpus, c, 1);
    ASSERT_EQ(r.gens.size(), 4u);
    EXPECT_DOUBLE_EQ(r.gens[0].coverage_1, 1.0);
    EXPECT_DOUBLE_EQ(r.gens[0].coverage_2, 1.0);
    EXPECT_GT(r.gens[0].heldout_ppl, 1.0);
    EXPECT_GT(r.gens[0].tail_coverage, 0.0);
    EXPECT_LE(r.gens[0].tail_coverage, 1.0);
    for (const auto& g : r.gens)
      EXPECT_EQ(g.train_tokens, flow == dl::workflow::accumulate ? 1600.0 * g.generation : 1600.0);
  }
  c.chunk = 5000;
  EXPECT_THROW(dl::prepare_ngram_corpus(toy_docs(2, 0), toy_docs(2, 9), c), lmlab::error);
}

// The per-generation measures of the n-gram and neural loops, on token vectors small enough to
// count by hand (chunks of 3; ids 0 <s>, 1 <unk>, words 2, 3, 4).
TEST(ngram_collapse, generation_measures_by_hand) {
  const std::vector<std::int32_t> real = {2, 3, 2, 4, 2, 3};  // chunks [2 3 2] [4 2 3]
  const auto types = dl::real_types_of(real, 5, 3);
  EXPECT_EQ(types.n_words, 3.0);  // 2, 3, 4
  // Bigrams inside chunks: (2,3) (3,2) | (4,2) (2,3) -> 3 types; not (2,4) across the boundary.
  EXPECT_EQ(types.bigrams.size(), 3u);
  EXPECT_EQ(types.bigrams.count(dl::pair_key(4, 2)), 1u);
  EXPECT_EQ(types.bigrams.count(dl::pair_key(2, 4)), 0u);

  // Training data [2 2 3] [3 1 2]: unigram counts <unk> 1, "2" 3, "3" 2 of 6 tokens.
  const std::vector<std::int32_t> data = {2, 2, 3, 3, 1, 2};
  const std::vector<std::int64_t> uni = {0, 1, 3, 2, 0};
  const auto cov = dl::measure_training_data(data, uni, 6.0, 3, types);
  EXPECT_DOUBLE_EQ(cov.coverage_1, 2.0 / 3.0);  // "2" and "3" of the real 2, 3, 4
  // Its bigrams (2,2) (2,3) | (3,1) (1,2): only (2,3) is a real type -> 1/3.
  EXPECT_DOUBLE_EQ(cov.coverage_2, 1.0 / 3.0);
  // −(1/6 log2 1/6 + 1/2 log2 1/2 + 1/3 log2 1/3) = 1.459148 bits.
  EXPECT_NEAR(cov.entropy_1, (std::log2(6.0) + 3.0 + 2.0 * std::log2(3.0)) / 6.0, 1e-12);
  EXPECT_NEAR(cov.entropy_1, 1.459148, 1e-6);

  // The real tail: counts "2" 3, "3" 2, "4" 1 of 6. At q = 0.2 only the count-1 class fits
  // (1/6 <= 0.2, 3/6 > 0.2): {4}; at q = 0.5 the classes <= 2 hold 3/6: {3, 4}.
  double mass = 0;
  auto tail = dl::tail_mask(real, 5, 0.2, mass);
  EXPECT_EQ(tail, (std::vector<bool>{false, false, false, false, true}));
  EXPECT_DOUBLE_EQ(mass, 1.0 / 6.0);
  tail = dl::tail_mask(real, 5, 0.5, mass);
  EXPECT_EQ(tail, (std::vector<bool>{false, false, false, true, true}));
  EXPECT_DOUBLE_EQ(mass, 0.5);

  // Samples [4 2 2] [2 2 2] against the tail {3, 4}: one tail token of 6, one tail type of 2;
  // distinct-1 = 2 types / 6 tokens, distinct-2 = {(4,2), (2,2)} / 4 bigrams.
  dl::ngram_generation m;
  dl::measure_samples({4, 2, 2, 2, 2, 2}, 3, 2, tail, 2, m);
  EXPECT_DOUBLE_EQ(m.tail_mass, 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.tail_coverage, 0.5);
  EXPECT_DOUBLE_EQ(m.distinct_1, 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.distinct_2, 0.5);
}

TEST(datalab_runners, a_spec_without_a_training_budget_runs_through_the_runner) {
  dl::register_datalab();  // idempotent: datalab_spec registers again
  const auto spec = lmlab::testing::datalab_spec(
      "name = \"g\"\nseeds = 3\n[task]\nname = \"collapse_gaussian\"\nsamples = 10\nchains = 50\ngenerations = 4\n"
      "workflow = [\"replace\", \"accumulate\"]\n",
      "g.toml");
  ASSERT_EQ(spec.runs.size(), 6u);
  const auto r = lmlab::lab::run_config_once({spec.runs[0].config, 1, {}, nullptr, -1, nullptr});
  EXPECT_EQ(r.steps, 4);
  const std::string msg = lmlab::testing::datalab_spec_error(
      "name = \"g\"\n[task]\nname = \"collapse_gaussian\"\nworkflow = \"keep\"\n", "g.toml");
  EXPECT_NE(msg.find("task.workflow"), std::string::npos) << "a bad workflow was accepted: " << msg;
}

// With a store, every generation is a run metric and the selected generations are test slices:
// gen=1, every tenth, "half" (generation ⌈G/2⌉) and "all" (the last), laws included.
TEST(datalab_runners, generations_are_logged_as_metrics_and_slices) {
  dl::register_datalab();
  const auto path = std::filesystem::temp_directory_path() / ("lmlab_datalab_runner_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    lmlab::store::results_store db(path);
    const auto spec = lmlab::lab::parse_spec(
        "name = \"g\"\n[task]\nname = \"collapse_gaussian\"\nsamples = 10\nchains = 20\ngenerations = 5\n", "g.toml");
    const auto id = db.create_run("lab", "g/1", spec.runs[0].config);
    lmlab::lab::run_config_once({spec.runs[0].config, 1, {}, &db, id, nullptr});
    std::set<std::string> slices;
    double law_all = 0;
    for (const auto& e : db.evaluations(id)) {
      slices.insert(e.slice);
      if (e.slice == "all" && e.metric == "var_law") law_all = e.value;
    }
    EXPECT_EQ(slices, (std::set<std::string>{"all", "half", "gen=1", "gen=2", "gen=3", "gen=4", "gen=5"}));
    EXPECT_DOUBLE_EQ(law_all, std::pow(0.9, 5));
    EXPECT_EQ(db.metrics(id, "var_ratio").size(), 5u);
    EXPECT_TRUE(db.metrics(id, "min_weight").empty());  // a mixture's metric only
  }
  std::filesystem::remove(path);
}
