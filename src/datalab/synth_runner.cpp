// Verified synthetic data against real data: see synth_runner.hpp.
#include "datalab/synth_runner.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <unordered_set>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "datalab/chain_verifier.hpp"
#include "datalab/small_train.hpp"
#include "datalab/ttc.hpp"
#include "datalab/ttc_verifier.hpp"
#include "datalab/synth_verify.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "models/lm.hpp"
#include "models/sample.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace lmlab::datalab {

namespace {

struct synth_params {
  std::int64_t ops_min = 2, ops_max = 3, ood_ops = 4, max_value = 99;
  std::int64_t n_real = 300, n_synth = 2000, n_test = 200, teacher_steps = 0;
  double teacher_temperature = 1.0;
  std::int64_t verifier_steps = 0, verifier_samples = 1, ttc_samples = 0;
  std::string verifier = "process";
  std::vector<std::string> students = {"real", "synth_all", "synth_verified", "mix_all", "mix_verified"};
  std::int64_t student_examples = 0;      // > 0: every synthetic pool a student uses drawn down to one common count
  std::string student_init = "scratch";  // scratch | teacher (fine-tune the teacher: rejection-sampling fine-tuning)
  double student_lr = 0;                 // the students' peak learning rate (0: train.lr)
};

void check(const synth_params& c) {
  if (c.ops_min > c.ops_max)
    throw tasks::param_error("ops_min", fmt::format("synth_verified: ops_min {} is above ops_max {}", c.ops_min, c.ops_max));
  if (c.ttc_samples > 0 && c.verifier_steps == 0)
    throw tasks::param_error("ttc_samples", "synth_verified: test-time compute ranks samples by the learned verifier",
                             "set task.verifier_steps > 0 or task.ttc_samples = 0");
  for (const auto& s : c.students)
    if (s.find("learned") != std::string::npos && c.verifier_steps == 0)
      throw tasks::param_error("students", fmt::format("synth_verified: student {} is trained on the solutions the learned verifier keeps", s),
                               "set task.verifier_steps > 0 or drop it from task.students");
}

const tasks::param_table<synth_params>& synth_table() {
  static const auto t = tasks::param_table<synth_params>("synth_verified")
        .add("ops_min", &synth_params::ops_min, "fewest operations of a training / in-distribution problem", 1, 8)
        .add("ops_max", &synth_params::ops_max, "most operations of a training / in-distribution problem", 1, 8)
        .add("ood_ops", &synth_params::ood_ops, "operations of the out-of-distribution test problems", 1, 8)
        .add("max_value", &synth_params::max_value, "largest start value, operand and running total (9: one-digit numbers)", 1, 99)
        .add("n_real", &synth_params::n_real, "real problems with gold step-by-step solutions", 1, 1e7)
        .add("n_synth", &synth_params::n_synth, "new problems the teacher solves (one sample each)", 1, 1e7)
        .add("n_test", &synth_params::n_test, "held-out problems per slice (id, ood)", 1, 1e6)
        .add("teacher_steps", &synth_params::teacher_steps, "teacher training steps (0: train.steps)", 0, 1e8)
        .add("teacher_temperature", &synth_params::teacher_temperature, "the teacher's sampling temperature", 1e-3, 100)
        .add("verifier_steps", &synth_params::verifier_steps, "training steps of the learned verifier (0: none)", 0, 1e8)
        .add("verifier", &synth_params::verifier, "the learned verifier: process (a label every step), outcome (one after the answer) or step_likelihood (next-token probability of each step, trained on gold solutions)",
             -INFINITY, INFINITY, {"process", "outcome", "step_likelihood"})
        .add("verifier_samples", &synth_params::verifier_samples, "teacher samples per real problem in the verifier's training data", 0, 1000)
        .add("ttc_samples", &synth_params::ttc_samples, "teacher samples per in-distribution test problem for test-time compute (0: none)", 0, 4096)
        .add("students", &synth_params::students,
             "the students trained and scored (empty: none; synth_learned and mix_learned need the learned verifier)", -INFINITY, INFINITY,
             {"real", "synth_all", "synth_verified", "mix_all", "mix_verified", "synth_learned", "mix_learned"})
        .add("student_examples", &synth_params::student_examples,
             "synthetic examples per student (0: its whole pool); every pool the students use is drawn down without replacement to "
             "min(this, the smallest such pool), so the arms differ in correctness, not count",
             0, 1e7)
        .omit_when_default()
        .add("student_init", &synth_params::student_init,
             "the students' initial weights: scratch (the same fresh initialisation) or teacher (fine-tune the teacher on its own "
             "filtered samples, rejection-sampling fine-tuning)",
             -INFINITY, INFINITY, {"scratch", "teacher"})
        .omit_when_default()
        .add("student_lr", &synth_params::student_lr, "the students' peak learning rate (0: train.lr)", 0, 10)
        .omit_when_default();
  return t;
}

// Problem tokens then a solution; the loss is on the solution.
token_example make_example(const chain_problem& p, const std::vector<std::int32_t>& solution) {
  auto t = problem_tokens(p);
  const std::size_t prompt = t.size();
  t.insert(t.end(), solution.begin(), solution.end());
  return next_token_example(t, prompt);
}

// One solution per problem (greedy when T == 0), batched over problems of equal length.
std::vector<std::vector<std::int32_t>> solve(models::causal_lm& model, const std::vector<chain_problem>& ps, double T, rng& g) {
  no_grad ng;
  model.eval();
  models::sample_options so;
  so.temperature = T;
  std::map<std::size_t, std::vector<std::size_t>> by_ops;
  for (std::size_t i = 0; i < ps.size(); ++i) by_ops[ps[i].ops.size()].push_back(i);
  std::vector<std::vector<std::int32_t>> out(ps.size());
  for (const auto& [k, all] : by_ops) {
    const std::size_t max_new = 9 * k + 4;
    for (std::size_t c0 = 0; c0 < all.size(); c0 += 256) {
      const std::vector<std::size_t> idx(all.begin() + static_cast<std::ptrdiff_t>(c0),
                                         all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), c0 + 256)));
      const auto B = static_cast<std::int64_t>(idx.size());
      std::vector<std::vector<std::int32_t>> prompts;
      for (auto i : idx) prompts.push_back(problem_tokens(ps[i]));
      auto st = model.new_state(B);
      tensor logits;
      std::vector<std::int32_t> col(idx.size());
      for (std::size_t t = 0; t < prompts[0].size(); ++t) {
        for (std::size_t b = 0; b < idx.size(); ++b) col[b] = prompts[b][t];
        logits = model.step(*st, tensor::from<std::int32_t>({B}, std::span<const std::int32_t>(col)));
      }
      std::vector<bool> done(idx.size(), false);
      for (std::size_t step = 0; step < max_new; ++step) {
        const tensor l = logits.contiguous_raw();
        const std::int64_t V = l.size(1);
        for (std::size_t b = 0; b < idx.size(); ++b) {
          const std::span<const float> row(l.data<float>() + static_cast<std::int64_t>(b) * V, static_cast<std::size_t>(V));
          col[b] = models::pick_token(row, so, g.uniform());
          if (!done[b]) {
            out[idx[b]].push_back(col[b]);
            done[b] = col[b] == chain_tok::eos;
          }
        }
        if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }) || step + 1 == max_new) break;
        logits = model.step(*st, tensor::from<std::int32_t>({B}, std::span<const std::int32_t>(col)));
      }
    }
  }
  model.train(true);
  return out;
}

