// Which training examples make up a lab run's batch at one step. Uniform: B indices drawn
// uniformly with replacement. By length (train.batch_by_length): the training examples are
// sorted by input length and cut into chunks of `chunk_batches` x B neighbours; a step draws
// one example uniformly, then B indices uniformly from that example's chunk. Every example
// keeps the marginal probability 1/N per draw (chunk c is chosen with probability |c|/N, then
// each member with 1/|c|), but a batch holds sequences of similar length, so it is padded to
// far fewer positions (SCAN: actions 1-48) — the same data at a fraction of the compute.
// Both are a pure function of the rng they are given, so a resumed run draws the same batches.
// Not for: building the padded tensors (tasks::make_batch) or evaluation batches (run.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::lab {

class batch_sampler {
 public:
  batch_sampler(const std::vector<tasks::example>& train, std::int64_t batch, bool by_length,
                std::int64_t chunk_batches = 8);
  std::vector<std::size_t> draw(rng& r) const;

 private:
  std::size_t n_;
  std::int64_t batch_;
  bool by_length_;
  std::vector<std::size_t> sorted_;       // example indices by input length (ties: by index)
  std::vector<std::size_t> chunk_begin_;  // chunk k covers sorted_[chunk_begin_[k], chunk_begin_[k + 1])
};

}  // namespace lmlab::lab
