// Verified synthetic data against real data: see synth_runner.hpp.
#include "datalab/synth_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_set>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "datalab/small_train.hpp"
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
};

void check(const synth_params& c) {
  if (c.ops_min > c.ops_max)
    throw tasks::param_error("ops_min", fmt::format("synth_verified: ops_min {} is above ops_max {}", c.ops_min, c.ops_max));
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
        .add("teacher_temperature", &synth_params::teacher_temperature, "the teacher's sampling temperature", 1e-3, 100);
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

  // Held-out problems first; no training problem may equal one of them.
  rng gt(ctx.seed, 0x5445535400ull);  // "TEST"
  std::vector<chain_problem> test_id, test_ood;
  std::unordered_set<std::uint64_t> held;
  auto ops_in_range = [&](rng& g) { return static_cast<int>(p.ops_min + static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(p.ops_max - p.ops_min + 1)))); };
  for (std::int64_t i = 0; i < p.n_test; ++i) {
    test_id.push_back(sample_chain_problem(ops_in_range(gt), gt, static_cast<int>(p.max_value)));
    test_ood.push_back(sample_chain_problem(static_cast<int>(p.ood_ops), gt, static_cast<int>(p.max_value)));
    held.insert(problem_key(test_id.back()));
    held.insert(problem_key(test_ood.back()));
  }
  auto fresh = [&](rng& g) {
    for (int tries = 0; tries < 10000; ++tries) {
      auto q = sample_chain_problem(ops_in_range(g), g, static_cast<int>(p.max_value));
      if (!held.count(problem_key(q))) return q;
    }
    throw tasks::param_error("max_value", "synth_verified: nearly every problem is held out for testing", "raise task.max_value or lower task.n_test");
  };
  rng gr(ctx.seed, 0x5245414C00ull), gs(ctx.seed, 0x53594E5400ull), gsample(ctx.seed, 0x534D504C00ull);
  std::vector<token_example> real;
  for (std::int64_t i = 0; i < p.n_real; ++i) {
    const auto q = fresh(gr);
    real.push_back(make_example(q, gold_solution(q)));
  }
  const std::uint64_t teacher_seed = rng(ctx.seed, 0x54434852ull).next_u64();
  auto teacher = train_on_examples(mc, real, oc, teacher_steps, chain_tok::pad, teacher_seed);

  std::vector<chain_problem> synth_problems;
  for (std::int64_t i = 0; i < p.n_synth; ++i) synth_problems.push_back(fresh(gs));
  const auto sols = solve(*teacher, synth_problems, p.teacher_temperature, gsample);
  const filtered f = filter_solutions(synth_problems, sols);
  const std::vector<token_example>&synth_all = f.all, &synth_verified = f.verified;
  const double right = f.right, lucky = f.lucky, verified_right = f.verified_right;
  const double ns = static_cast<double>(sols.size());
  using row = std::tuple<std::string, std::string, double, std::int64_t>;  // slice, metric, value, n
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
  teacher.reset();

  auto concat = [](std::vector<token_example> a, const std::vector<token_example>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<std::pair<std::string, std::vector<token_example>>> students = {
      {"real", real},
      {"synth_all", synth_all},
      {"synth_verified", synth_verified},
      {"mix_all", concat(real, synth_all)},
      {"mix_verified", concat(real, synth_verified)}};
  // Every student starts from the same initialisation and batch stream: they differ in data only.
  const std::uint64_t student_seed = rng(ctx.seed, 0x53545544ull).next_u64();
  double mix_id = NAN;
  for (const auto& [name, data] : students) {
    rows.emplace_back("synth", "examples_" + name, static_cast<double>(data.size()), static_cast<std::int64_t>(data.size()));
    if (data.empty()) continue;  // no verified solution: nothing to train on (the metric stays absent)
    auto model = train_on_examples(mc, data, oc, steps, chain_tok::pad, student_seed);
    const auto s_id = evaluate(*model, test_id), s_ood = evaluate(*model, test_ood);
    rows.insert(rows.end(), {{"id", "acc_" + name, s_id.acc, p.n_test}, {"id", "steps_" + name, s_id.steps, p.n_test},
                             {"ood", "acc_" + name, s_ood.acc, p.n_test}, {"ood", "steps_" + name, s_ood.steps, p.n_test}});
    if (name == "mix_verified") mix_id = s_id.acc;
    if (ctx.progress)
      std::fprintf(ctx.progress, "synth: student %s (%zu examples): id acc %.3f steps %.3f, ood acc %.3f\n", name.c_str(), data.size(),
                   s_id.acc, s_id.steps, s_ood.acc);
  }
  if (ctx.db)
    for (const auto& [slice, metric, value, n] : rows) ctx.db->log_evaluation(ctx.store_run, "test", slice, metric, value, n);
  lab::run_result r;
  r.steps = steps;
  r.test_accuracy = mix_id;
  r.final_train_loss = NAN;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

void register_synth() {
  static const bool done = [] {
    lab::register_lab_task("synth_verified",
                           "synthetic step-by-step data from a teacher, filtered by a step verifier, against real data", synth_table(),
                           run_synth);
    return true;
  }();
  (void)done;
}

}  // namespace lmlab::datalab
