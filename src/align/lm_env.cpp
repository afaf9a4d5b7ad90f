// Environment (b): see lm_env.hpp.
#include "align/lm_env.hpp"

#include <chrono>
#include <ctime>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "align/curves.hpp"
#include "align/sink.hpp"
#include "core/error.hpp"
#include "lab/spec.hpp"
#include "ops/gemm.hpp"

namespace lmlab::align {

namespace {
constexpr double inf = INFINITY;

// FNV-1a over the word's bytes, then splitmix64 with the rule seed: a fixed hash, so the
// lexicon depends on the word's text, not on its id in this run's vocabulary.
std::uint64_t word_hash(const std::string& w, std::int64_t rule_seed) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char ch : w) h = (h ^ ch) * 0x100000001b3ull;
  std::uint64_t z = h + 0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(rule_seed) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

int lexicon_weight(const std::string& word, std::int64_t rule_seed, double lexicon_share) {
  const double u = static_cast<double>(word_hash(word, rule_seed) >> 11) * (1.0 / 9007199254740992.0);
  return u < lexicon_share / 2 ? 1 : u < lexicon_share ? -1 : 0;
}

corpus_env::corpus_env(word_corpus corpus, const lm_env_config& c) : corpus_(std::move(corpus)), cfg_(c) {
  LMLAB_CHECK(cfg_.prompt_words >= 1 && cfg_.response_words >= 1, "align_overopt_lm: prompt_words and response_words must be >= 1");
  LMLAB_CHECK(corpus_.chunk == cfg_.prompt_words + cfg_.response_words,
              "align_overopt_lm: the corpus chunks have {} words, prompt_words + response_words = {}", corpus_.chunk,
              cfg_.prompt_words + cfg_.response_words);
  LMLAB_CHECK(corpus_.words.size() >= 2 && corpus_.words[0] == "<s>", "align_overopt_lm: the vocabulary must start with <s>");
  for (const auto* part : {&corpus_.train, &corpus_.heldout})
    LMLAB_CHECK_HINT(!part->empty() && part->size() % static_cast<std::size_t>(corpus_.chunk) == 0,
                     "raise task.real_tokens / task.heldout_tokens", "align_overopt_lm: the corpus has {} tokens, not whole chunks of {}",
                     part->size(), corpus_.chunk);
  lexicon_.resize(corpus_.words.size(), 0);
  for (std::size_t i = 2; i < corpus_.words.size(); ++i)  // <s> and <unk> score 0
    lexicon_[i] = lexicon_weight(corpus_.words[i], cfg_.rule_seed, cfg_.lexicon_share);
}

std::int64_t corpus_env::train_chunks() const { return static_cast<std::int64_t>(corpus_.train.size()) / corpus_.chunk; }
std::int64_t corpus_env::heldout_chunks() const { return static_cast<std::int64_t>(corpus_.heldout.size()) / corpus_.chunk; }

std::pair<token_seq, token_seq> corpus_env::example(std::int64_t i, bool heldout) const {
  const auto& src = heldout ? corpus_.heldout : corpus_.train;
  const auto at = src.begin() + static_cast<std::ptrdiff_t>(i * corpus_.chunk);
  token_seq prompt{bos()};
  prompt.insert(prompt.end(), at, at + static_cast<std::ptrdiff_t>(cfg_.prompt_words));
  return {prompt, token_seq(at + static_cast<std::ptrdiff_t>(cfg_.prompt_words), at + static_cast<std::ptrdiff_t>(corpus_.chunk))};
}

token_seq corpus_env::draw_prompt(rng& r) const {
  return example(static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(train_chunks())))).first;
}

double corpus_env::rule(const token_seq& response) const {
  double s = 0;
  std::set<std::int32_t> seen;
  for (const std::int32_t t : response) {
    const int v = t >= 0 && t < vocab_size() ? lexicon(t) : 0;
    if (v > 0 && !seen.insert(t).second) s -= cfg_.repeat_penalty;  // a repeated positive word
    else s += v;
  }
  return s;
}

std::string corpus_env::decode(const token_seq& t) const {
  std::string s;
  for (const std::int32_t id : t) s += (s.empty() ? "" : " ") + (id >= 0 && id < vocab_size() ? corpus_.words[static_cast<std::size_t>(id)] : "?");
  return s;
}