struct scores {
  double acc = 0, steps = 0;
};
scores evaluate(models::causal_lm& model, const std::vector<chain_problem>& ps) {
  rng unused(0);
  const auto sols = solve(model, ps, 0.0, unused);
  scores s;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const verdict v = verify_solution(ps[i], sols[i]);
    s.acc += v.answer_correct;
    s.steps += v.verified();
  }
  s.acc /= static_cast<double>(ps.size());
  s.steps /= static_cast<double>(ps.size());
  return s;
}

// The teacher's solutions as training examples, all of them and those the verifier keeps, with
// how many reach the right answer, how many of those through a wrong step ("lucky"), and how
// many verified ones are right.
struct filtered {
  std::vector<token_example> all, verified;
  double right = 0, lucky = 0, verified_right = 0;
};

filtered filter_solutions(const std::vector<chain_problem>& problems, const std::vector<std::vector<std::int32_t>>& sols) {
  filtered f;
  for (std::size_t i = 0; i < sols.size(); ++i) {
    const verdict v = verify_solution(problems[i], sols[i]);
    f.all.push_back(make_example(problems[i], sols[i]));
    f.right += v.answer_correct;
    f.lucky += v.answer_correct && !(v.well_formed && v.all_steps_valid);
    if (v.verified()) {
      f.verified.push_back(f.all.back());
      f.verified_right += v.answer_correct;
    }
  }
  return f;
}

