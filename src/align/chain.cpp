// Outcome vs process supervision: see chain.hpp.
#include "align/chain.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include "align/objectives.hpp"
#include "align/sink.hpp"
#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "lab/spec.hpp"
#include "ops/gemm.hpp"
#include "ops/ops.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"

namespace lmlab::align {

bool chain_labels::process_ok() const {
  return well_formed && std::all_of(step_ok.begin(), step_ok.end(), [](bool b) { return b; });
}

chain_env::chain_env(const chain_config& c) : token_env(c) {
  LMLAB_CHECK(c.terms >= 2 && c.terms <= 10, "align_prm: terms {} outside [2, 10] (partial sums must stay two digits)", c.terms);
  LMLAB_CHECK(c.step_error >= 0 && c.step_error <= 1, "align_prm: step_error {} outside [0, 1]", c.step_error);
  pad_ = vocab_.add("<pad>");
  bos_ = vocab_.add("<bos>");
  eos_ = vocab_.add("<eos>");
  for (int d = 0; d < 10; ++d) digit_id_.push_back(vocab_.add(std::to_string(d)));
  plus_ = vocab_.add("+");
  equals_ = vocab_.add("=");
  sep_ = vocab_.add(";");
}

void chain_env::append_number(token_seq& out, std::int64_t v) const {
  for (const char ch : std::to_string(v)) out.push_back(digit_id_[static_cast<std::size_t>(ch - '0')]);
}

chain_item chain_env::draw(rng& r) const {
  chain_item it;
  it.prompt.push_back(bos_);
  for (std::int64_t i = 0; i < cfg_.terms; ++i) {
    it.x.push_back(r.range(0, 9));
    if (i > 0) it.prompt.push_back(plus_);
    it.prompt.push_back(digit_id_[static_cast<std::size_t>(it.x.back())]);
  }
  it.prompt.push_back(equals_);
  return it;
}

token_seq chain_env::pretraining_response(const chain_item& it, rng& r) const {
  token_seq out;
  std::int64_t v = it.x[0];
  for (std::int64_t j = 1; j < cfg_.terms; ++j) {
    v += it.x[static_cast<std::size_t>(j)];
    if (r.uniform() < cfg_.step_error) {  // a slip of +-1..2; later steps build on it
      const std::int64_t off = r.range(1, 2) * (r.uniform() < 0.5 ? -1 : 1);
      v = v + off >= 0 ? v + off : v - off;
    }
    append_number(out, v);
    out.push_back(j + 1 < cfg_.terms ? sep_ : eos_);
  }
  return out;
}

chain_labels chain_env::label(const chain_item& it, const token_seq& response) const {
  chain_labels l;
  const std::int64_t steps_needed = cfg_.terms - 1;
  std::int64_t prev = it.x[0], last_value = -1;
  bool ended = false, parse_ok = true;
  std::size_t i = 0;
  while (i < response.size()) {
    // One step: digits up to ";" or <eos> (or the response's end).
    std::int64_t value = 0, n_digits = 0;
    bool numeric = true;
    std::size_t j = i;
    for (; j < response.size() && response[j] != sep_ && response[j] != eos_; ++j) {
      const auto d = std::find(digit_id_.begin(), digit_id_.end(), response[j]);
      if (d == digit_id_.end() || n_digits >= 3) {
        numeric = false;
      } else {
        value = value * 10 + (d - digit_id_.begin());
        ++n_digits;
      }
    }
    numeric = numeric && n_digits > 0;
    const std::size_t end = std::min(j, response.size() - 1);
    const bool is_eos = j < response.size() && response[j] == eos_;
    const std::int64_t step = static_cast<std::int64_t>(l.step_ok.size());  // 0-based
    const std::int64_t expect = step < steps_needed ? prev + it.x[static_cast<std::size_t>(step + 1)] : -1;
    // Correct: a number, the previous written value plus the next term, and the last step
    // exactly when it ends the response with <eos>.
    const bool ok = parse_ok && numeric && step < steps_needed && value == expect && (is_eos == (step + 1 == steps_needed)) &&
                    j < response.size();
    l.step_ok.push_back(ok);
    l.step_end.push_back(static_cast<std::int64_t>(end));
    parse_ok = parse_ok && numeric;
    if (numeric) prev = value;
    last_value = numeric ? value : -1;
    i = j + 1;
    if (is_eos) {
      ended = true;
      break;
    }
  }
  std::int64_t sum = 0;
  for (const auto x : it.x) sum += x;
  l.well_formed = ended && parse_ok && static_cast<std::int64_t>(l.step_ok.size()) == steps_needed && i == response.size();
  l.correct = l.well_formed && last_value == sum;
  return l;
}

const tasks::param_table<prm_config>& prm_params() {
  using C = prm_config;
  constexpr double inf = INFINITY;
  static const auto t = tasks::param_table<C>("align_prm")
        .add("terms", &C::terms, "one-digit numbers to add (terms - 1 written partial sums)", 2, 10)
        .add("step_error", &C::step_error, "reference data: probability that a step slips by 1-2", 0, 1)
        .add_keys(add_policy_keys<C>)
        .add("supervision", &C::supervision, "outcome (final answer) or process (every step) labels", -inf, inf,
             {"outcome", "process"})
        .add("rm_from_policy", &C::rm_from_policy,
             "the reward model's backbone starts as a copy of the reference policy ([model] must then have its shape)")
        .add("rm_samples", &C::rm_samples, "labelled reference solutions the reward model is trained on", 1, 1e7)
        .add("eval_samples", &C::eval_samples, "held-out solutions for rm_auc", 2, 1e7)
        .add("prompts", &C::prompts, "test prompts reranked", 1, 1e6)
        .add("pool", &C::pool, "samples per test prompt = the largest n (a power of 2)", 2, 65536)
        .add("votes", &C::votes, "Monte Carlo subsets per n for the majority-vote baseline", 1, 1e6)
        .add("read_at", &C::read_at, "where the head is read per step (or answer): separator (the ';' or <eos>) or last_digit",
             -inf, inf, {"separator", "last_digit"})
        .add("rerank", &C::rerank,
             "which samples a reward model may pick: well_formed (a final answer can be read off, as for majority voting) or all",
             -inf, inf, {"well_formed", "all"});
  return t;
}

std::int64_t chain_read_position(const chain_env& env, const token_seq& response, std::int64_t end, const std::string& read_at) {
  LMLAB_CHECK(read_at == "separator" || read_at == "last_digit", "align_prm: read_at '{}' (separator, last_digit)", read_at);
  LMLAB_CHECK(end >= 0 && end < static_cast<std::int64_t>(response.size()), "align_prm: step end {} outside a response of {}", end,
              response.size());
  const std::int32_t sep = env.vocab().id(";");
  const auto at = [&](std::int64_t i) { return response[static_cast<std::size_t>(i)]; };
  const bool boundary = at(end) == sep || at(end) == env.eos();
  if (read_at == "last_digit" && boundary && end >= 1 && at(end - 1) != sep) return end - 1;
  return end;
}

std::vector<double> chain_scores(reward_model& rm, const chain_env& env, const std::vector<token_seq>& prompts,
                                 const std::vector<token_seq>& responses, const std::string& supervision, std::int64_t chunk,
                                 const std::string& read_at) {
  LMLAB_CHECK(supervision == "outcome" || supervision == "process", "align_prm: supervision '{}' (outcome, process)", supervision);
  no_grad ng;
  const bool was = rm.backbone().training();
  rm.backbone().eval();
  std::vector<double> out;
  const std::int32_t sep = env.vocab().id(";");
  for (std::size_t s = 0; s < prompts.size(); s += static_cast<std::size_t>(chunk)) {
    const std::size_t e = std::min(prompts.size(), s + static_cast<std::size_t>(chunk));
    const std::vector<token_seq> ps(prompts.begin() + static_cast<std::ptrdiff_t>(s), prompts.begin() + static_cast<std::ptrdiff_t>(e));
    const std::vector<token_seq> rs(responses.begin() + static_cast<std::ptrdiff_t>(s),
                                    responses.begin() + static_cast<std::ptrdiff_t>(e));
    const packed_batch pb = pack(ps, rs, env.pad(), true);
    const auto v = rm.forward_all(pb).to_vector();  // (B*T)
    for (std::size_t b = 0; b < ps.size(); ++b) {
      const std::size_t row = b * static_cast<std::size_t>(pb.T);
      if (supervision == "outcome") {
        const auto last = static_cast<std::int64_t>(rs[b].size()) - 1;
        out.push_back(v[row + ps[b].size() + static_cast<std::size_t>(chain_read_position(env, rs[b], last, read_at))]);
        continue;
      }
      // ref: Lightman et al. 2023 sec. 2.6: a solution's PRM score is the probability that
      // every step is correct, the product of the step probabilities; we sum their logs.
      double lp = 0;
      const std::size_t P = ps[b].size();
      // Step ends: every ";" and the final token.
      for (std::size_t t = 0; t < rs[b].size(); ++t) {
        const bool is_end = t + 1 == rs[b].size() || rs[b][t] == sep;
        if (!is_end) continue;
        const double s_t = v[row + P + static_cast<std::size_t>(chain_read_position(env, rs[b], static_cast<std::int64_t>(t), read_at))];
        lp += -(s_t > 0 ? std::log1p(std::exp(-s_t)) : -s_t + std::log1p(std::exp(s_t)));  // log sigmoid
      }
      out.push_back(lp);
    }
  }
  rm.backbone().train(was);
  return out;
}

tensor positions_bce(const tensor& scores, const std::vector<std::int64_t>& positions, const std::vector<int>& labels) {
  LMLAB_CHECK(scores.dim() == 2, "align_prm: positions_bce: scores must be (B, T), got {}", shape_str(scores.shape()));
  LMLAB_CHECK(positions.size() == labels.size() && !positions.empty(), "align_prm: positions_bce: {} positions, {} labels",
              positions.size(), labels.size());
  const std::int64_t N = scores.numel();
  tensor m1 = tensor::zeros(scores.shape(), scores.type()), m0 = tensor::zeros(scores.shape(), scores.type());
  dispatch_float(scores.type(), "align_prm", [&]<class F>() {
    for (std::size_t i = 0; i < positions.size(); ++i) {
      LMLAB_CHECK(positions[i] >= 0 && positions[i] < N, "align_prm: positions_bce: position {} outside {}", positions[i], N);
      (labels[i] ? m1 : m0).data<F>()[positions[i]] += F(1);
    }
  });
  // ref: binary cross-entropy with logits: -log sigmoid(s) = softplus(-s) for label 1,
  // -log(1 - sigmoid(s)) = softplus(s) for label 0.
  tensor l = add(sum(mul(softplus(neg(scores)), m1)), sum(mul(softplus(scores), m0)));
  return mul_scalar(l, 1.0 / static_cast<double>(positions.size()));
}

double majority_vote_accuracy(const std::vector<std::int64_t>& answers, const std::vector<double>& correct, std::int64_t n,
                              std::int64_t draws, rng& r) {
  const std::size_t N = answers.size();
  LMLAB_CHECK(n >= 1 && static_cast<std::size_t>(n) <= N && correct.size() == N, "align_prm: majority vote of {} from {}", n, N);
  std::vector<std::size_t> idx(N);
  double total = 0;
  std::vector<std::int64_t> vals, counts;
  std::vector<double> right;
  for (std::int64_t d = 0; d < draws; ++d) {
    for (std::size_t i = 0; i < N; ++i) idx[i] = i;
    // a uniform n-subset: the first n places of a partial Fisher-Yates shuffle
    for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
      const std::size_t j = k + static_cast<std::size_t>(r.below(N - k));
      std::swap(idx[k], idx[j]);
    }
    vals.clear();
    counts.clear();
    right.clear();
    for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
      const std::size_t i = idx[k];
      if (answers[i] < 0) continue;  // malformed: no vote
      const auto at = std::find(vals.begin(), vals.end(), answers[i]);
      if (at == vals.end()) {
        vals.push_back(answers[i]);
        counts.push_back(1);
        right.push_back(correct[i]);
      } else {
        ++counts[static_cast<std::size_t>(at - vals.begin())];
      }
    }
    if (vals.empty()) continue;  // no well-formed answer: wrong
    const std::int64_t best = *std::max_element(counts.begin(), counts.end());
    double hit = 0, tied = 0;
    for (std::size_t v = 0; v < vals.size(); ++v) {
      if (counts[v] != best) continue;
      hit += right[v];
      tied += 1;
    }
    total += hit / tied;  // ties broken uniformly
  }
  return total / static_cast<double>(draws);
}

