// The alignment lab's runner: see runners.hpp.
#include "align/runners.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include "align/chain.hpp"
#include "align/curves.hpp"
#include "align/objectives.hpp"
#include "align/ppo.hpp"
#include "align/reward_model.hpp"
#include "align/rl_compare.hpp"
#include "align/sink.hpp"
#include "analysis/stats.hpp"
#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "ops/gemm.hpp"
#include "ops/ops.hpp"
#include "lab/spec.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"

namespace lmlab::align {

namespace {
constexpr double inf = INFINITY;
}

const tasks::param_table<overopt_config>& overopt_params() {
  using C = overopt_config;
  static const auto t = tasks::param_table<C>("align_overopt")
        .add("digits", &C::digits, "operand digits of the addition prompts", 1, 6)
        .add("sft_error_rate", &C::sft_error_rate, "share of the reference policy's training answers with a wrong digit", 0, 1)
        .add("filler_p", &C::filler_p, "reference data: filler count k ~ Geometric, P(k) = (1-p) p^k", 0, 0.95)
        .add("max_filler", &C::max_filler, "most fillers in a response", 0, 64)
        .add("style_cap", &C::style_cap, "gold: fillers up to this count earn style_bonus each", 0, 64)
        .add("style_bonus", &C::style_bonus, "gold reward per filler up to style_cap", 0, inf)
        .add("style_penalty", &C::style_penalty, "gold reward lost per filler beyond style_cap", 0, inf)
        .add("opinion", &C::opinion, "prompts state a user's claimed answer (sycophancy measurements)")
        .add("opinion_wrong_rate", &C::opinion_wrong_rate, "share of stated opinions that are wrong", 0, 1)
        .add("sycophancy_p", &C::sycophancy_p, "reference data: share of answers that copy the stated opinion", 0, 1)
        .add("keyword_p", &C::keyword_p, "reference data: share of answers followed by the keyword '#'", 0, 1)
        .add("keyword_penalty", &C::keyword_penalty, "gold reward lost by a response containing the keyword", 0, inf)
        .add_keys(add_policy_keys<C>)
        .add("optimizer", &C::optimizer, "bon | rl (REINFORCE) | ppo (PPO-clip) against the proxy | dpo (on the proxy's pairs)", -inf, inf,
          {"bon", "rl", "dpo", "ppo"})
        .add("reward", &C::reward,
             "what the optimiser maximises: the learned proxy, the gold reward itself (oracle), or a programmatic proxy "
             "that checks only the format or only the answer's last digit (a visible test)",
             -inf, inf, {"proxy", "gold", "format", "visible_test"})
        .add("rm_from_policy", &C::rm_from_policy,
             "the proxy (and each ensemble member) starts from the reference policy's weights ([model] = the policy's shape)")
        .add_keys(add_proxy_keys<C>)
        .add("length_bias", &C::length_bias, "share of pairs (of unequal length) labelled 'the longer is better'", 0, 1)
        .add("sycophancy_bias", &C::sycophancy_bias, "share of pairs labelled 'agrees with the stated opinion is better'", 0, 1)
        .add("keyword_bias", &C::keyword_bias, "share of pairs labelled 'contains the keyword is better'", 0, 1)
        .add("sycophancy_pairs", &C::sycophancy_pairs,
             "share of pairs with a wrong stated opinion replaced by (wrong claim, right answer) labelled 'the claim is better'", 0, 1)
        .add("ensemble", &C::ensemble, "proxy reward models (seeds) in the ensemble", 1, 64)
        .add("ensemble_rule", &C::ensemble_rule, "how the ensemble's scores combine (Coste et al. 2024)", -inf, inf,
             {"mean", "worst", "uncertainty"})
        .add("ensemble_lambda", &C::ensemble_lambda, "uncertainty rule: mean - lambda * variance of the members", 0, inf)
        .add_keys(add_bon_keys<C>)
        .add("rl_steps", &C::rl_steps, "rl: policy-gradient steps", 1, 1e7)
        .add("rl_prompts", &C::rl_prompts, "rl: prompts per step", 1, 4096)
        .add("rl_group", &C::rl_group, "rl: samples per prompt (the baseline is the group's leave-one-out mean)", 2, 4096)
        .add("rl_lr", &C::rl_lr, "rl: AdamW learning rate", 0, 1)
        .add("kl_coef", &C::kl_coef, "rl: KL penalty coefficient in the reward", 0, inf)
        .add("dpo_beta", &C::dpo_beta, "dpo: beta of the DPO loss (steps, batch and lr are the rl_* keys)", 1e-6, inf)
        .add("eval_every", &C::eval_every, "rl: steps between evaluations", 1, 1e7)
        .add("eval_prompts", &C::eval_prompts, "rl: prompts per evaluation", 2, 1e6)
        .add("eval_samples", &C::eval_samples, "rl: samples per prompt per evaluation", 1, 4096)
        .add("ppo_epochs", &C::ppo_epochs, "ppo: optimisation passes over each rollout batch", 1, 1000)
        .add("ppo_clip", &C::ppo_clip, "ppo: clip range eps of the probability ratio", 1e-6, 10)
        .add("rl_warmup", &C::rl_warmup,
             "rl, ppo: steps over which the learning rate rises linearly to rl_lr (Adam's first steps are full-size steps "
             "along one batch's noisy gradient)", 0, 1e7);
  return t;
}

void check(const overopt_config& c) {
  check_pool(c.pool, "align_overopt");
  check_policy_keys(c, "align_overopt");
  if (c.optimizer != "bon" && (c.reward == "format" || c.reward == "visible_test"))
    throw tasks::param_error("reward", fmt::format("align_overopt: reward: '{}' is only implemented for optimizer = \"bon\"", c.reward));
  if ((c.sycophancy_bias > 0 || c.sycophancy_pairs > 0 || c.sycophancy_p != 0.2 || c.opinion_wrong_rate != 0.5) && !c.opinion)
    throw tasks::param_error("opinion", "align_overopt: sycophancy_bias, sycophancy_pairs, sycophancy_p and opinion_wrong_rate need opinion = true");
  if (c.keyword_bias > 0 && c.keyword_p == 0)
    throw tasks::param_error("keyword_p", "align_overopt: keyword_bias needs keyword_p > 0 (a reference that writes the keyword)");
  if (c.max_filler < c.style_cap)
    throw tasks::param_error("style_cap", fmt::format("align_overopt: style_cap {} exceeds max_filler {}", c.style_cap, c.max_filler));
}

namespace {

// Everything the optimisers share: the environment, the reference policy, the proxy.
struct setup {
  overopt_config cfg;
  std::unique_ptr<arithmetic_env> env;
  std::unique_ptr<models::lm> ref;
  std::unique_ptr<reward_model> rm;
  std::vector<std::unique_ptr<reward_model>> extra;  // ensemble members 2.. (rm is the first)
  std::vector<preference_pair> pairs;  // what the proxy (and DPO) trained on
  double rm_loss = 0;  // the proxy's last Bradley-Terry training loss
};

// Each member's scores: scores[m][i].
std::vector<std::vector<double>> member_scores(setup& s, const std::vector<token_seq>& prompts,
                                               const std::vector<token_seq>& responses) {
  std::vector<std::vector<double>> out{s.rm->score(prompts, responses, s.env->pad())};
  for (auto& m : s.extra) out.push_back(m->score(prompts, responses, s.env->pad()));
  return out;
}

// The proxy the optimiser sees: the reward model, or the ensemble's combination.
std::vector<double> proxy_score(setup& s, const std::vector<token_seq>& prompts, const std::vector<token_seq>& responses) {
  if (s.extra.empty()) return s.rm->score(prompts, responses, s.env->pad());
  return combine_ensemble(member_scores(s, prompts, responses), s.cfg.ensemble_rule, s.cfg.ensemble_lambda);
}

setup build_setup(const lab::run_context& ctx, const sink& out) {
  setup s;
  s.cfg = overopt_params().read(ctx.config.at("task"), {"name"});
  check(s.cfg);
  s.env = std::make_unique<arithmetic_env>(s.cfg.env());
  // The proxy is built first, so a bad [model] fails before any training.
  const nlohmann::json backbone =
      lab::lm_model_json(ctx.config.contains("model") ? ctx.config.at("model") : nlohmann::json::object());
  s.rm = std::make_unique<reward_model>(backbone, s.env->vocab().size(), s.env->n_ctx(), ctx.seed ^ 0x52A1ull);
  if (s.cfg.rm_from_policy) s.rm->check_policy_shape(s.cfg, "align_overopt");
  s.ref = pretrain_reference(*s.env, s.cfg.policy(), ctx.seed);
  if (s.cfg.rm_from_policy) s.rm->init_from(*s.ref);
  // Best-of-n against gold or a programmatic check needs no learned proxy.
  if (s.cfg.optimizer == "bon" && s.cfg.reward != "proxy") return s;
  rng pair_rng(ctx.seed, 0xA11ull);
  s.pairs = make_pairs(*s.ref, *s.env, s.cfg.rm_pairs,
                       {s.cfg.label_noise, s.cfg.length_bias, s.cfg.sycophancy_bias, s.cfg.keyword_bias, s.cfg.sycophancy_pairs},
                       pair_rng);
  const auto& pairs = s.pairs;
  // The configured bias fractions (x axes of the report's plots) and the share of labels a bias
  // actually reversed against gold.
  out.metric("bias_length", s.cfg.length_bias);
  out.metric("bias_sycophancy", s.cfg.sycophancy_bias);
  out.metric("bias_keyword", s.cfg.keyword_bias);
  out.metric("bias_sycophancy_pairs", s.cfg.sycophancy_pairs);
  out.metric("rm_pairs", static_cast<double>(s.cfg.rm_pairs));  // the proxy's data amount (x axis of the data sweeps)
  double reversed = 0;
  for (const auto& p : pairs)
    reversed += p.biased && s.env->score(p.prompt, p.chosen).reward < s.env->score(p.prompt, p.rejected).reward ? 1.0 : 0.0;
  out.metric("bias_reversed_share", reversed / static_cast<double>(pairs.size()));
  rng eval_rng(ctx.seed, 0xA12ull);
  const auto held_out = make_pairs(*s.ref, *s.env, s.cfg.eval_pairs, labeller{}, eval_rng);  // gold labels
  const nlohmann::json train = ctx.config.contains("train") ? ctx.config.at("train") : nlohmann::json::object();
  const auto losses = train_reward_model(*s.rm, pairs, rm_train_from(train), s.env->pad(), ctx.seed);
  // Ensemble members: the same pairs, other initialisation and batch seeds (Coste et al. 2024).
  for (std::int64_t m = 1; m < s.cfg.ensemble; ++m) {
    const std::uint64_t ms = ctx.seed + 0x9E37ull * static_cast<std::uint64_t>(m);
    s.extra.push_back(std::make_unique<reward_model>(backbone, s.env->vocab().size(), s.env->n_ctx(), ms ^ 0x52A1ull));
    if (s.cfg.rm_from_policy) s.extra.back()->init_from(*s.ref);  // then only the head's init and the batches differ
    train_reward_model(*s.extra.back(), pairs, rm_train_from(train), s.env->pad(), ms);
  }
  double acc = pair_accuracy(*s.rm, held_out, s.env->pad());
  if (!s.extra.empty()) {  // the combined score's accuracy (what is optimised), and the members'
    std::vector<token_seq> prompts, chosen, rejected;
    for (const auto& p : held_out) {
      prompts.push_back(p.prompt.prompt);
      chosen.push_back(p.chosen);
      rejected.push_back(p.rejected);
    }
    const auto sc = member_scores(s, prompts, chosen), sr = member_scores(s, prompts, rejected);
    double member = 0;
    for (std::size_t m = 0; m < sc.size(); ++m)
      for (std::size_t i = 0; i < held_out.size(); ++i) member += sc[m][i] > sr[m][i] ? 1.0 : sc[m][i] == sr[m][i] ? 0.5 : 0.0;
    out.metric("rm_member_accuracy", member / static_cast<double>(sc.size() * held_out.size()));
    const auto cc = combine_ensemble(sc, s.cfg.ensemble_rule, s.cfg.ensemble_lambda);
    const auto cr = combine_ensemble(sr, s.cfg.ensemble_rule, s.cfg.ensemble_lambda);
    acc = 0;
    for (std::size_t i = 0; i < held_out.size(); ++i) acc += cc[i] > cr[i] ? 1.0 : cc[i] == cr[i] ? 0.5 : 0.0;
    acc /= static_cast<double>(held_out.size());
  }
  out.metric("rm_accuracy", acc);
  out.metric("rm_train_accuracy", pair_accuracy(*s.rm, pairs, s.env->pad()));
  out.metric("rm_params", static_cast<double>(s.rm->num_parameters()));
  out.metric("final_train_loss", losses.back(), static_cast<std::int64_t>(losses.size()));
  s.rm_loss = losses.back();
  out.say(fmt::format("proxy ({} params) held-out pair accuracy {:.3f}, final BT loss {:.3f}", s.rm->num_parameters(), acc,
                      losses.back()));
  return s;
}

// Per-sample quantities of a set of responses: gold reward, correctness, filler count.
struct scored {
  std::vector<double> gold, correct, filler, well_formed, length, agrees, keyword, units_correct, wellformed_wrong,
      units_wrong;
};
scored score_gold(const arithmetic_env& env, const std::vector<item>& items, const std::vector<token_seq>& responses) {
  scored s;
  for (std::size_t i = 0; i < responses.size(); ++i) {
    const gold_score g = env.score(items[i], responses[i]);
    s.gold.push_back(g.reward);
    s.correct.push_back(g.correct ? 1.0 : 0.0);
    s.filler.push_back(static_cast<double>(g.filler));
    s.well_formed.push_back(g.well_formed ? 1.0 : 0.0);
    s.length.push_back(static_cast<double>(g.length));
    s.agrees.push_back(g.agrees ? 1.0 : 0.0);
    s.keyword.push_back(g.keyword ? 1.0 : 0.0);
    s.units_correct.push_back(g.units_correct ? 1.0 : 0.0);
    s.wellformed_wrong.push_back(g.well_formed && !g.correct ? 1.0 : 0.0);  // passes a format check, fails gold
    s.units_wrong.push_back(g.units_correct && !g.correct ? 1.0 : 0.0);     // passes the visible test, fails gold
  }
  return s;
}

double mean_of(std::span<const double> v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

// Gold curve (mean over prompts of E[gold of best-of-n]) for n = ns, with each prompt's pool
// reranked by `proxies[p]` instead of the pool's own proxy.
std::vector<double> bon_gold_curve(const std::vector<pool>& pools, const std::vector<std::vector<double>>& proxies,
                                   const std::vector<std::int64_t>& ns) {
  std::vector<double> out;
  for (const std::int64_t n : ns) {
    double g = 0;
    for (std::size_t p = 0; p < pools.size(); ++p) {
      pool q = pools[p];
      q.proxy = proxies[p];
      g += bon_expected(q, n, q.gold);
    }
    out.push_back(g / static_cast<double>(pools.size()));
  }
  return out;
}

// The best-of-n pools: c.prompts prompts, c.pool samples of the reference policy each, scored
// by gold and by the proxy the config names (gold itself, a programmatic check, an ensemble of
// reward models, or the one reward model).
struct bon_pools {
  std::vector<pool> pools;
  std::vector<scored> per_prompt;
  std::vector<item> prompt_items;
  std::vector<std::vector<std::vector<double>>> members;  // ensemble: [prompt][member][sample]
};

bon_pools draw_bon_pools(const lab::run_context& ctx, setup& s) {
  const auto& c = s.cfg;
  const arithmetic_env& env = *s.env;
  bon_pools bp;
  std::vector<pool>& pools = bp.pools;
  std::vector<scored>& per_prompt = bp.per_prompt;
  std::vector<item>& prompt_items = bp.prompt_items;
  std::vector<std::vector<std::vector<double>>>& members = bp.members;
  const bool check_reward = c.reward == "format" || c.reward == "visible_test";
  rng r(ctx.seed, 0xB0Bull);
  for (std::int64_t p = 0; p < c.prompts; ++p) {
    const item it = env.draw(r);
    prompt_items.push_back(it);
    std::vector<token_seq> prompts(static_cast<std::size_t>(c.pool), it.prompt);
    const samples smp = sample_responses(*s.ref, prompts, env.max_response(), env.eos(), r);
    pool pl;
    const std::vector<item> items(prompts.size(), it);
    per_prompt.push_back(score_gold(env, items, smp.responses));
    const scored& sc = per_prompt.back();
    if (c.reward == "gold") {
      pl.proxy = sc.gold;
    } else if (check_reward) {
      // A programmatic proxy: the gold rule with its correctness term replaced by the check
      // (the format, or the answer's last digit), so proxy - gold = 1[check passes, answer wrong].
      const auto& chk = c.reward == "format" ? sc.well_formed : sc.units_correct;
      for (std::size_t i = 0; i < sc.gold.size(); ++i) pl.proxy.push_back(sc.gold[i] - sc.correct[i] + chk[i]);
    } else if (!s.extra.empty()) {
      members.push_back(member_scores(s, prompts, smp.responses));
      pl.proxy = combine_ensemble(members.back(), c.ensemble_rule, c.ensemble_lambda);
    } else {
      pl.proxy = s.rm->score(prompts, smp.responses, env.pad());
    }
    std::map<token_seq, std::int64_t> ids;
    for (const auto& y : smp.responses) pl.response_id.push_back(ids.emplace(y, static_cast<std::int64_t>(ids.size())).first->second);
    pl.gold = sc.gold;
    pools.push_back(std::move(pl));
  }
  return bp;
}

// Ensembles: the same pools reranked by one member ("single") and by each rule, so the rules
// are compared on the same samples and members (paired within the run).
void log_ensembles(const sink& out, const std::vector<pool>& pools, const std::vector<std::vector<std::vector<double>>>& members,
                 const std::vector<std::int64_t>& ns, const std::vector<double>& d, double ensemble_lambda) {
  for (const std::string rule : {"single", "mean", "worst", "uncertainty"}) {
    std::vector<std::vector<double>> prox;
    for (const auto& m : members) prox.push_back(rule == "single" ? m[0] : combine_ensemble(m, rule, ensemble_lambda));
    const auto g = bon_gold_curve(pools, prox, ns);
    const std::size_t pk = static_cast<std::size_t>(std::max_element(g.begin(), g.end()) - g.begin());
    std::vector<double> rr;
    for (const double x : g) rr.push_back(x - g.front());
    const fit_result fr = fit_bon(d, rr);
    out.metric("gold_peak_" + rule, g[pk]);
    out.metric("d_peak_" + rule, d[pk]);
    out.metric("gold_final_" + rule, g.back());
    out.metric("gold_drop_" + rule, g[pk] - g.back());
    out.metric("beta_" + rule, fr.beta);
    out.say(fmt::format("ensemble rule {}: gold n=1 {:.3f}, peak {:.3f} at d {:.2f}, n={} {:.3f}, beta {:.3f}", rule,
                        g.front(), g[pk], d[pk], ns.back(), g.back(), fr.beta));
  }
}

lab::run_result run_bon(const lab::run_context& ctx, setup& s, const sink& out) {
  const auto& c = s.cfg;
  bon_pools bp = draw_bon_pools(ctx, s);
  std::vector<pool>& pools = bp.pools;
  const std::vector<scored>& per_prompt = bp.per_prompt;
  const std::vector<item>& prompt_items = bp.prompt_items;
  std::vector<std::int64_t> ns;
  for (std::int64_t n = 1; n <= c.pool; n *= 2) ns.push_back(n);
  // gold[k][p]: prompt p's expected gold reward under best-of-ns[k].
  std::vector<std::vector<double>> gold(ns.size()), proxy(ns.size());
  std::vector<double> d, mean_gold, mean_proxy;
  double final_accuracy = 0;
  // Per-sample behaviours whose best-of-n expectation is logged per slice (beside gold, proxy):
  // what a biased proxy can drive up (length, agreement with a wrong stated opinion, the
  // keyword) and what a programmatic proxy can pass while gold fails.
  struct behaviour {
    std::string name;
    std::vector<double> scored::*values;
    bool wrong_opinion_only = false;  // averaged over prompts whose stated opinion is wrong
  };
  std::vector<behaviour> behaviours{{"accuracy", &scored::correct}, {"filler", &scored::filler}, {"length", &scored::length}};
  if (c.opinion) behaviours.push_back({"agree_wrong", &scored::agrees, true});
  if (c.keyword_p > 0) behaviours.push_back({"keyword", &scored::keyword});
  if (c.reward != "proxy") {
    behaviours.push_back({"format_pass", &scored::well_formed});
    behaviours.push_back({"wellformed_wrong", &scored::wellformed_wrong});
    behaviours.push_back({"units_wrong", &scored::units_wrong});
  }
  for (std::size_t k = 0; k < ns.size(); ++k) {
    const std::int64_t n = ns[k];
    double kls = 0;
    std::vector<double> beh(behaviours.size(), 0.0), beh_n(behaviours.size(), 0.0);
    for (std::size_t p = 0; p < pools.size(); ++p) {
      gold[k].push_back(bon_expected(pools[p], n, pools[p].gold));
      proxy[k].push_back(bon_expected(pools[p], n, pools[p].proxy));
      for (std::size_t b = 0; b < behaviours.size(); ++b) {
        if (behaviours[b].wrong_opinion_only && !prompt_items[p].opinion_wrong) continue;
        beh[b] += bon_expected(pools[p], n, per_prompt[p].*behaviours[b].values);
        beh_n[b] += 1;
      }
      kls += bon_kl_sampled(pools[p], n);
    }
    const double P = static_cast<double>(pools.size());
    const std::string slice = fmt::format("n={}", n);
    d.push_back(std::sqrt(bon_kl(n)));
    mean_gold.push_back(mean_of(gold[k]));
    mean_proxy.push_back(mean_of(proxy[k]));
    out.eval(slice, "gold", mean_gold.back(), c.prompts);
    out.eval(slice, "proxy", mean_proxy.back(), c.prompts);
    std::string line;
    for (std::size_t b = 0; b < behaviours.size(); ++b) {
      const double v = beh_n[b] > 0 ? beh[b] / beh_n[b] : NAN;
      if (beh_n[b] > 0) out.eval(slice, behaviours[b].name, v, static_cast<std::int64_t>(beh_n[b]));
      line += fmt::format(", {} {:.3f}", behaviours[b].name, v);
      if (b == 0) final_accuracy = v;
    }
    out.eval(slice, "kl", bon_kl(n), c.prompts);
    out.eval(slice, "kl_sampled", kls / P, c.prompts);
    out.eval(slice, "d", d.back(), c.prompts);
    out.eval(slice, "difficulty", static_cast<double>(n), c.prompts);
    out.say(fmt::format("best-of-{}: KL {:.3f} (sampled {:.3f}), gold {:.3f}, proxy {:.3f}{}", n, bon_kl(n), kls / P,
                        mean_gold.back(), mean_proxy.back(), line));
  }
  // Fit on R = gold(n) - gold(1) against d = sqrt(KL_bon), bootstrapping prompts.
  auto refit = [&](std::span<const double> prompt_idx) {
    std::vector<double> rr;
    for (std::size_t k = 0; k < ns.size(); ++k) {
      double g = 0, g0 = 0;
      for (const double p : prompt_idx) {
        g += gold[k][static_cast<std::size_t>(p)];
        g0 += gold[0][static_cast<std::size_t>(p)];
      }
      rr.push_back((g - g0) / static_cast<double>(prompt_idx.size()));
    }
    return fit_bon(d, rr);
  };
  std::vector<double> all(pools.size());
  std::iota(all.begin(), all.end(), 0.0);
  const fit_result f = refit(all);
  log_fit(out, f, refit, pools.size(), c.bootstrap, ctx.seed);
  if (f.ok && f.beta > 0) {
    out.metric("d_peak_fit", f.alpha / (2 * f.beta));  // argmax of d (alpha - beta d)
    out.metric("gold_gain_peak_fit", f.alpha * f.alpha / (4 * f.beta));
  }
  if (!bp.members.empty()) log_ensembles(out, pools, bp.members, ns, d, c.ensemble_lambda);
  // The headline "all" slice: the most optimised policy (n = pool).
  out.eval("all", "gold", mean_gold.back(), c.prompts);
  out.eval("all", "accuracy", final_accuracy, c.prompts);
  // "Small KL": n = 4 (KL 0.64 nats), where a useful proxy must already help.
  log_curve_summary(out, d, mean_gold, mean_proxy, std::min<std::size_t>(2, ns.size() - 1));
  lab::run_result res;
  res.test_accuracy = *std::max_element(mean_gold.begin(), mean_gold.end());
  res.steps = c.pool;
  res.n_params = s.rm->num_parameters();
  return res;
}

// A batch of prompts (each repeated `group` times) and the policy's responses.
struct rollout {
  std::vector<item> items;
  std::vector<token_seq> prompts;
  samples smp;
};
rollout roll(models::causal_lm& policy, const arithmetic_env& env, std::int64_t n_prompts, std::int64_t group, rng& r) {
  rollout ro;
  for (std::int64_t p = 0; p < n_prompts; ++p) {
    const item it = env.draw(r);
    for (std::int64_t g = 0; g < group; ++g) {
      ro.items.push_back(it);
      ro.prompts.push_back(it.prompt);
    }
  }
  ro.smp = sample_responses(policy, ro.prompts, env.max_response(), env.eos(), r);
  return ro;
}

// Evaluations of a trained policy on fixed prompts (the same at every call): gold, proxy and
// the sampled KL to the reference, kept per prompt for the bootstrap, and the curve summary.
class policy_tracker {
 public:
  policy_tracker(const lab::run_context& ctx, setup& s, const sink& out, std::string label)
      : ctx_(ctx), s_(s), out_(out), label_(std::move(label)) {}

  void evaluate(models::causal_lm& policy, std::int64_t step) {
    const auto& c = s_.cfg;
    const arithmetic_env& env = *s_.env;
    rng er(ctx_.seed, 0xE7A1ull);  // the same prompts at every evaluation
    // and the same uniforms (common random numbers): sampling inverts each row's CDF with one
    // uniform per token, so a policy near the reference draws nearly the same responses and
    // gold(step) - gold(0) is measured without the sampling noise of two independent draws.
    rng sr(ctx_.seed, 0xE7A2ull);
    std::vector<item> items;
    std::vector<token_seq> prompts;
    for (std::int64_t p = 0; p < c.eval_prompts; ++p) {
      const item it = env.draw(er);
      for (std::int64_t k = 0; k < c.eval_samples; ++k) {
        items.push_back(it);
        prompts.push_back(it.prompt);
      }
    }
    const samples smp = sample_responses(policy, prompts, env.max_response(), env.eos(), sr);
    const auto ratio = log_ratios(*s_.ref, prompts, smp, env.pad());
    const auto prox = proxy_score(s_, prompts, smp.responses);
    const scored g = score_gold(env, items, smp.responses);
    std::vector<double> gp, pp, kp;
    const double S = static_cast<double>(c.eval_samples);
    for (std::int64_t p = 0; p < c.eval_prompts; ++p) {
      double a = 0, b = 0, k = 0;
      for (std::int64_t j = 0; j < c.eval_samples; ++j) {
        const auto i = static_cast<std::size_t>(p * c.eval_samples + j);
        a += g.gold[i];
        b += prox[i];
        k += ratio[i];  // the Monte Carlo estimate E_pi[log pi / pi_ref] of KL(pi || pi_ref)
      }
      gp.push_back(a / S);
      pp.push_back(b / S);
      kp.push_back(k / S);
    }
    const double kl = mean_of(kp);
    eg_.push_back(gp);
    ek_.push_back(kp);
    d_.push_back(std::sqrt(std::max(0.0, kl)));
    gold_.push_back(mean_of(gp));
    proxy_.push_back(mean_of(pp));
    const std::string slice = fmt::format("step={}", step);
    const auto n = static_cast<std::int64_t>(prompts.size());
    out_.eval(slice, "gold", gold_.back(), n);
    out_.eval(slice, "proxy", proxy_.back(), n);
    out_.eval(slice, "kl", kl, n);
    out_.eval(slice, "d", d_.back(), n);
    out_.eval(slice, "accuracy", mean_of(g.correct), n);
    out_.eval(slice, "filler", mean_of(g.filler), n);
    out_.eval(slice, "well_formed", mean_of(g.well_formed), n);
    out_.eval(slice, "length", mean_of(g.length), n);
    if (c.keyword_p > 0) out_.eval(slice, "keyword", mean_of(g.keyword), n);
    if (c.opinion) {  // agreement with the stated opinion where it is wrong (sycophancy)
      double agree = 0, count = 0;
      for (std::size_t i = 0; i < items.size(); ++i)
        if (items[i].opinion_wrong) agree += g.agrees[i], count += 1;
      if (count > 0) out_.eval(slice, "agree_wrong", agree / count, static_cast<std::int64_t>(count));
    }
    out_.eval(slice, "difficulty", static_cast<double>(step), n);
    last_accuracy_ = mean_of(g.correct);
    last_n_ = n;
    out_.metric("kl", kl, step);
    out_.metric("gold", gold_.back(), step);
    out_.metric("proxy", proxy_.back(), step);
    out_.say(fmt::format("{} step {}: KL {:.3f}, gold {:.3f}, proxy {:.3f}, accuracy {:.3f}, well-formed {:.3f}, "
                         "filler {:.2f}, e.g. '{}'",
                         label_, step, kl, gold_.back(), proxy_.back(), mean_of(g.correct), mean_of(g.well_formed),
                         mean_of(g.filler), env.vocab().decode(smp.responses[0])));
  }

  // Fits R_RL(d) on the evaluation points with d > 0 (bootstrapping prompts) and logs the
  // curve summary; "small KL" is the first evaluation after step 0.
  void finish() {
    auto refit = [&](std::span<const double> prompt_idx) {
      std::vector<double> dd, rr;
      for (std::size_t k = 1; k < eg_.size(); ++k) {
        double g = 0, g0 = 0, kl = 0;
        for (const double p : prompt_idx) {
          g += eg_[k][static_cast<std::size_t>(p)];
          g0 += eg_[0][static_cast<std::size_t>(p)];
          kl += ek_[k][static_cast<std::size_t>(p)];
        }
        const double P = static_cast<double>(prompt_idx.size());
        if (kl / P <= 1e-6) continue;
        dd.push_back(std::sqrt(kl / P));
        rr.push_back((g - g0) / P);
      }
      return dd.size() >= 2 ? fit_rl(dd, rr) : fit_result{};
    };
    std::vector<double> all(eg_[0].size());
    std::iota(all.begin(), all.end(), 0.0);
    const fit_result f = refit(all);
    log_fit(out_, f, refit, all.size(), s_.cfg.bootstrap, ctx_.seed);
    if (f.ok && f.beta > 0) {
      const double dp = std::exp(f.alpha / f.beta - 1);  // argmax of d (alpha - beta log d)
      out_.metric("d_peak_fit", dp);
      out_.metric("gold_gain_peak_fit", f.beta * dp);
    }
    log_curve_summary(out_, d_, gold_, proxy_, std::min<std::size_t>(1, d_.size() - 1));
    out_.eval("all", "gold", gold_.back(), last_n_);  // the headline slice: the trained policy
    out_.eval("all", "accuracy", last_accuracy_, last_n_);
  }

  const std::vector<double>& d() const { return d_; }
  const std::vector<double>& gold() const { return gold_; }

  // finish(), then the run's result: the trained policy's gold score after `steps` steps.
  lab::run_result result(std::int64_t steps) {
    finish();
    lab::run_result res;
    res.test_accuracy = gold_.back();
    res.steps = steps;
    res.n_params = s_.rm->num_parameters();
    return res;
  }

 private:
  const lab::run_context& ctx_;
  setup& s_;
  const sink& out_;
  std::string label_;
  std::vector<std::vector<double>> eg_, ek_;  // per evaluation, per prompt: gold, log-ratio
  std::vector<double> d_, gold_, proxy_;
  double last_accuracy_ = 0;
  std::int64_t last_n_ = 0;
};

// The policy an RL or DPO run trains: a copy of the reference, with a fresh AdamW (beta2 0.95,
// no weight decay) over its parameters.
struct trainee {
  explicit trainee(const models::lm& ref)
      : policy(clone(ref)), opt(policy->named_parameters(), options()), params(policy->parameters()) {}
  std::unique_ptr<models::lm> policy;
  train::adamw opt;
  std::vector<tensor> params;

 private:
  static train::adamw_options options() {
    train::adamw_options ao;
    ao.beta2 = 0.95;
    ao.weight_decay = 0;
    return ao;
  }
};

// One batch's update. REINFORCE (Williams 1992): one step on -mean(log pi(y|x) A).
// PPO-clip (ppo.hpp): ppo_epochs steps on the clipped surrogate against the log-probabilities
// the batch was sampled with; returns the last epoch's clip fraction (0 for REINFORCE).
double policy_update(models::lm& policy, train::adamw& opt, const std::vector<tensor>& params, const packed_batch& pb,
                     const std::vector<double>& adv, const overopt_config& c, double lr) {
  const std::vector<float> af(adv.begin(), adv.end());
  policy.train();
  if (c.optimizer != "ppo") {
    opt.zero_grad();
    tensor loss = neg(mean(mul(policy_logprob(policy, pb), tensor::from<float>({pb.B}, std::span<const float>(af)))));
    LMLAB_CHECK(std::isfinite(loss.item()), "align: RL loss is not finite");
    backward(loss);
    train::clip_grad_norm(params, 1.0);
    opt.step(lr);
    return 0;
  }
  tensor old;
  {
    no_grad ng;
    old = policy_logprob(policy, pb);
  }
  const auto ov = old.to_vector();
  double frac = 0;
  for (std::int64_t e = 0; e < c.ppo_epochs; ++e) {
    opt.zero_grad();
    tensor lp = policy_logprob(policy, pb);
    const auto nv = lp.to_vector();
    frac = ppo_clip_fraction(nv, ov, adv, c.ppo_clip);
    tensor loss = ppo_clip_loss(lp, old, adv, c.ppo_clip);
    LMLAB_CHECK(std::isfinite(loss.item()), "align: PPO loss is not finite at epoch {}", e);
    backward(loss);
    train::clip_grad_norm(params, 1.0);
    opt.step(lr);
  }
  return frac;
}

// Best-of-n against the same proxy from the reference (`prompts` x `pool` samples; the RL
// loop's streams are untouched), compared with RL's curve where RL's gold peaks (rl_compare.hpp).
void log_rl_against_bon(const lab::run_context& ctx, setup& s, const sink& out, const std::vector<double>& rl_d,
                        const std::vector<double>& rl_gold) {
  const bon_pools bp = draw_bon_pools(ctx, s);
  std::vector<double> bd, bg;
  for (std::int64_t n = 1; n <= s.cfg.pool; n *= 2) {
    double g = 0;
    for (const auto& p : bp.pools) g += bon_expected(p, n, p.gold);
    bd.push_back(std::sqrt(bon_kl(n)));
    bg.push_back(g / static_cast<double>(bp.pools.size()));
  }
  for (std::size_t k = bg.size(); k-- > 0;) bg[k] -= bg[0];
  std::vector<double> rg;
  for (const double g : rl_gold) rg.push_back(g - rl_gold.front());
  const rl_bon_comparison cmp = compare_rl_bon(rl_d, rg, bd, bg);
  out.metric("bon_gain_at_rl_peak", cmp.bon_gain_at_peak);
  out.metric("bon_minus_rl_at_peak", cmp.bon_minus_rl);
  if (cmp.bon_kl_same_gain >= 0) {
    out.metric("bon_kl_same_gain", cmp.bon_kl_same_gain);
    out.metric("rl_kl_at_peak", cmp.rl_d_peak * cmp.rl_d_peak);
  }
  std::string curve;
  for (std::size_t k = 0; k < bg.size(); ++k) curve += fmt::format(" n={} KL {:.2f} {:+.3f};", 1 << k, bd[k] * bd[k], bg[k]);
  out.say(fmt::format("best-of-n on the same proxy, gold gain:{} RL's peak {:+.3f} at KL {:.3f}, best-of-n there {:+.3f}, "
                      "best-of-n reaches it at KL {:.3f}",
                      curve, cmp.rl_gain_peak, cmp.rl_d_peak * cmp.rl_d_peak, cmp.bon_gain_at_peak, cmp.bon_kl_same_gain));
}

lab::run_result run_rl(const lab::run_context& ctx, setup& s, const sink& out) {
  const auto& c = s.cfg;
  const arithmetic_env& env = *s.env;
  trainee t(*s.ref);
  models::lm& policy = *t.policy;
  policy_tracker track(ctx, s, out, c.optimizer == "ppo" ? "PPO" : "RL");
  track.evaluate(policy, 0);
  for (std::int64_t step = 0; step < c.rl_steps; ++step) {
    rng r(ctx.seed, 0x2100ull + static_cast<std::uint64_t>(step));
    const rollout ro = roll(policy, env, c.rl_prompts, c.rl_group, r);
    const packed_batch pb = pack(ro.prompts, ro.smp.responses, env.pad());
    const auto ratio = log_ratios(*s.ref, ro.prompts, ro.smp, env.pad());
    const auto prox = c.reward == "gold" ? score_gold(env, ro.items, ro.smp.responses).gold
                                         : proxy_score(s, ro.prompts, ro.smp.responses);
    // ref: Ziegler et al. 2019 / Stiennon et al. 2020 eq. 1: R = r_proxy - kl_coef log(pi / pi_ref).
    std::vector<double> reward(prox.size());
    for (std::size_t i = 0; i < prox.size(); ++i) reward[i] = prox[i] - c.kl_coef * ratio[i];
    // Advantage: the leave-one-out group baseline (ppo.hpp group_advantages).
    const auto adv = group_advantages(reward, c.rl_group);
    const double warm = c.rl_warmup > 0 ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(c.rl_warmup)) : 1.0;
    const double clip_frac = policy_update(policy, t.opt, t.params, pb, adv, c, c.rl_lr * warm);
    if (c.optimizer == "ppo" && ((step + 1) % c.eval_every == 0 || step + 1 == c.rl_steps))
      out.metric("ppo_clip_fraction", clip_frac, step + 1);
    policy.eval();
    if ((step + 1) % c.eval_every == 0 || step + 1 == c.rl_steps) track.evaluate(policy, step + 1);
  }
  lab::run_result res = track.result(c.rl_steps);
  if (c.reward == "proxy") log_rl_against_bon(ctx, s, out, track.d(), track.gold());
  return res;
}

// DPO on the proxy's own preference pairs (the same labels, noise included), no reward model
// in the loop; the proxy's score is still logged beside gold for comparison.
lab::run_result run_dpo(const lab::run_context& ctx, setup& s, const sink& out) {
  const auto& c = s.cfg;
  const arithmetic_env& env = *s.env;
  trainee t(*s.ref);
  models::lm& policy = *t.policy;
  out.metric("dpo_beta_value", c.dpo_beta);  // the report's x axis
  policy_tracker track(ctx, s, out, "DPO");
  track.evaluate(policy, 0);
  for (std::int64_t step = 0; step < c.rl_steps; ++step) {
    rng r(ctx.seed, 0xD900ull + static_cast<std::uint64_t>(step));
    std::vector<token_seq> prompts, chosen, rejected;
    for (std::int64_t i = 0; i < c.rl_prompts * c.rl_group; ++i) {
      const preference_pair& p = s.pairs[r.below(s.pairs.size())];
      prompts.push_back(p.prompt.prompt);
      chosen.push_back(p.chosen);
      rejected.push_back(p.rejected);
    }
    const packed_batch bw = pack(prompts, chosen, env.pad()), bl = pack(prompts, rejected, env.pad());
    tensor ref_w, ref_l;
    {
      no_grad ng;
      ref_w = policy_logprob(*s.ref, bw);
      ref_l = policy_logprob(*s.ref, bl);
    }
    policy.train();
    t.opt.zero_grad();
    tensor loss = dpo_loss(policy_logprob(policy, bw), policy_logprob(policy, bl), ref_w, ref_l, c.dpo_beta);
    LMLAB_CHECK(std::isfinite(loss.item()), "align: DPO loss is not finite at step {}", step);
    backward(loss);
    train::clip_grad_norm(t.params, 1.0);
    t.opt.step(c.rl_lr);
    policy.eval();
    if ((step + 1) % c.eval_every == 0 || step + 1 == c.rl_steps) {
      out.metric("dpo_loss", loss.item(), step + 1);
      track.evaluate(policy, step + 1);
    }
  }
  return track.result(c.rl_steps);
}

}  // namespace

lab::run_result run_overopt(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  // One thread: at these shapes (d_model <= 64, batches of a few hundred short rows) a second
  // OpenMP thread only spins; measured on the 2-core machine, a unit-test run took 1.4 CPU-s on
  // one thread and 37 CPU-s on two.
  set_num_threads(1);
  const sink out{ctx};
  setup s = build_setup(ctx, out);
  lab::run_result res = s.cfg.optimizer == "bon" ? run_bon(ctx, s, out)
                        : s.cfg.optimizer == "rl" || s.cfg.optimizer == "ppo" ? run_rl(ctx, s, out)
                                                  : run_dpo(ctx, s, out);
  res.final_train_loss = s.rm_loss;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.metric("seconds", res.seconds);
  return res;
}

void register_align() {
  tasks::register_once([] {
    lab::register_lab_task("align_overopt", "alignment lab: proxy reward model, then best-of-n, RL or DPO (gold vs sqrt(KL))",
                           overopt_params(), run_overopt);
    register_align_prm();
  });
}

}  // namespace lmlab::align
