// Collapse loops on small neural LMs: see lm_collapse.hpp.
#include "datalab/lm_collapse.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "models/lm.hpp"
#include "models/sample.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace lmlab::datalab {

namespace {

// B chunks drawn with replacement from `data` (whole chunks of len):
// inputs (B, len) = <s> (id 0) then chunk[0, len-1); targets (B, len) = chunk.
train::step_batch chunk_batch(const std::vector<std::int32_t>& data, std::size_t len, std::int64_t B, rng g) {
  const std::size_t n = data.size() / len;
  std::vector<std::int32_t> in, tg;
  in.reserve(static_cast<std::size_t>(B) * len);
  tg.reserve(in.capacity());
  for (std::int64_t b = 0; b < B; ++b) {
    const std::size_t c = static_cast<std::size_t>(g.below(n)) * len;
    in.push_back(0);
    in.insert(in.end(), data.begin() + static_cast<std::ptrdiff_t>(c), data.begin() + static_cast<std::ptrdiff_t>(c + len - 1));
    tg.insert(tg.end(), data.begin() + static_cast<std::ptrdiff_t>(c), data.begin() + static_cast<std::ptrdiff_t>(c + len));
  }
  const auto T = static_cast<std::int64_t>(len);
  return {tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(in)),
          tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(tg)), g.next_u64()};
}

// −log p(token) of every held-out token, in order (each chunk scored from <s>).
std::vector<double> token_nll(models::causal_lm& model, const std::vector<std::int32_t>& held, std::size_t len) {
  no_grad ng;
  model.eval();
  const std::size_t n = held.size() / len;
  const std::size_t per = 64;  // chunks per forward
  std::vector<double> out;
  out.reserve(held.size());
  for (std::size_t c0 = 0; c0 < n; c0 += per) {
    const std::size_t B = std::min(per, n - c0);
    std::vector<std::int32_t> in;
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t c = (c0 + b) * len;
      in.push_back(0);
      in.insert(in.end(), held.begin() + static_cast<std::ptrdiff_t>(c), held.begin() + static_cast<std::ptrdiff_t>(c + len - 1));
    }
    const tensor logits =
        model.forward(tensor::from<std::int32_t>({static_cast<std::int64_t>(B), static_cast<std::int64_t>(len)}, std::span<const std::int32_t>(in)))
            .contiguous_raw();
    const std::int64_t V = logits.size(2);
    const float* lp = logits.data<float>();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < len; ++t) {
        const float* row = lp + static_cast<std::int64_t>(b * len + t) * V;
        const float mx = *std::max_element(row, row + V);
        double z = 0;
        for (std::int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v] - mx));
        const std::int32_t y = held[(c0 + b) * len + t];
        out.push_back(std::log(z) - static_cast<double>(row[y] - mx));
      }
  }
  model.train(true);
  return out;
}

// n_chunks chunks of len words sampled from <s> at temperature T (step mode, batched); <s> is
// never emitted.
std::vector<std::int32_t> sample_chunks(models::causal_lm& model, std::size_t n_chunks, std::size_t len, double T, rng& g) {
  no_grad ng;
  model.eval();
  models::sample_options so;
  so.temperature = T;
  const std::size_t per = 256;
  std::vector<std::int32_t> out;
  out.reserve(n_chunks * len);
  for (std::size_t c0 = 0; c0 < n_chunks; c0 += per) {
    const std::size_t B = std::min(per, n_chunks - c0);
    auto st = model.new_state(static_cast<std::int64_t>(B));
    std::vector<std::int32_t> ids(B, 0);
    std::vector<std::vector<std::int32_t>> seqs(B);
    for (std::size_t t = 0; t < len; ++t) {
      const tensor logits = model.step(*st, tensor::from<std::int32_t>({static_cast<std::int64_t>(B)}, std::span<const std::int32_t>(ids))).contiguous_raw();
      const std::int64_t V = logits.size(1);
      std::vector<float> row(static_cast<std::size_t>(V));
      for (std::size_t b = 0; b < B; ++b) {
        std::copy_n(logits.data<float>() + static_cast<std::int64_t>(b) * V, V, row.begin());
        row[0] = -std::numeric_limits<float>::infinity();
        ids[b] = models::pick_token(row, so, g.uniform());
        seqs[b].push_back(ids[b]);
      }
    }
    for (const auto& s : seqs) out.insert(out.end(), s.begin(), s.end());
  }
  model.train(true);
  return out;
}

}  // namespace

