#include "core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>

TEST(rng, philox_known_answer) {
  // Random123 kat_vectors: philox4x32_10 with counter 0 / key 0, and all-ones counter/key.
  auto z = lmlab::philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(z[0], 0x6627e8d5u);
  EXPECT_EQ(z[1], 0xe169c58du);
  EXPECT_EQ(z[2], 0xbc57ac4cu);
  EXPECT_EQ(z[3], 0x9b00dbd8u);
  auto o = lmlab::philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(o[0], 0x408f276du);
  EXPECT_EQ(o[1], 0x41c83b0eu);
  EXPECT_EQ(o[2], 0xa20bc7c6u);
  EXPECT_EQ(o[3], 0x6d5451fdu);
}

TEST(rng, position_is_a_pure_counter) {
  lmlab::rng a(42), b(42);
  for (int i = 0; i < 13; ++i) a.next_u32();
  b.skip_to(13);
  EXPECT_EQ(a.next_u32(), b.next_u32());
  lmlab::rng c(42, 1);
  EXPECT_NE(lmlab::rng(42).next_u32(), c.next_u32());
}

TEST(rng, moments) {
  lmlab::rng r(7);
  double s = 0, s2 = 0, u = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = r.normal();
    s += x;
    s2 += x * x;
    u += r.uniform();
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.015);
  EXPECT_NEAR(u / n, 0.5, 0.005);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) counts[r.below(3)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
}
