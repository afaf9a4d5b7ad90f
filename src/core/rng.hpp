// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, "Parallel random numbers:
// as easy as 1, 2, 3"). A stream is (seed, stream id); the n-th draw is a pure function of
// (seed, stream, n), so results do not depend on thread scheduling: a kernel that needs
// random numbers for element i computes them from counter i, on any thread.
// Not for: cryptography.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

namespace lmlab {

// ref: Salmon et al. 2011, Philox4x32 with 10 rounds; constants from the paper / Random123.
inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(M0) * ctr[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(M1) * ctr[2];
    ctr = {static_cast<std::uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<std::uint32_t>(p1),
           static_cast<std::uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<std::uint32_t>(p0)};
    key[0] += W0;
    key[1] += W1;
  }
  return ctr;
}

// A sequential view of one Philox stream: draws 4 words per block, counter = (index, stream).
// Copyable; copying forks the position. `skip_to(n)` jumps to the n-th 32-bit word.
class rng {
 public:
  explicit rng(std::uint64_t seed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }
  std::uint64_t position() const { return pos_; }  // 32-bit words drawn so far
  void skip_to(std::uint64_t word_index) { pos_ = word_index; }

  std::uint32_t next_u32() {
    const std::uint64_t block = pos_ >> 2;
    if (block != cached_block_) {
      buf_ = philox4x32({static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                         static_cast<std::uint32_t>(stream_), static_cast<std::uint32_t>(stream_ >> 32)},
                        {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
      cached_block_ = block;
    }
    return buf_[pos_++ & 3];
  }
  std::uint64_t next_u64() {
    const std::uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  // Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform_float() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform integer in [0, n), unbiased (Lemire 2019, "Fast random integer generation in an interval").
  std::uint64_t below(std::uint64_t n) {
    if (n <= 1) return 0;
    if (n <= (1ull << 32)) {
      const std::uint32_t n32 = static_cast<std::uint32_t>(n - 1) + 1u;  // n == 2^32 wraps to 0
      if (n32 == 0) return next_u32();
      std::uint64_t m = static_cast<std::uint64_t>(next_u32()) * n32;
      std::uint32_t l = static_cast<std::uint32_t>(m);
      if (l < n32) {
        const std::uint32_t t = (0u - n32) % n32;
        while (l < t) {
          m = static_cast<std::uint64_t>(next_u32()) * n32;
          l = static_cast<std::uint32_t>(m);
        }
      }
      return m >> 32;
    }
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }
  // Integer in [lo, hi] inclusive.
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  // Standard normal by Box-Muller (uses two uniforms per draw; no caching, so draws stay
  // a pure function of position).
  double normal() {
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // A child stream for a sub-task (e.g. per run, per example): independent of this one.
  rng fork(std::uint64_t child) const { return rng(seed_ ^ (0x9E3779B97F4A7C15ull * (child + 1)), stream_ + 0x100000000ull * (child + 1)); }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t pos_ = 0;
  std::uint64_t cached_block_ = ~0ull;
  std::array<std::uint32_t, 4> buf_{};
};

}  // namespace lmlab