std::vector<float> train_chain_rm(reward_model& rm, const chain_env& env, const std::vector<chain_item>& items,
                                  const std::vector<token_seq>& responses, const std::vector<chain_labels>& labels,
                                  const std::string& supervision, const chain_rm_train& c, std::uint64_t seed) {
  LMLAB_CHECK(!items.empty() && items.size() == responses.size() && items.size() == labels.size(),
              "align_prm: train_chain_rm: {} items, {} responses, {} labels", items.size(), responses.size(), labels.size());
  rm_optimizer opt(rm, c.lr, c.weight_decay, c.steps);
  rm.backbone().train();
  std::vector<float> losses;
  for (std::int64_t step = 0; step < c.steps; ++step) {
    rng r(seed, 0x9B00ull + static_cast<std::uint64_t>(step));
    std::vector<token_seq> ps, rs;
    std::vector<std::size_t> rows;
    for (std::int64_t i = 0; i < c.batch; ++i) {
      const std::size_t k = r.below(items.size());
      ps.push_back(items[k].prompt);
      rs.push_back(responses[k]);
      rows.push_back(k);
    }
    const packed_batch pb = pack(ps, rs, env.pad(), true);
    std::vector<std::int64_t> pos;
    std::vector<int> lab;
    for (std::size_t b = 0; b < rows.size(); ++b) {
      const std::int64_t base = static_cast<std::int64_t>(b) * pb.T;
      const chain_labels& l = labels[rows[b]];
      if (supervision == "outcome") {
        const auto last = static_cast<std::int64_t>(rs[b].size()) - 1;
        pos.push_back(base + static_cast<std::int64_t>(ps[b].size()) + chain_read_position(env, rs[b], last, c.read_at));
        lab.push_back(l.correct ? 1 : 0);
      } else {
        for (std::size_t k = 0; k < l.step_ok.size(); ++k) {
          pos.push_back(base + static_cast<std::int64_t>(ps[b].size()) + chain_read_position(env, rs[b], l.step_end[k], c.read_at));
          lab.push_back(l.step_ok[k] ? 1 : 0);
        }
      }
    }
    opt.zero_grad();
    tensor loss = positions_bce(rm.forward_all(pb), pos, lab);
    const double v = loss.item();
    LMLAB_CHECK(std::isfinite(v), "align_prm: reward model loss is {} at step {}", v, step);
    backward(loss);
    opt.step(step, 1.0);
    losses.push_back(static_cast<float>(v));
  }
  rm.backbone().eval();
  return losses;
}