using row = std::tuple<std::string, std::string, double, std::int64_t>;  // slice, metric, value, n

// The learned verifier's training data, one set per real problem: its gold solution, one
// perturbed gold solution (a random step's result made wrong) and `verifier_samples` teacher
// samples, every one labelled by the exact checker (chain_verifier.hpp); step_likelihood reads
// the gold solutions only (the teacher's data, another initialisation and batch stream).
std::unique_ptr<models::lm> train_learned_verifier(const synth_params& p, chain_verifier_kind kind, const models::lm_config& mc,
                                                   const train::optim_config& oc, models::causal_lm& teacher,
                                                   const std::vector<chain_problem>& real_problems, std::uint64_t seed,
                                                   std::vector<row>& rows) {
  rng gv(seed, 0x56455249ull), gt(seed, 0x5653414dull);
  std::vector<token_example> data;
  const bool generative = kind == chain_verifier_kind::step_likelihood;
  for (const auto& q : real_problems) {
    data.push_back(chain_verifier_example(q, gold_solution(q), kind));
    if (!generative) data.push_back(chain_verifier_example(q, random_perturbation(q, gv, static_cast<int>(p.max_value)), kind));
  }
  std::vector<chain_problem> reps;
  for (const auto& q : real_problems)
    for (std::int64_t j = 0; j < (generative ? 0 : p.verifier_samples); ++j) reps.push_back(q);
  double verified = 0;
  if (!reps.empty()) {
    const auto sampled = solve(teacher, reps, p.teacher_temperature, gt);
    for (std::size_t i = 0; i < reps.size(); ++i) {
      data.push_back(chain_verifier_example(reps[i], sampled[i], kind));
      verified += verify_solution(reps[i], sampled[i]).verified();
    }
    rows.emplace_back("verifier", "teacher_sample_verified_rate", verified / static_cast<double>(reps.size()),
                      static_cast<std::int64_t>(reps.size()));
  }
  rows.emplace_back("verifier", "train_sequences", static_cast<double>(data.size()), static_cast<std::int64_t>(data.size()));
  auto v = train_on_examples(mc, data, oc, p.verifier_steps, chain_tok::pad, rng(seed, 0x56524659ull).next_u64());
  v->eval();
  return v;
}

// Filters the teacher's synthetic solutions by the learned verifier (score > 0) and logs how its
// choice compares with the exact checker's; returns the kept mask.
std::vector<bool> learned_filter(models::causal_lm& verifier, chain_verifier_kind kind, const std::vector<chain_problem>& ps,
                                 const std::vector<std::vector<std::int32_t>>& sols, std::vector<row>& rows) {
  const auto scores = chain_label_scores(verifier, ps, sols, kind);
  std::vector<bool> kept(ps.size());
  double n_kept = 0, kept_verified = 0, kept_right = 0, n_verified = 0, agree = 0;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    kept[i] = chain_solution_score(scores[i]) > 0;
    const verdict v = verify_solution(ps[i], sols[i]);
    n_kept += kept[i];
    n_verified += v.verified();
    kept_verified += kept[i] && v.verified();
    kept_right += kept[i] && v.answer_correct;
    agree += kept[i] == v.verified();
  }
  const auto n = static_cast<std::int64_t>(ps.size());
  rows.emplace_back("synth", "learned_kept_rate", n_kept / static_cast<double>(n), n);
  rows.emplace_back("synth", "learned_agreement", agree / static_cast<double>(n), n);
  if (n_kept > 0) {
    rows.emplace_back("synth", "learned_precision", kept_verified / n_kept, static_cast<std::int64_t>(n_kept));
    rows.emplace_back("synth", "learned_answer_precision", kept_right / n_kept, static_cast<std::int64_t>(n_kept));
  }
  if (n_verified > 0) rows.emplace_back("synth", "learned_recall", kept_verified / n_verified, static_cast<std::int64_t>(n_verified));
  return kept;
}

