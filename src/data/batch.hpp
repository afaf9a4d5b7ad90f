// Batches for training and evaluation from a token stream.
//  - sample_batch: B windows of T+1 tokens at random offsets; a pure function of
//    (tokens, B, T, seed, step) built on the counter-based Philox stream (seed, stream = step),
//    so a resumed run draws exactly the batches an uninterrupted one would.
//  - sequential_batches: every non-overlapping window in order, for evaluation; window k
//    covers ids [k*T, k*T + T] (inputs k*T.., targets k*T+1..), (n-1)/T windows in all, the
//    last batch holding the remainder rows.
// Not for: padding or document masking (windows run across document boundaries).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/token_file.hpp"

namespace lmlab::data {

// A read-only view of ids stored as uint16, uint32 or int32 (non-negative) values.
class token_view {
 public:
  token_view(const token_file& f);  // NOLINT: implicit by design
  token_view(std::span<const std::int32_t> ids);  // NOLINT
  token_view(const std::vector<std::int32_t>& ids) : token_view(std::span<const std::int32_t>(ids)) {}  // NOLINT
  std::size_t size() const { return count_; }
  std::int32_t operator[](std::size_t i) const {
    return width_ == 2 ? static_cast<std::int32_t>(static_cast<const std::uint16_t*>(data_)[i])
                       : static_cast<std::int32_t>(static_cast<const std::uint32_t*>(data_)[i]);
  }

 private:
  const void* data_;
  std::size_t count_;
  int width_;
};

struct batch {
  std::int64_t B = 0, T = 0;
  std::vector<std::int32_t> inputs;   // (B, T) row-major
  std::vector<std::int32_t> targets;  // (B, T): targets[b][t] = inputs[b][t+1] in the stream
};

// Offsets are drawn uniformly from [0, n - T - 1] with rng(seed, step).below(n - T), rows in order.
batch sample_batch(token_view tokens, std::int64_t B, std::int64_t T, std::uint64_t seed, std::uint64_t step);
// The window offsets sample_batch uses (for tests and logging).
std::vector<std::uint64_t> sample_offsets(std::size_t n, std::int64_t B, std::int64_t T, std::uint64_t seed, std::uint64_t step);

class sequential_batches {
 public:
  sequential_batches(token_view tokens, std::int64_t B, std::int64_t T);
  // Fills `out` with the next batch; false when every window has been returned.
  bool next(batch& out);
  void reset() { next_window_ = 0; }
  std::size_t num_windows() const { return windows_; }
  std::size_t num_batches() const { return (windows_ + static_cast<std::size_t>(B_) - 1) / static_cast<std::size_t>(B_); }

 private:
  token_view tokens_;
  std::int64_t B_, T_;
  std::size_t windows_;
  std::size_t next_window_ = 0;
};

}  // namespace lmlab::data