namespace {

struct labelled {
  chain_item item;
  token_seq response;
  chain_labels labels;
};

// `n` solutions sampled from `policy`, labelled by the solver.
std::vector<labelled> sample_labelled(models::causal_lm& policy, const chain_env& env, std::int64_t n, rng& r) {
  std::vector<labelled> out;
  while (static_cast<std::int64_t>(out.size()) < n) {
    const std::int64_t m = std::min<std::int64_t>(128, n - static_cast<std::int64_t>(out.size()));
    std::vector<chain_item> items;
    std::vector<token_seq> prompts;
    for (std::int64_t i = 0; i < m; ++i) {
      items.push_back(env.draw(r));
      prompts.push_back(items.back().prompt);
    }
    const samples s = sample_responses(policy, prompts, env.max_response(), env.eos(), r);
    for (std::int64_t i = 0; i < m; ++i) {
      const auto& y = s.responses[static_cast<std::size_t>(i)];
      out.push_back({items[static_cast<std::size_t>(i)], y, env.label(items[static_cast<std::size_t>(i)], y)});
    }
  }
  return out;
}

std::int64_t final_answer(const chain_env& env, const labelled& l) {
  if (!l.labels.well_formed) return -1;
  std::int64_t v = 0;
  const auto& y = l.response;
  std::size_t start = 0;
  for (std::size_t t = 0; t + 1 < y.size(); ++t)
    if (y[t] == env.vocab().id(";")) start = t + 1;
  for (std::size_t t = start; t + 1 < y.size(); ++t) v = v * 10 + std::stoll(env.vocab().token(y[t]));
  return v;
}

}  // namespace