// The learned verifier on held-out problems: gold solutions should pass, and in a gold solution
// with one step made wrong the first flagged step should be that step (slice "verifier").
void score_flags(models::causal_lm& verifier, chain_verifier_kind kind, const std::vector<chain_problem>& test, int max_value, rng& g,
                 std::vector<row>& rows) {
  std::vector<chain_problem> ps;
  std::vector<std::vector<std::int32_t>> sols;
  std::vector<int> wrong_step;
  for (const auto& q : test) {
    ps.push_back(q), sols.push_back(gold_solution(q)), wrong_step.push_back(-1);
    int s = -1;
    ps.push_back(q), sols.push_back(random_perturbation(q, g, max_value, &s)), wrong_step.push_back(s);
  }
  const auto scores = chain_label_scores(verifier, ps, sols, kind);
  double gold_pass = 0, flagged = 0, at_step = 0;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const int first = first_flagged(scores[i]);
    if (wrong_step[i] < 0) gold_pass += first < 0;
    else flagged += first >= 0, at_step += first == wrong_step[i];
  }
  const auto n = static_cast<std::int64_t>(test.size());
  rows.emplace_back("verifier", "gold_pass_rate", gold_pass / static_cast<double>(n), n);
  rows.emplace_back("verifier", "wrong_flagged_rate", flagged / static_cast<double>(n), n);
  if (kind != chain_verifier_kind::outcome) rows.emplace_back("verifier", "wrong_step_found_rate", at_step / static_cast<double>(n), n);
}

// Test-time compute with the teacher as generator: ttc_samples solutions per in-distribution
// test problem at teacher_temperature, aggregated for k = 1, 2, 4, ... by pass@k (the exact
// checker as a perfect verifier), majority vote over final answers, best-of-k by the learned
// verifier and the vote weighted by it (ttc.hpp). Inference FLOPs per item: k × tokens ×
// forward FLOPs per token for generation; the verifier (the same size) reads each sample once
// more, so best-of-k and the weighted vote cost twice that (flops_verified_per_item).
void test_time_compute(const synth_params& p, models::causal_lm& teacher, models::causal_lm& verifier, chain_verifier_kind kind,
                       const std::vector<chain_problem>& test, rng& g, std::vector<row>& rows) {
  const auto n = static_cast<std::size_t>(p.ttc_samples);
  std::vector<chain_problem> reps;
  for (const auto& q : test)
    for (std::size_t j = 0; j < n; ++j) reps.push_back(q);
  const auto sols = solve(teacher, reps, p.teacher_temperature, g);
  const auto scores = chain_label_scores(verifier, reps, sols, kind);
  std::vector<std::vector<sampled_answer>> items(test.size());
  std::vector<std::vector<double>> sc(test.size());
  std::vector<std::vector<bool>> ok(test.size());
  std::vector<std::vector<std::int64_t>> len(test.size());
  double tokens = 0;
  for (std::size_t i = 0; i < reps.size(); ++i) {
    const verdict v = verify_solution(reps[i], sols[i]);
    const auto read = final_answer(sols[i]);
    const std::string answer = read ? std::to_string(*read) : "?" + std::to_string(i);  // unreadable: never part of a majority
    sampled_answer a{answer, v.answer_correct, 0.0, chain_solution_score(scores[i])};
    items[i / n].push_back(a);
    sc[i / n].push_back(a.verifier);
    ok[i / n].push_back(a.correct);
    len[i / n].push_back(static_cast<std::int64_t>(sols[i].size()));
    tokens += static_cast<double>(problem_tokens(reps[i]).size() + sols[i].size());
  }
  tokens /= static_cast<double>(reps.size());
  const ranking_quality q = ranking_of(sc, ok, len);
  const auto nt = static_cast<std::int64_t>(test.size());
  if (!std::isnan(q.within)) rows.emplace_back("verifier", "ttc_auc_within", q.within, q.mixed_items);
  if (!std::isnan(q.pooled)) rows.emplace_back("verifier", "ttc_auc_pooled", q.pooled, nt);
  const double fwd = teacher.train_flops_per_token(teacher.n_ctx()) / 3.0;  // forward = 1/3 of training
  std::map<std::size_t, ttc_accuracy> at;
  for (std::size_t k = 1; k <= n; k *= 2)
    at[k] = mean_item_accuracy(items.size(), [&](std::size_t i) -> const auto& { return items[i]; }, static_cast<std::int64_t>(k), 50, g);
  for (const auto& [k, a] : at) {
    const double flops = static_cast<double>(k) * tokens * fwd;
    const std::string slice = fmt::format("k={}", k);
    std::vector<std::pair<std::string, double>> m = {{"pass", a.pass},
                                                     {"majority", a.majority},
                                                     {"learned", a.learned},
                                                     {"learned_vote", a.learned_vote},
                                                     {"uninformed", a.uninformed},
                                                     {"flops_per_item", flops},
                                                     {"flops_verified_per_item", 2 * flops}};
    for (auto& d : paired_differences(at, k)) m.push_back(std::move(d));  // paired within the run (ttc.hpp)
    for (const auto& [name, v] : m) rows.emplace_back(slice, name, v, nt);
  }
}

