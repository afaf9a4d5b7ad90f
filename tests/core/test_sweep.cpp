#include "core/sweep.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using lmlab::parse_sweep;
using lmlab::parse_sweep_int;

TEST(sweep, list_and_ranges) {
  EXPECT_EQ(parse_sweep_int("64,128,256", "d_model"), (std::vector<std::int64_t>{64, 128, 256}));
  EXPECT_EQ(parse_sweep_int("256-4096*2", "seq_len"), (std::vector<std::int64_t>{256, 512, 1024, 2048, 4096}));
  EXPECT_EQ(parse_sweep_int("64-256+64", "x"), (std::vector<std::int64_t>{64, 128, 192, 256}));
  EXPECT_EQ(parse_sweep_int("1,8-32*2", "x"), (std::vector<std::int64_t>{1, 8, 16, 32}));
  EXPECT_EQ(parse_sweep_int("3-10*3", "x"), (std::vector<std::int64_t>{3, 9}));
}

TEST(sweep, floats_and_exponents) {
  auto v = parse_sweep("1e19-1e25*10", "--compute");
  ASSERT_EQ(v.size(), 7u);
  EXPECT_DOUBLE_EQ(v.front(), 1e19);
  EXPECT_NEAR(v.back(), 1e25, 1e25 * 1e-12);
  EXPECT_EQ(parse_sweep("1e-3", "lr"), (std::vector<double>{1e-3}));
  EXPECT_EQ(parse_sweep("1e-3-3e-3+1e-3", "lr").size(), 3u);
  EXPECT_EQ(parse_sweep("-2", "x"), (std::vector<double>{-2}));
}

TEST(sweep, suffixes) {
  EXPECT_EQ(parse_sweep_int("128k", "--context", {.binary_suffix = true}), (std::vector<std::int64_t>{131072}));
  EXPECT_EQ(parse_sweep_int("7B", "--params"), (std::vector<std::int64_t>{7000000000}));
  EXPECT_DOUBLE_EQ(lmlab::parse_quantity("2.5M", "x"), 2.5e6);
}

TEST(sweep, errors_name_the_flag) {
  try {
    parse_sweep("12,,3", "--tp");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--tp: empty item in '12,,3'");
  }
  try {
    parse_sweep("abc", "--compute");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--compute: cannot parse 'abc' as a number");
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_THROW(parse_sweep("10-1*2", "x"), lmlab::error);
  EXPECT_THROW(parse_sweep("1-10*1", "x"), lmlab::error);
  EXPECT_THROW(parse_sweep("1-10", "x"), lmlab::error);
  EXPECT_THROW(parse_sweep_int("1.5", "x"), lmlab::error);
  EXPECT_THROW(parse_sweep("1-1e12+1", "x"), lmlab::error);
}