namespace {

// Held-out skill of the reward model: how well its score separates right from wrong final
// answers (AUC over all correct x incorrect pairs; 0.5 when one class is missing).
double held_out_auc(reward_model& rm, const chain_env& env, const std::vector<labelled>& held, const std::string& supervision,
                    const std::string& read_at) {
  std::vector<token_seq> ps, rs;
  for (const auto& l : held) {
    ps.push_back(l.item.prompt);
    rs.push_back(l.response);
  }
  const auto sc = chain_scores(rm, env, ps, rs, supervision, 256, read_at);
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < held.size(); ++i)
    for (std::size_t j = 0; j < held.size(); ++j)
      if (held[i].labels.correct && !held[j].labels.correct) {
        wins += sc[i] > sc[j] ? 1.0 : sc[i] == sc[j] ? 0.5 : 0.0;
        pairs += 1;
      }
  return pairs > 0 ? wins / pairs : 0.5;
}

std::vector<labelled> first_n(const std::vector<labelled>& v, std::int64_t n) {
  return {v.begin(), v.begin() + std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(v.size()), static_cast<std::ptrdiff_t>(n))};
}

// A pool of the reference policy's samples per test prompt, scored by the reward model, with
// each sample's correctness, all-steps-right flag and final answer.
struct test_pools {
  std::vector<pool> pools;
  std::vector<std::vector<double>> correct, process;
  std::vector<std::vector<std::int64_t>> answers;
};