// The held-out problems, drawn first, and fresh training problems: none equals a held-out one.
struct problem_pool {
  const synth_params& p;
  std::vector<chain_problem> test_id, test_ood;
  std::unordered_set<std::uint64_t> held;

  problem_pool(const synth_params& params, std::uint64_t seed) : p(params) {
    rng gt(seed, 0x5445535400ull);  // "TEST"
    for (std::int64_t i = 0; i < p.n_test; ++i) {
      test_id.push_back(sample_chain_problem(ops_in_range(gt), gt, static_cast<int>(p.max_value)));
      test_ood.push_back(sample_chain_problem(static_cast<int>(p.ood_ops), gt, static_cast<int>(p.max_value)));
      held.insert(problem_key(test_id.back()));
      held.insert(problem_key(test_ood.back()));
    }
  }
  int ops_in_range(rng& g) const {
    return static_cast<int>(p.ops_min + static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(p.ops_max - p.ops_min + 1))));
  }
  chain_problem fresh(rng& g) const {
    for (int tries = 0; tries < 10000; ++tries) {
      auto q = sample_chain_problem(ops_in_range(g), g, static_cast<int>(p.max_value));
      if (!held.count(problem_key(q))) return q;
    }
    throw tasks::param_error("max_value", "synth_verified: nearly every problem is held out for testing", "raise task.max_value or lower task.n_test");
  }
};

// How every student trains: the same model config, optimiser, steps, seed and initial weights
// (null: a fresh initialisation).
struct student_recipe {
  const models::lm_config& mc;
  const train::optim_config& oc;
  std::int64_t steps;
  std::uint64_t seed;
  const models::causal_lm* init = nullptr;
};

// `n` examples of `pool` drawn without replacement (a partial Fisher-Yates shuffle), in draw order.
std::vector<token_example> draw_examples(const std::vector<token_example>& pool, std::size_t n, rng& g) {
  std::vector<std::size_t> idx(pool.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  n = std::min(n, pool.size());
  std::vector<token_example> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::swap(idx[i], idx[i + static_cast<std::size_t>(g.below(idx.size() - i))]);
    out.push_back(pool[idx[i]]);
  }
  return out;
}

// Trains and scores each student on its data; returns mix_verified's in-distribution accuracy
// when that student trained.
std::optional<double> train_students(const synth_params& p, const std::vector<std::pair<std::string, std::vector<token_example>>>& students,
                                     const student_recipe& r, const std::vector<chain_problem>& test_id,
                                     const std::vector<chain_problem>& test_ood, std::FILE* progress, std::vector<row>& rows) {
  std::optional<double> mix_id;
  std::map<std::string, std::pair<double, double>> acc;  // id, ood
  for (const auto& [name, data] : students) {
    rows.emplace_back("synth", "examples_" + name, static_cast<double>(data.size()), static_cast<std::int64_t>(data.size()));
    if (data.empty()) continue;  // no verified solution: nothing to train on (the metric stays absent)
    auto model = train_on_examples(r.mc, data, r.oc, r.steps, chain_tok::pad, r.seed, nullptr, r.init);
    const auto s_id = evaluate(*model, test_id), s_ood = evaluate(*model, test_ood);
    rows.insert(rows.end(), {{"id", "acc_" + name, s_id.acc, p.n_test}, {"id", "steps_" + name, s_id.steps, p.n_test},
                             {"ood", "acc_" + name, s_ood.acc, p.n_test}, {"ood", "steps_" + name, s_ood.steps, p.n_test}});
    if (name == "mix_verified") mix_id = s_id.acc;
    acc[name] = {s_id.acc, s_ood.acc};
    if (progress)
      std::fprintf(progress, "synth: student %s (%zu examples): id acc %.3f steps %.3f, ood acc %.3f\n", name.c_str(), data.size(), s_id.acc,
                   s_id.steps, s_ood.acc);
  }
  // Paired gains within the run (same teacher, test problems, initialisation and batch stream):
  // each student against the student on every teacher solution (the rules read these).
  if (acc.count("synth_all"))
    for (const auto& [name, a] : acc)
      if (name != "synth_all")
        rows.insert(rows.end(), {{"id", "gain_" + name, a.first - acc["synth_all"].first, p.n_test},
                                 {"ood", "gain_" + name, a.second - acc["synth_all"].second, p.n_test}});
  return mix_id;
}

