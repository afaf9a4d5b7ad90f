// lab/batches.hpp: uniform and length-grouped batch sampling of training examples.
#include <gtest/gtest.h>

#include <map>

#include "lab/batches.hpp"

namespace lmlab::lab {
namespace {

// n examples whose input lengths cycle through 1..max_len.
std::vector<tasks::example> examples_of_lengths(std::size_t n, std::size_t max_len) {
  std::vector<tasks::example> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i].input.assign(1 + (i * 7) % max_len, 1);
  return v;
}

TEST(batch_sampler, uniform_draws_what_the_run_drew_before) {
  const auto ex = examples_of_lengths(100, 10);
  const batch_sampler s(ex, 8, false);
  rng a(42, 1), b(42, 1);
  const auto idx = s.draw(a);
  ASSERT_EQ(idx.size(), 8u);
  for (auto i : idx) EXPECT_EQ(i, b.below(100));  // run.cpp's former loop, draw for draw
}

TEST(batch_sampler, by_length_batches_span_a_narrow_length_range) {
  const auto ex = examples_of_lengths(4096, 48);
  const batch_sampler s(ex, 16, true, 4);  // chunks of 64 sorted neighbours: at most 2 lengths each
  rng r(7, 0);
  for (int step = 0; step < 50; ++step) {
    std::size_t lo = 1000, hi = 0;
    for (auto i : s.draw(r)) {
      lo = std::min(lo, ex[i].input.size());
      hi = std::max(hi, ex[i].input.size());
    }
    EXPECT_LE(hi - lo, 2u) << "step " << step;
  }
}

TEST(batch_sampler, by_length_keeps_every_example_equally_likely) {
  // 383 = a chunk of 128 and one of 255 (the short rest joins it): choosing a chunk uniformly
  // instead of by its size would give the first chunk's examples 1.5x their share.
  const std::size_t n = 383;
  const auto ex = examples_of_lengths(n, 9);
  const batch_sampler s(ex, 16, true, 8);
  std::map<std::size_t, int> count;
  rng r(3, 0);
  const int draws = 10000;
  for (int k = 0; k < draws; ++k)
    for (auto i : s.draw(r)) ++count[i];
  const double expect = draws * 16.0 / static_cast<double>(n);  // about 418 per example
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_GT(count[i], 0.8 * expect) << "example " << i;
    EXPECT_LT(count[i], 1.2 * expect) << "example " << i;
  }
}

}  // namespace
}  // namespace lmlab::lab