test_pools draw_test_pools(reward_model& rm, models::causal_lm& ref, const chain_env& env, const prm_config& c,
                           std::uint64_t seed) {
  rng test_rng(seed, 0x9A4ull);
  test_pools tp;
  for (std::int64_t p = 0; p < c.prompts; ++p) {
    const chain_item it = env.draw(test_rng);
    const std::vector<token_seq> prompts(static_cast<std::size_t>(c.pool), it.prompt);
    const samples smp = sample_responses(ref, prompts, env.max_response(), env.eos(), test_rng);
    pool pl;
    pl.proxy = chain_scores(rm, env, prompts, smp.responses, c.supervision, 256, c.read_at);
    std::vector<double> cor, pro;
    std::vector<std::int64_t> ans;
    std::map<token_seq, std::int64_t> ids;
    for (const auto& y : smp.responses) {
      const labelled l{it, y, env.label(it, y)};
      cor.push_back(l.labels.correct ? 1.0 : 0.0);
      pro.push_back(l.labels.process_ok() ? 1.0 : 0.0);
      ans.push_back(final_answer(env, l));
      pl.response_id.push_back(ids.emplace(y, static_cast<std::int64_t>(ids.size())).first->second);
      // A malformed sample ranks below every well-formed one (its final answer cannot be read).
      if (c.rerank == "well_formed" && !l.labels.well_formed) pl.proxy[pl.response_id.size() - 1] = -1e9;
    }
    pl.gold = cor;
    tp.pools.push_back(std::move(pl));
    tp.correct.push_back(std::move(cor));
    tp.process.push_back(std::move(pro));
    tp.answers.push_back(std::move(ans));
  }
  return tp;
}