// The students' training sets by name (real, synth_X, mix_X = real + synth_X), each synthetic
// pool first drawn down to one common count when task.student_examples > 0 (logged as a row).
std::vector<std::pair<std::string, std::vector<token_example>>> student_sets(
    const synth_params& p, const std::vector<token_example>& real, std::array<const std::vector<token_example>*, 3> synth,
    std::uint64_t seed, std::vector<row>& rows) {
  auto concat = [](std::vector<token_example> a, const std::vector<token_example>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::map<std::string, std::vector<token_example>> drawn;  // the synthetic pools drawn down to one count
  std::map<std::string, const std::vector<token_example>*> sources = {
      {"real", &real}, {"synth_all", synth[0]}, {"synth_verified", synth[1]}, {"synth_learned", synth[2]}};
  if (p.student_examples > 0) {
    auto n = static_cast<std::size_t>(p.student_examples);
    for (const std::string& name : p.students)
      if (name != "real") n = std::min(n, sources.at(name.rfind("mix_", 0) == 0 ? "synth_" + name.substr(4) : name)->size());
    rng gd(seed, 0x4452415700ull);  // "DRAW"
    for (const char* pool : {"synth_all", "synth_verified", "synth_learned"}) {
      drawn[pool] = draw_examples(*sources.at(pool), n, gd);
      sources[pool] = &drawn[pool];
    }
    rows.emplace_back("synth", "student_examples", static_cast<double>(n), static_cast<std::int64_t>(n));
  }
  std::vector<std::pair<std::string, std::vector<token_example>>> students;
  for (const std::string& name : p.students)  // mix_X: real + synth_X
    students.emplace_back(name, name.rfind("mix_", 0) == 0 ? concat(real, *sources.at("synth_" + name.substr(4))) : *sources.at(name));
  return students;
}

lab::run_result run_synth(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = synth_table().read(ctx.config.at("task"), {"name"});
  check(p);
  const auto kmax = std::max(p.ops_max, p.ood_ops);
  nlohmann::json mj = lab::lm_model_json(ctx.config.value("model", nlohmann::json::object()));
  mj["vocab_size"] = chain_tok::vocab;
  mj["n_ctx"] = 12 * kmax + 8;  // the longest problem + solution
  const models::lm_config mc = models::lm_config_from_json(mj, "model");
  mc.validate("model.");
  const nlohmann::json tj = ctx.config.value("train", nlohmann::json::object());
  const train::optim_config oc = lab::shared_train_keys(tj);
  const std::int64_t steps = tj.value("steps", std::int64_t{500});
  const std::int64_t teacher_steps = p.teacher_steps > 0 ? p.teacher_steps : steps;
  LMLAB_CHECK(steps >= 1 && oc.batch_size >= 1, "synth_verified: train.steps and train.batch_size must be >= 1");

  const problem_pool pool(p, ctx.seed);
  const std::vector<chain_problem>&test_id = pool.test_id, &test_ood = pool.test_ood;
  rng gr(ctx.seed, 0x5245414C00ull), gs(ctx.seed, 0x53594E5400ull), gsample(ctx.seed, 0x534D504C00ull);
  std::vector<chain_problem> real_problems;
  std::vector<token_example> real;
  for (std::int64_t i = 0; i < p.n_real; ++i) {
    real_problems.push_back(pool.fresh(gr));
    real.push_back(make_example(real_problems.back(), gold_solution(real_problems.back())));
  }
  const std::uint64_t teacher_seed = rng(ctx.seed, 0x54434852ull).next_u64();
  auto teacher = train_on_examples(mc, real, oc, teacher_steps, chain_tok::pad, teacher_seed);

  std::vector<chain_problem> synth_problems;
  for (std::int64_t i = 0; i < p.n_synth; ++i) synth_problems.push_back(pool.fresh(gs));
  const auto sols = solve(*teacher, synth_problems, p.teacher_temperature, gsample);
  const filtered f = filter_solutions(synth_problems, sols);
  const std::vector<token_example>&synth_all = f.all, &synth_verified = f.verified;
  const double right = f.right, lucky = f.lucky, verified_right = f.verified_right;
  const double ns = static_cast<double>(sols.size());
  std::vector<row> rows = {{"synth", "answer_rate", right / ns, p.n_synth},
                           {"synth", "verified_rate", static_cast<double>(synth_verified.size()) / ns, p.n_synth},
                           {"synth", "lucky_rate", lucky / ns, p.n_synth}};
  if (!synth_verified.empty())
    rows.emplace_back("synth", "verifier_precision", verified_right / static_cast<double>(synth_verified.size()),
                      static_cast<std::int64_t>(synth_verified.size()));
  const auto ts_id = evaluate(*teacher, test_id), ts_ood = evaluate(*teacher, test_ood);
  rows.insert(rows.end(), {{"id", "acc_teacher", ts_id.acc, p.n_test}, {"id", "steps_teacher", ts_id.steps, p.n_test},
                           {"ood", "acc_teacher", ts_ood.acc, p.n_test}, {"ood", "steps_teacher", ts_ood.steps, p.n_test}});
  if (ctx.progress)
    std::fprintf(ctx.progress, "synth: teacher id acc %.3f, synthetic answers right %.3f, verified %.3f (%zu kept)\n", ts_id.acc,
                 right / ns, static_cast<double>(synth_verified.size()) / ns, synth_verified.size());

  // The learned verifier: trained on the real problems' gold, perturbed and teacher-sampled
  // solutions labelled by the checker; then it filters the synthetic data and ranks test samples.
  std::vector<token_example> synth_learned;
  if (p.verifier_steps > 0) {
    const chain_verifier_kind kind = chain_verifier_kind_from(p.verifier);
    auto verifier = train_learned_verifier(p, kind, mc, oc, *teacher, real_problems, ctx.seed, rows);
    const auto kept = learned_filter(*verifier, kind, synth_problems, sols, rows);
    for (std::size_t i = 0; i < kept.size(); ++i)
      if (kept[i]) synth_learned.push_back(f.all[i]);
    rng gflag(ctx.seed, 0x464c4147ull);
    score_flags(*verifier, kind, test_id, static_cast<int>(p.max_value), gflag, rows);
    if (p.ttc_samples > 0) test_time_compute(p, *teacher, *verifier, kind, test_id, gsample, rows);
  }
  if (p.student_init != "teacher") teacher.reset();

  const auto students = student_sets(p, real, {&synth_all, &synth_verified, &synth_learned}, ctx.seed, rows);
  // Every student starts from the same initialisation and batch stream: they differ in data only.
  const std::uint64_t student_seed = rng(ctx.seed, 0x53545544ull).next_u64();
  train::optim_config soc = oc;
  if (p.student_lr > 0) soc.lr = p.student_lr;
  const student_recipe recipe{mc, soc, steps, student_seed, p.student_init == "teacher" ? teacher.get() : nullptr};
  const double mix_id = train_students(p, students, recipe, test_id, test_ood, ctx.progress, rows).value_or(ts_id.acc);
  if (ctx.db)
    for (const auto& [slice, metric, value, n] : rows) ctx.db->log_evaluation(ctx.store_run, "test", slice, metric, value, n);
  if (ctx.progress)
    for (const auto& [slice, metric, value, n] : rows)
      if (slice == "verifier" || slice.rfind("k=", 0) == 0 || metric.rfind("learned_", 0) == 0)
        std::fprintf(ctx.progress, "synth: %s %s %.4f (n %lld)\n", slice.c_str(), metric.c_str(), value, static_cast<long long>(n));
  lab::run_result r;
  r.steps = steps;
  r.test_accuracy = mix_id;  // mix_verified's in-distribution accuracy; the teacher's without students
  r.final_train_loss = NAN;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

void register_synth() {
  tasks::register_once([] {
    lab::register_lab_task("synth_verified",
                           "synthetic step-by-step data from a teacher, filtered by a step verifier, against real data", synth_table(),
                           run_synth);
  });
}

}  // namespace lmlab::datalab
