// A learned verifier of chain solutions: see chain_verifier.hpp.
#include "datalab/chain_verifier.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::datalab {

chain_verifier_kind chain_verifier_kind_from(const std::string& name) {
  if (name == "process") return chain_verifier_kind::process;
  if (name == "outcome") return chain_verifier_kind::outcome;
  if (name == "step_likelihood") return chain_verifier_kind::step_likelihood;
  LMLAB_CHECK(false, "chain verifier: unknown kind '{}' (process, outcome or step_likelihood)", name);
  return chain_verifier_kind::process;
}

namespace {
int wrap(int v) { return ((v % 100) + 100) % 100; }
constexpr std::int32_t yes = 1, no = 0;  // the label tokens: the digits "1" and "0"
}  // namespace

std::vector<std::int32_t> perturbed_solution(const chain_problem& p, int step, int wrong) {
  LMLAB_CHECK(step >= 0 && static_cast<std::size_t>(step) < p.ops.size(), "perturbed solution: step {} of {}", step, p.ops.size());
  LMLAB_CHECK(wrong >= 0 && wrong <= 99, "perturbed solution: wrong value {} outside 0..99", wrong);
  int x = p.start;
  for (int i = 0; i <= step; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const int right = wrap(p.ops[k] == '+' ? x + p.operands[k] : x - p.operands[k]);
    LMLAB_CHECK(i != step || wrong != right, "perturbed solution: the wrong value {} is the right one", wrong);
    x = right;
  }
  return solution_with_result(p, step, wrong);
}

std::vector<std::int32_t> random_perturbation(const chain_problem& p, rng& g, int max_value, int* step_out) {
  const int step = static_cast<int>(g.below(p.ops.size()));
  if (step_out) *step_out = step;
  const auto gold = gold_solution(p);
  const int right = gold[static_cast<std::size_t>(9 * step + 6)] * 10 + gold[static_cast<std::size_t>(9 * step + 7)];  // its result
  // Uniform over 0..max_value without the right value (which is in that range for a sampled problem).
  int wrong = static_cast<int>(g.below(static_cast<std::uint64_t>(max_value)));
  if (wrong >= right) ++wrong;
  return perturbed_solution(p, step, std::min(wrong, 99));
}

std::vector<std::size_t> chain_label_positions(const chain_problem& p, const std::vector<std::int32_t>& solution,
                                               chain_verifier_kind kind) {
  const std::size_t prompt = problem_tokens(p).size();
  std::vector<std::size_t> pos;
  if (kind != chain_verifier_kind::outcome)
    for (std::size_t t = 0; t < solution.size(); ++t)
      if (solution[t] == chain_tok::semi) pos.push_back(prompt + t);
  const std::size_t last = prompt + solution.size() - 1;  // the prompt's "=" when the solution is empty
  if (pos.empty() || pos.back() != last) pos.push_back(last);
  return pos;
}

token_example chain_verifier_example(const chain_problem& p, const std::vector<std::int32_t>& solution, chain_verifier_kind kind) {
  if (kind == chain_verifier_kind::step_likelihood) {
    auto t = problem_tokens(p);
    const std::size_t prompt = t.size();
    t.insert(t.end(), solution.begin(), solution.end());
    return next_token_example(t, prompt);
  }
  token_example e;
  e.input = problem_tokens(p);
  e.input.insert(e.input.end(), solution.begin(), solution.end());
  e.target.assign(e.input.size(), tasks::ignore_index);
  const verdict v = verify_solution(p, solution);
  const auto pos = chain_label_positions(p, solution, kind);
  if (kind == chain_verifier_kind::outcome) {
    e.target[pos.back()] = v.answer_correct ? yes : no;
    return e;
  }
  for (std::size_t j = 0; j + 1 < pos.size(); ++j) e.target[pos[j]] = static_cast<int>(j) < v.valid_steps ? yes : no;
  e.target[pos.back()] = v.verified() ? yes : no;
  return e;
}

std::vector<std::vector<double>> chain_label_scores(models::causal_lm& model, const std::vector<chain_problem>& ps,
                                                    const std::vector<std::vector<std::int32_t>>& sols, chain_verifier_kind kind) {
  LMLAB_CHECK(ps.size() == sols.size(), "chain verifier: {} problems, {} solutions", ps.size(), sols.size());
  no_grad ng;
  std::vector<std::vector<double>> out(ps.size());
  for (std::size_t c0 = 0; c0 < ps.size(); c0 += 256) {
    const std::size_t c1 = std::min(ps.size(), c0 + 256);
    std::vector<std::vector<std::int32_t>> seqs;
    std::size_t T = 1;
    for (std::size_t i = c0; i < c1; ++i) {
      auto s = problem_tokens(ps[i]);
      s.insert(s.end(), sols[i].begin(), sols[i].end());
      s.resize(std::min<std::size_t>(s.size(), static_cast<std::size_t>(model.n_ctx())));
      T = std::max(T, s.size());
      seqs.push_back(std::move(s));
    }
    std::vector<std::int32_t> in;
    for (auto& s : seqs) {
      s.resize(T, chain_tok::pad);  // causal: padding after a sequence cannot change its scores
      in.insert(in.end(), s.begin(), s.end());
    }
    const auto B = static_cast<std::int64_t>(seqs.size()), Ti = static_cast<std::int64_t>(T);
    const tensor logits = model.forward(tensor::from<std::int32_t>({B, Ti}, std::span<const std::int32_t>(in))).contiguous_raw();
    const std::int64_t V = logits.size(2);
    auto row = [&](std::size_t i, std::size_t t) {
      return logits.data<float>() + (static_cast<std::int64_t>(i - c0) * Ti + static_cast<std::int64_t>(t)) * V;
    };
    // log p(token at t + 1 | tokens up to t)
    auto logp_next = [&](std::size_t i, std::size_t t) {
      const float* r = row(i, t);
      const float mx = *std::max_element(r, r + V);
      double z = 0;
      for (std::int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(r[v] - mx));
      return static_cast<double>(r[seqs[i - c0][t + 1]] - mx) - std::log(z);
    };
    for (std::size_t i = c0; i < c1; ++i) {
      std::size_t seg = problem_tokens(ps[i]).size();  // the first token of the current segment
      for (std::size_t t : chain_label_positions(ps[i], sols[i], kind)) {
        if (t >= T) break;  // cut at n_ctx
        if (kind != chain_verifier_kind::step_likelihood) {
          out[i].push_back(static_cast<double>(row(i, t)[yes]) - static_cast<double>(row(i, t)[no]));
          continue;
        }
        double lp = INFINITY;  // accepted when each of the segment's tokens is more likely than not
        for (std::size_t u = seg; u <= t; ++u) lp = std::min(lp, logp_next(i, u - 1) + std::log(2.0));
        out[i].push_back(lp);
        seg = t + 1;
      }
    }
  }
  return out;
}

double chain_solution_score(const std::vector<double>& s) {
  return s.empty() ? -INFINITY : *std::min_element(s.begin(), s.end());
}

int first_flagged(const std::vector<double>& s) {
  for (std::size_t j = 0; j < s.size(); ++j)
    if (!(s[j] > 0)) return static_cast<int>(j);
  return -1;
}

}  // namespace lmlab::datalab