struct rerank_summary {
  double acc_first = 0, acc_last = 0, vote_last = 0;
};

// Best-of-n by the reward model for n = 1, 2, 4, ... pool, beside majority vote and pass@n;
// one slice per n.
rerank_summary report_reranking(const sink& out, const test_pools& tp, const prm_config& c, std::uint64_t seed) {
  rng vote_rng(seed, 0x9A5ull);
  rerank_summary r;
  for (std::int64_t n = 1; n <= c.pool; n *= 2) {
    double acc = 0, proc = 0, oracle = 0, vote = 0;
    for (std::size_t p = 0; p < tp.pools.size(); ++p) {
      acc += bon_expected(tp.pools[p], n, tp.correct[p]);
      proc += bon_expected(tp.pools[p], n, tp.process[p]);
      pool o = tp.pools[p];
      o.proxy = tp.correct[p];  // reranking by the truth: pass@n
      oracle += bon_expected(o, n, tp.correct[p]);
      vote += majority_vote_accuracy(tp.answers[p], tp.correct[p], n, c.votes, vote_rng);
    }
    const double P = static_cast<double>(tp.pools.size());
    const std::string slice = fmt::format("n={}", n);
    out.eval(slice, "accuracy", acc / P, c.prompts);
    out.eval(slice, "process_ok", proc / P, c.prompts);
    out.eval(slice, "pass_at_n", oracle / P, c.prompts);
    out.eval(slice, "majority_vote", vote / P, c.prompts);
    out.eval(slice, "difficulty", static_cast<double>(n), c.prompts);
    out.say(fmt::format("best-of-{} by the {} RM: accuracy {:.3f} (all steps right {:.3f}); majority vote {:.3f}; pass@n {:.3f}", n,
                        c.supervision, acc / P, proc / P, vote / P, oracle / P));
    if (n == 1) r.acc_first = acc / P;
    r.acc_last = acc / P;
    r.vote_last = vote / P;
  }
  return r;
}

}  // namespace

