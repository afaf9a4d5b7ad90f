// Training batch sampling for lab runs: see batches.hpp.
#include "lab/batches.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace lmlab::lab {

batch_sampler::batch_sampler(const std::vector<tasks::example>& train, std::int64_t batch, bool by_length,
                             std::int64_t chunk_batches)
    : n_(train.size()), batch_(batch), by_length_(by_length) {
  LMLAB_CHECK(n_ > 0 && batch > 0 && chunk_batches > 0, "lab: batch sampler needs examples, batch_size and chunk > 0");
  if (!by_length_) return;
  sorted_.resize(n_);
  std::iota(sorted_.begin(), sorted_.end(), std::size_t{0});
  std::stable_sort(sorted_.begin(), sorted_.end(),
                   [&](std::size_t a, std::size_t b) { return train[a].input.size() < train[b].input.size(); });
  const auto chunk = static_cast<std::size_t>(batch * chunk_batches);
  for (std::size_t at = 0; at < n_; at += chunk)
    // a short last chunk joins the one before it, so no chunk is smaller than `chunk`
    if (chunk_begin_.empty() || n_ - at >= chunk) chunk_begin_.push_back(at);
  chunk_begin_.push_back(n_);
}

std::vector<std::size_t> batch_sampler::draw(rng& r) const {
  std::vector<std::size_t> idx(static_cast<std::size_t>(batch_));
  if (!by_length_) {
    for (auto& i : idx) i = static_cast<std::size_t>(r.below(n_));
    return idx;
  }
  const std::size_t pick = static_cast<std::size_t>(r.below(n_));
  const auto k = static_cast<std::size_t>(std::upper_bound(chunk_begin_.begin(), chunk_begin_.end(), pick) -
                                          chunk_begin_.begin()) - 1;
  const std::size_t lo = chunk_begin_[k], size = chunk_begin_[k + 1] - lo;
  for (auto& i : idx) i = sorted_[lo + static_cast<std::size_t>(r.below(size))];
  return idx;
}

}  // namespace lmlab::lab