lm_collapse_result run_lm_collapse(const ngram_corpus& corpus, const lm_collapse_config& c, std::uint64_t seed) {
  const auto& s = c.data.s;
  LMLAB_CHECK(s.generations >= 1, "collapse_lm: generations must be >= 1, got {}", s.generations);
  LMLAB_CHECK(s.temperature > 0, "collapse_lm: temperature must be > 0, got {}", s.temperature);
  LMLAB_CHECK(c.optim.steps >= 1 && c.optim.batch_size >= 1, "collapse_lm: train.steps and train.batch_size must be >= 1");
  const std::size_t len = static_cast<std::size_t>(c.data.chunk);
  const auto vocab = static_cast<std::int32_t>(corpus.words.size());
  models::lm_config mc = c.model;
  mc.vocab_size = vocab;
  mc.n_ctx = static_cast<std::int64_t>(len);
  mc.validate("model.");

  lm_collapse_result res;
  res.vocab = vocab - 1;
  const std::vector<bool> tail = tail_mask(corpus.real, vocab, c.data.tail_q, res.real_tail_mass);
  const real_types real = real_types_of(corpus.real, vocab, len);
  const std::size_t n_chunks = corpus.real.size() / len;
  const train::optim_config& oc = c.optim;

  rng g(seed, 0x6C6D63ull);  // "lmc"
  std::vector<std::int32_t> pool = corpus.real, synth;
  for (int gen = 1; gen <= s.generations; ++gen) {
    const std::vector<std::int32_t> data = gen == 1 ? corpus.real : workflow_rows(s, len, corpus.real, pool, std::move(synth), g);
    // A fresh model per generation (Gerstgrasser et al. 2024 train each generation from scratch).
    const std::uint64_t gseed = rng(seed, 0x6C6D6300ull + static_cast<std::uint64_t>(gen)).next_u64();
    auto model = models::make_model(mc, gseed);
    res.n_params = model->num_parameters();
    train::adamw opt(model->named_parameters(), train::adamw_options{oc.beta1, oc.beta2, oc.eps, oc.weight_decay});
    const train::lr_schedule sched{oc.lr, oc.final_lr(), oc.warmup(oc.steps), oc.steps, train::lr_schedule::shape::cosine, 0.2};
    std::vector<float> losses;
    train::loop_callbacks cb;
    cb.batch = [&](std::int64_t step) { return chunk_batch(data, len, oc.batch_size, rng(gseed, static_cast<std::uint64_t>(step))); };
    cb.after_step = [&](std::int64_t, float loss) { losses.push_back(loss); };
    model->train(true);
    train::train_steps(*model, opt, sched, oc.grad_clip, 0, oc.steps, cb);

    lm_generation m;
    m.generation = gen;
    m.train_tokens = static_cast<double>(data.size());
    const std::size_t tail_n = std::max<std::size_t>(1, losses.size() / 10);
    double lsum = 0;
    for (std::size_t i = losses.size() - tail_n; i < losses.size(); ++i) lsum += losses[i];
    m.train_loss = lsum / static_cast<double>(tail_n);
    // Held-out real text, split by whether the word is in the real tail.
    const auto nll = token_nll(*model, corpus.heldout, len);
    double all = 0, nll_tail = 0, n_tail = 0;
    for (std::size_t i = 0; i < nll.size(); ++i) {
      all += nll[i];
      if (tail[static_cast<std::size_t>(corpus.heldout[i])]) nll_tail += nll[i], ++n_tail;
    }
    const double n_held = static_cast<double>(nll.size());
    m.heldout_ppl = std::exp(all / n_held);
    m.heldout_nll_tail = n_tail > 0 ? nll_tail / n_tail : NAN;
    m.heldout_nll_head = (all - nll_tail) / (n_held - n_tail);
    // The training data: coverage of the real words and bigrams, unigram entropy.
    std::vector<std::int64_t> uni(static_cast<std::size_t>(vocab), 0);
    for (auto w : data) ++uni[static_cast<std::size_t>(w)];
    const data_coverage cov = measure_training_data(data, uni, m.train_tokens, len, real);
    m.coverage_1 = cov.coverage_1;
    m.entropy_1 = cov.entropy_1;
    m.coverage_2 = cov.coverage_2;
    // This model's samples: the next generation's synthetic batch.
    synth = sample_chunks(*model, n_chunks, len, s.temperature, g);
    measure_samples(synth, len, n_chunks, tail, c.data.bleu_chunks, m);
    res.gens.push_back(m);
  }
  return res;
}

}  // namespace lmlab::datalab