lab::run_result run_prm(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  set_num_threads(1);  // tiny shapes: see runners.cpp
  const sink out{ctx, "align_prm"};
  const prm_config c = prm_params().read(ctx.config.at("task"), {"name"});
  check_pool(c.pool, "align_prm");
  check_policy_keys(c, "align_prm");
  const chain_env env({c.terms, c.step_error});
  const nlohmann::json backbone =
      lab::lm_model_json(ctx.config.contains("model") ? ctx.config.at("model") : nlohmann::json::object());
  reward_model rm(backbone, env.vocab().size(), env.n_ctx(), ctx.seed ^ 0x9A1ull);
  const policy_config pc = c.policy();
  if (c.rm_from_policy) rm.check_policy_shape(c, "align_prm");
  auto ref = pretrain_policy(env.vocab().size(), env.n_ctx(), env.pad(), pc, ctx.seed, [&](rng& r) {
    chain_item it = env.draw(r);
    token_seq y = env.pretraining_response(it, r);
    return std::pair<token_seq, token_seq>{std::move(it.prompt), std::move(y)};
  });
  if (c.rm_from_policy) rm.init_from(*ref);

  // Training data: reference solutions labelled by the solver (the same samples for both kinds
  // of supervision at one seed; only the labels used differ).
  rng data_rng(ctx.seed, 0x9A2ull);
  const auto train = sample_labelled(*ref, env, c.rm_samples, data_rng);
  double ref_correct = 0, ref_process = 0, lucky = 0;
  for (const auto& l : train) {
    ref_correct += l.labels.correct;
    ref_process += l.labels.process_ok();
    lucky += l.labels.correct && !l.labels.process_ok();  // right answer, a wrong step
  }
  const double Ntr = static_cast<double>(train.size());
  out.metric("ref_accuracy", ref_correct / Ntr);
  out.metric("ref_process_ok", ref_process / Ntr);
  out.metric("ref_right_answer_wrong_steps", lucky / Ntr);

  const nlohmann::json tj = ctx.config.contains("train") ? ctx.config.at("train") : nlohmann::json::object();
  chain_rm_train tc;
  tc.steps = tj.value("steps", tc.steps);
  tc.batch = tj.value("batch_size", tc.batch);
  tc.lr = tj.value("lr", tc.lr);
  tc.weight_decay = tj.value("weight_decay", tc.weight_decay);
  tc.read_at = c.read_at;
  std::vector<chain_item> titems;
  std::vector<token_seq> tresp;
  std::vector<chain_labels> tlab;
  for (const auto& l : train) {
    titems.push_back(l.item);
    tresp.push_back(l.response);
    tlab.push_back(l.labels);
  }
  const auto losses = train_chain_rm(rm, env, titems, tresp, tlab, c.supervision, tc, ctx.seed);
  const double last_loss = losses.back();
  const std::int64_t steps = tc.steps;
  out.metric("final_train_loss", last_loss, steps);

  // In-distribution skill: how well the score separates right from wrong final answers on
  // held-out reference solutions (AUC over all correct x incorrect pairs).
  rng eval_rng(ctx.seed, 0x9A3ull);
  const auto held = sample_labelled(*ref, env, c.eval_samples, eval_rng);
  const double auc = held_out_auc(rm, env, held, c.supervision, c.read_at);
  out.metric("rm_auc", auc);
  // The same AUC on (up to eval_samples of) the training solutions: fit vs generalisation.
  const double train_auc = held_out_auc(rm, env, first_n(train, c.eval_samples), c.supervision, c.read_at);
  out.metric("rm_train_auc", train_auc);
  out.say(fmt::format("{} reward model: held-out AUC {:.3f} (training solutions {:.3f}), final BCE {:.3f}; reference accuracy "
                      "{:.3f}, all steps right {:.3f}",
                      c.supervision, auc, train_auc, last_loss, ref_correct / Ntr, ref_process / Ntr));

  // Reranking: a pool of samples per test prompt; best-of-n by the reward model for every n.
  const test_pools tp = draw_test_pools(rm, *ref, env, c, ctx.seed);
  const rerank_summary rr = report_reranking(out, tp, c, ctx.seed);
  const double acc_first = rr.acc_first, acc_last = rr.acc_last, vote_last = rr.vote_last;
  out.eval("all", "accuracy", acc_last, c.prompts);
  out.metric("accuracy_gain", acc_last - acc_first);
  out.metric("gain_over_vote", acc_last - vote_last);
  lab::run_result res;
  res.test_accuracy = acc_last;
  res.final_train_loss = last_loss;
  res.steps = steps;
  res.n_params = rm.num_parameters();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.metric("seconds", res.seconds);
  return res;
}

void register_align_prm() {
  tasks::register_once([] {
    lab::register_lab_task("align_prm",
                           "alignment lab: outcome vs process reward models reranking multi-step arithmetic (Lightman et al. 2023)",
                           prm_params(), run_prm);
  });
}

}  // namespace lmlab::align
