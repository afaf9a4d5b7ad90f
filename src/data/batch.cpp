// Batch sampling and sequential evaluation windows: see batch.hpp.
#include "data/batch.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::data {

token_view::token_view(const token_file& f) : data_(f.data()), count_(f.size()), width_(static_cast<int>(f.dtype())) {}

token_view::token_view(std::span<const std::int32_t> ids) : data_(ids.data()), count_(ids.size()), width_(4) {}

namespace {
void check_shape(std::size_t n, std::int64_t B, std::int64_t T, const char* who) {
  LMLAB_CHECK(B > 0 && T > 0, "{}: batch size B={} and context T={} must be positive", who, B, T);
  LMLAB_CHECK(n >= static_cast<std::size_t>(T) + 1,
              "{}: the token stream has {} ids, fewer than one window of T+1 = {}", who, n, T + 1);
}
}  // namespace

std::vector<std::uint64_t> sample_offsets(std::size_t n, std::int64_t B, std::int64_t T, std::uint64_t seed, std::uint64_t step) {
  check_shape(n, B, T, "sample_batch");
  rng r(seed, step);
  std::vector<std::uint64_t> off(static_cast<std::size_t>(B));
  for (auto& o : off) o = r.below(n - static_cast<std::size_t>(T));
  return off;
}

batch sample_batch(token_view tokens, std::int64_t B, std::int64_t T, std::uint64_t seed, std::uint64_t step) {
  const auto off = sample_offsets(tokens.size(), B, T, seed, step);
  batch out;
  out.B = B;
  out.T = T;
  out.inputs.resize(static_cast<std::size_t>(B * T));
  out.targets.resize(static_cast<std::size_t>(B * T));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t) {
      const std::size_t at = off[static_cast<std::size_t>(b)] + static_cast<std::size_t>(t);
      out.inputs[static_cast<std::size_t>(b * T + t)] = tokens[at];
      out.targets[static_cast<std::size_t>(b * T + t)] = tokens[at + 1];
    }
  return out;
}

sequential_batches::sequential_batches(token_view tokens, std::int64_t B, std::int64_t T)
    : tokens_(tokens), B_(B), T_(T), windows_(0) {
  check_shape(tokens.size(), B, T, "sequential_batches");
  windows_ = (tokens.size() - 1) / static_cast<std::size_t>(T);
}

bool sequential_batches::next(batch& out) {
  if (next_window_ >= windows_) return false;
  const std::size_t rows = std::min<std::size_t>(static_cast<std::size_t>(B_), windows_ - next_window_);
  out.B = static_cast<std::int64_t>(rows);
  out.T = T_;
  out.inputs.resize(rows * static_cast<std::size_t>(T_));
  out.targets.resize(rows * static_cast<std::size_t>(T_));
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t base = (next_window_ + r) * static_cast<std::size_t>(T_);
    for (std::int64_t t = 0; t < T_; ++t) {
      out.inputs[r * static_cast<std::size_t>(T_) + static_cast<std::size_t>(t)] = tokens_[base + static_cast<std::size_t>(t)];
      out.targets[r * static_cast<std::size_t>(T_) + static_cast<std::size_t>(t)] = tokens_[base + static_cast<std::size_t>(t) + 1];
    }
  }
  next_window_ += rows;
  return true;
}

}  // namespace lmlab::data