std::vector<preference_pair> scored_pairs(models::causal_lm& policy, const corpus_env& env, std::int64_t n,
                                          const pair_scorer& score, double label_noise, rng& r) {
  LMLAB_CHECK(label_noise >= 0 && label_noise <= 0.5, "align: label_noise {} outside [0, 0.5]", label_noise);
  std::vector<preference_pair> out;
  const std::int64_t per_batch = 128;
  for (std::int64_t tries = 0; static_cast<std::int64_t>(out.size()) < n; tries += per_batch) {
    LMLAB_CHECK_HINT(tries <= 50 * n, "raise lexicon_share so that responses differ in score",
                     "align_overopt_lm: sampled pairs tie in score too often ({} pairs from {} tries)", out.size(), tries);
    std::vector<token_seq> prompts;
    for (std::int64_t i = 0; i < per_batch; ++i) {
      prompts.push_back(env.draw_prompt(r));
      prompts.push_back(prompts.back());
    }
    const samples s = sample_responses(policy, prompts, env.max_response(), -1, r);  // no <eos>: fixed length
    const auto v = score(prompts, s.responses);
    for (std::int64_t i = 0; i < per_batch && static_cast<std::int64_t>(out.size()) < n; ++i) {
      const auto a = static_cast<std::size_t>(2 * i), b = a + 1;
      if (v[a] == v[b]) continue;
      preference_pair p;
      p.prompt.prompt = prompts[a];
      p.chosen = v[a] > v[b] ? s.responses[a] : s.responses[b];
      p.rejected = v[a] > v[b] ? s.responses[b] : s.responses[a];
      if (r.uniform() < label_noise) {
        std::swap(p.chosen, p.rejected);
        p.flipped = true;
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

const tasks::param_table<lm_overopt_config>& lm_overopt_params() {
  using C = lm_overopt_config;
  static const auto t = tasks::param_table<C>("align_overopt_lm")
        .add("corpus", &C::corpus, "the word-level corpus (lmlab data list)")
        .add("min_count", &C::min_count, "corpus words rarer than this become <unk>", 1, 1000)
        .add("real_tokens", &C::real_tokens, "training tokens of the corpus (whole chunks)", 64, 1e8)
        .add("heldout_tokens", &C::heldout_tokens, "held-out tokens (best-of-n prompts come from here)", 64, 1e8)
        .add("prompt_words", &C::prompt_words, "words of each prompt (after <s>)", 1, 256)
        .add("response_words", &C::response_words, "words of each response (fixed length, no <eos>)", 1, 256)
        .add("lexicon_share", &C::lexicon_share, "hidden rule: share of words in the lexicon (half +1, half -1)", 0.01, 1)
        .add("repeat_penalty", &C::repeat_penalty, "hidden rule: cost of a repeated positive word", 0, inf)
        .add("rule_seed", &C::rule_seed, "hidden rule: which words are in the lexicon (fixed across run seeds)", 0, 1e12)
        .add_keys(add_policy_keys<C>)
        .add("gold_d_model", &C::gold_d_model, "gold reward model width", 8, 4096)
        .add("gold_layers", &C::gold_layers, "gold reward model blocks", 1, 64)
        .add("gold_heads", &C::gold_heads, "gold reward model attention heads", 1, 64)
        .add("gold_pairs", &C::gold_pairs, "rule-labelled pairs the gold reward model trains on", 1, 1e7)
        .add("gold_eval_pairs", &C::gold_eval_pairs, "held-out rule-labelled pairs for gold_rm_accuracy", 1, 1e7)
        .add("gold_steps", &C::gold_steps, "gold reward model Bradley-Terry steps (batch 32)", 1, 1e7)
        .add("gold_lr", &C::gold_lr, "gold reward model learning rate", 0, 1)
        .add_keys(add_proxy_keys<C>)
        .add_keys(add_bon_keys<C>);
  return t;
}

void check(const lm_overopt_config& c) {
  check_pool(c.pool, "align_overopt_lm");
  check_policy_keys(c, "align_overopt_lm");
  if (c.gold_d_model % c.gold_heads != 0)
    throw tasks::param_error("gold_heads", fmt::format("align_overopt_lm: gold_heads: {} does not divide gold_d_model {}",
                                                       c.gold_heads, c.gold_d_model));
}

namespace {
// The process's CPU time (the log's cost markers; the store's cpu_seconds is the lab's).
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

pair_scorer rule_scorer(const corpus_env& env) {
  return [&env](const std::vector<token_seq>&, const std::vector<token_seq>& ys) {
    std::vector<double> v;
    for (const auto& y : ys) v.push_back(env.rule(y));
    return v;
  };
}
}  // namespace

std::unique_ptr<models::lm> pretrain_lm_reference(const corpus_env& env, const policy_config& c, std::uint64_t seed,
                                                  std::vector<float>* losses) {
  return pretrain_policy(env.vocab_size(), env.n_ctx(), env.pad(), c, seed,
                         [&](rng& r) { return env.example(static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(env.train_chunks())))); },
                         losses);
}

gold_model train_gold_model(models::causal_lm& ref, const corpus_env& env, const lm_overopt_config& c, std::uint64_t seed) {
  const nlohmann::json backbone = lab::lm_model_json(
      {{"arch", "gpt"}, {"d_model", c.gold_d_model}, {"n_layers", c.gold_layers}, {"n_heads", c.gold_heads}});
  gold_model g;
  g.rm = std::make_unique<reward_model>(backbone, env.vocab_size(), env.n_ctx(), seed ^ 0x601Dull, "task.gold_");
  rng train_rng(seed, 0x601ull), eval_rng(seed, 0x602ull);
  const pair_scorer by_rule = rule_scorer(env);
  const auto pairs = scored_pairs(ref, env, c.gold_pairs, by_rule, 0.0, train_rng);
  g.held_out = scored_pairs(ref, env, c.gold_eval_pairs, by_rule, 0.0, eval_rng);
  rm_train_config gc;
  gc.steps = c.gold_steps;
  gc.lr = c.gold_lr;
  train_reward_model(*g.rm, pairs, gc, env.pad(), seed ^ 0x601Dull);
  g.accuracy = pair_accuracy(*g.rm, g.held_out, env.pad());
  return g;
}

lab::run_result run_overopt_lm(const lab::run_context& ctx, const corpus_loader& load) {
  const auto t0 = std::chrono::steady_clock::now();
  set_num_threads(1);  // tiny shapes: a second thread only spins (runners.cpp measured it)
  const sink out{ctx, "align_lm"};
  const lm_overopt_config c = lm_overopt_params().read(ctx.config.at("task"), {"name"});
  check(c);
  const corpus_env env(load(c), c.env());
  const std::int32_t pad = env.pad();
  // The proxy first, so that a bad [model] fails before any training.
  const nlohmann::json backbone = lab::lm_model_json(ctx.config.contains("model") ? ctx.config.at("model") : nlohmann::json::object());
  reward_model proxy(backbone, env.vocab_size(), env.n_ctx(), ctx.seed ^ 0x52A1ull);
  int lex_pos = 0, lex_neg = 0;
  for (std::int32_t i = 0; i < env.vocab_size(); ++i) {
    lex_pos += env.lexicon(i) > 0;
    lex_neg += env.lexicon(i) < 0;
  }
  out.metric("vocab", static_cast<double>(env.vocab_size()));
  out.say(fmt::format("corpus '{}': {} words ({} +1, {} -1 in the hidden lexicon), {} training and {} held-out chunks", c.corpus,
                      env.vocab_size(), lex_pos, lex_neg, env.train_chunks(), env.heldout_chunks()));

  // 1. The reference; 2. the gold reward model.
  std::vector<float> plosses;
  const auto ref = pretrain_lm_reference(env, c.policy(), ctx.seed, &plosses);
  double policy_loss = 0;
  const std::size_t tail = std::max<std::size_t>(1, plosses.size() / 10);
  for (std::size_t i = plosses.size() - tail; i < plosses.size(); ++i) policy_loss += plosses[i] / static_cast<double>(tail);
  out.metric("policy_loss", policy_loss);  // mean of the last tenth of the steps (nats per word)
  out.say(fmt::format("reference policy pretrained ({:.1f} CPU-s so far)", cpu_seconds()));
  gold_model gm = train_gold_model(*ref, env, c, ctx.seed);
  reward_model& gold = *gm.rm;
  const auto& rule_held = gm.held_out;
  out.metric("gold_rm_accuracy", gm.accuracy);
  out.metric("gold_rm_params", static_cast<double>(gold.num_parameters()));
  out.say(fmt::format("reference loss {:.3f} nats/word; gold reward model ({} params) on held-out rule-labelled pairs: accuracy {:.3f} "
                      "({:.1f} CPU-s so far)",
                      policy_loss, gold.num_parameters(), gm.accuracy, cpu_seconds()));
  const pair_scorer by_rule = rule_scorer(env);

  // 3. The proxy: Bradley-Terry on gold-labelled pairs.
  const pair_scorer by_gold = [&](const std::vector<token_seq>& xs, const std::vector<token_seq>& ys) { return gold.score(xs, ys, pad); };
  rng pair_rng(ctx.seed, 0xA11ull), eval_rng(ctx.seed, 0xA12ull);
  const auto pairs = scored_pairs(*ref, env, c.rm_pairs, by_gold, c.label_noise, pair_rng);
  const auto held = scored_pairs(*ref, env, c.eval_pairs, by_gold, 0.0, eval_rng);
  const nlohmann::json train = ctx.config.contains("train") ? ctx.config.at("train") : nlohmann::json::object();
  const auto losses = train_reward_model(proxy, pairs, rm_train_from(train), pad, ctx.seed);
  const double acc = pair_accuracy(proxy, held, pad);
  out.metric("rm_accuracy", acc);
  out.metric("rm_rule_accuracy", pair_accuracy(proxy, rule_held, pad));
  out.metric("rm_train_accuracy", pair_accuracy(proxy, pairs, pad));
  out.metric("rm_params", static_cast<double>(proxy.num_parameters()));
  out.metric("final_train_loss", losses.back(), static_cast<std::int64_t>(losses.size()));
  out.say(fmt::format("proxy ({} params) on held-out gold-labelled pairs: accuracy {:.3f}, final BT loss {:.3f} ({:.1f} CPU-s so far)",
                      proxy.num_parameters(), acc, losses.back(), cpu_seconds()));

  // 4. Best-of-n against the proxy on held-out prompts: one pool per prompt.
  rng r(ctx.seed, 0xB0Bull);
  std::vector<pool> pools;
  sample_values rule_values{"rule", {}};
  for (std::int64_t p = 0; p < c.prompts; ++p) {
    const token_seq prompt = env.example(static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(env.heldout_chunks()))), true).first;
    const std::vector<token_seq> prompts(static_cast<std::size_t>(c.pool), prompt);
    const samples smp = sample_responses(*ref, prompts, env.max_response(), -1, r);
    pool pp;
    pp.proxy = proxy.score(prompts, smp.responses, pad);
    pp.gold = gold.score(prompts, smp.responses, pad);
    std::map<token_seq, std::int64_t> ids;
    for (const auto& y : smp.responses) pp.response_id.push_back(ids.emplace(y, static_cast<std::int64_t>(ids.size())).first->second);
    rule_values.second.push_back(by_rule(prompts, smp.responses));
    if (p == 0) {
      const auto best = static_cast<std::size_t>(std::max_element(pp.proxy.begin(), pp.proxy.end()) - pp.proxy.begin());
      out.say(fmt::format("prompt '{}': a sample '{}', the proxy's best of {} '{}'", env.decode(prompt), env.decode(smp.responses[0]), c.pool,
                          env.decode(smp.responses[best])));
    }
    pools.push_back(std::move(pp));
  }
  // Gold and proxy in units of their standard deviation over the reference's samples, centred
  // on its mean, so that gold(n = 1) = 0 (R(0) = 0 in Gao et al.'s forms), curves of different
  // seeds, proxies and gold models share one scale, and proxy - gold (gap_growth) compares like
  // with like (raw Bradley-Terry scores of two models have arbitrary offsets and scales).
  for (const auto which : {&pool::gold, &pool::proxy}) {
    double sum = 0, sq = 0, count = 0;
    for (const auto& q : pools)
      for (const double v : q.*which) sum += v, sq += v * v, count += 1;
    const double mean = sum / count, sd = std::sqrt(std::max(1e-24, sq / count - mean * mean));
    for (auto& q : pools)
      for (double& v : q.*which) v = (v - mean) / sd;
    out.metric(which == &pool::gold ? "gold_raw_sd" : "proxy_raw_sd", sd);
  }
  const auto g = bon_sweep(out, pools, {rule_values}, c.bootstrap, ctx.seed);
  out.eval("all", "gold", g.back(), c.prompts);
  lab::run_result res;
  res.test_accuracy = *std::max_element(g.begin(), g.end());
  res.steps = c.pool;
  res.n_params = proxy.num_parameters();
  res.final_train_loss = losses.back();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.metric("seconds", res.seconds);
  return res;
}

void register_overopt_lm(corpus_loader load) {
  tasks::register_once([&] {
    lab::register_lab_task("align_overopt_lm",
                           "alignment lab, environment (b): a corpus LM, a gold reward model of a hidden rule, proxies, best-of-n",
                           lm_overopt_params(), [load](const lab::run_context& ctx) { return run_overopt_lm(ctx, load); });
  });
}

}  // namespace lmlab::align
