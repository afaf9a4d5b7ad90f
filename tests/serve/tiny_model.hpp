// Test fixture for `lmlab serve`: a tiny char-level GPT trained for a few steps on a small
// corpus, saved as a real checkpoint (with tokenizer.json) and loaded back through
// load_served_model, plus an independent copy of the same weights for computing expected
// logits directly. Deterministic from its seed; trains in well under a second.
// Not for: measuring anything about training.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"
#include "data/tokenizer.hpp"
#include "models/lm.hpp"
#include "serve/generate.hpp"
#include "serve/model_adapter.hpp"
#include "train/checkpoint.hpp"
#include "train/optim.hpp"

namespace lmlab::serve::fixture {

struct tiny_checkpoint {
  std::filesystem::path dir;
  std::vector<double> losses;  // training loss per step
  ~tiny_checkpoint() {
    if (!dir.empty()) std::filesystem::remove_all(dir.parent_path());
  }
};

// Trains a GPT on `corpus` (its characters are the vocabulary) for `steps` steps of 8 random
// windows of min(32, n_ctx) characters, and writes the checkpoint to <tmp>/<tag>_<pid>/<name>/.
inline void make_tiny_checkpoint(tiny_checkpoint& out, const std::string& corpus, const std::string& tag,
                                 const std::string& name = "tiny-gpt", std::int64_t n_ctx = 96, int steps = 30) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / (tag + "_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  out.dir = root / name;
  std::vector<std::string_view> texts = {corpus};
  auto tok = data::char_tokenizer::build(texts);
  const auto ids = tok.encode(corpus);
  models::lm_config cfg;
  cfg.vocab_size = tok.vocab_size();
  cfg.d_model = 32;
  cfg.n_layers = 2;
  cfg.n_heads = 2;
  cfg.n_ctx = n_ctx;
  models::lm m(cfg, 7);
  train::adamw opt(m.named_parameters(), {0.9, 0.99, 1e-8, 0.0});
  const std::int64_t B = 8, T = std::min<std::int64_t>(32, n_ctx);
  rng r(11, 3);
  for (int s = 0; s < steps; ++s) {
    std::vector<std::int32_t> batch;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto start = static_cast<std::size_t>(r.below(ids.size() - static_cast<std::size_t>(T) - 1));
      batch.insert(batch.end(), ids.begin() + static_cast<std::ptrdiff_t>(start),
                   ids.begin() + static_cast<std::ptrdiff_t>(start) + T + 1);
    }
    tensor loss = m.loss(tensor::from<std::int32_t>({B, T + 1}, std::span<const std::int32_t>(batch)));
    out.losses.push_back(loss.to_vector()[0]);
    opt.zero_grad();
    backward(loss);
    opt.step(1e-2);
  }
  train::save_checkpoint(out.dir, {&m, nullptr, {{"step", steps}}, tok.to_json()});
}

// The expected log-softmax at every position of `ids`, from an independent copy of the weights.
inline std::vector<std::vector<double>> direct_log_softmax(const std::filesystem::path& dir,
                                                           const std::vector<std::int32_t>& ids) {
  auto ck = train::load_checkpoint(dir);
  ck.model->eval();
  no_grad ng;
  const auto T = static_cast<std::int64_t>(ids.size());
  tensor logits = ck.model->forward(tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(ids))).contiguous_raw();
  const std::int64_t V = ck.model->vocab_size();
  std::vector<std::vector<double>> out;
  for (std::int64_t t = 0; t < T; ++t)
    out.push_back(log_softmax(std::span<const float>(logits.data<float>() + t * V, static_cast<std::size_t>(V))));
  return out;
}

}  // namespace lmlab::serve::fixture
