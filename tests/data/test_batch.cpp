// Batch sampling: a pure function of (seed, step); targets are inputs shifted by one; the
// evaluation iterator visits every window once, in order.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.hpp"
#include "data/batch.hpp"

namespace d = lmlab::data;

TEST(sample_batch, pure_function_of_seed_and_step) {
  std::vector<std::int32_t> ids(1000);
  std::iota(ids.begin(), ids.end(), 0);
  const auto a = d::sample_batch(ids, 4, 16, 1234, 7);
  const auto b = d::sample_batch(ids, 4, 16, 1234, 7);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.targets, b.targets);
  // Calling other steps in between changes nothing (no hidden state): resume is bit-identical.
  d::sample_batch(ids, 4, 16, 1234, 8);
  EXPECT_EQ(d::sample_batch(ids, 4, 16, 1234, 7).inputs, a.inputs);
  EXPECT_NE(d::sample_batch(ids, 4, 16, 1234, 8).inputs, a.inputs);
  EXPECT_NE(d::sample_batch(ids, 4, 16, 1235, 7).inputs, a.inputs);
  ASSERT_EQ(a.inputs.size(), 64u);
  for (int b_ = 0; b_ < 4; ++b_)
    for (int t = 0; t < 16; ++t) {
      EXPECT_EQ(a.targets[b_ * 16 + t], a.inputs[b_ * 16 + t] + 1);  // iota: shift by one
      if (t) EXPECT_EQ(a.inputs[b_ * 16 + t], a.inputs[b_ * 16 + t - 1] + 1);  // contiguous window
    }
  const auto off = d::sample_offsets(ids.size(), 4, 16, 1234, 7);
  for (int b_ = 0; b_ < 4; ++b_) {
    EXPECT_EQ(static_cast<std::uint64_t>(a.inputs[b_ * 16]), off[b_]);
    EXPECT_LE(off[b_], 1000u - 17u);
  }
}

TEST(sample_batch, offsets_are_pinned) {
  // Regression pin: Philox4x32-10 stream (seed 42, stream = step 3), below(1000 - 8).
  EXPECT_EQ(d::sample_offsets(1000, 4, 8, 42, 3), (std::vector<std::uint64_t>{39, 442, 717, 593}));
}

TEST(sample_batch, covers_the_last_window) {
  std::vector<std::int32_t> ids(10);
  std::iota(ids.begin(), ids.end(), 0);
  // n - T = 1 possible offset: always 0.
  const auto b = d::sample_batch(ids, 3, 9, 5, 0);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(b.targets[r * 9 + 8], 9);
}

TEST(sample_batch, too_short_stream_is_an_error) {
  std::vector<std::int32_t> ids(8);
  try {
    d::sample_batch(ids, 2, 8, 1, 0);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "sample_batch: the token stream has 8 ids, fewer than one window of T+1 = 9");
  }
}

TEST(sequential_batches, every_window_in_order) {
  std::vector<std::int32_t> ids(10);
  std::iota(ids.begin(), ids.end(), 0);
  d::sequential_batches it(ids, 2, 3);
  EXPECT_EQ(it.num_windows(), 3u);
  EXPECT_EQ(it.num_batches(), 2u);
  d::batch b;
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.B, 2);
  EXPECT_EQ(b.inputs, (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(b.targets, (std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.B, 1);
  EXPECT_EQ(b.inputs, (std::vector<std::int32_t>{6, 7, 8}));
  EXPECT_EQ(b.targets, (std::vector<std::int32_t>{7, 8, 9}));
  EXPECT_FALSE(it.next(b));
  it.reset();
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.inputs[0], 0);
}
