// Constant initialisers that GCC 12.2 with AVX-512 (-march=native on an AVX-512 machine)
// compiled into a broadcast of their first pair: {1.0, 1.0, 0.0, 0.0} became four 1.0s. The
// build turns basic-block SLP vectorisation off for GCC < 13 (CMakeLists.txt); this test fails
// without that on such a machine. The values pass through a non-inlined function so that the
// comparison cannot be folded at compile time.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {
[[gnu::noinline]] std::vector<double> copy_out(const std::vector<double>& v) { return v; }
[[gnu::noinline]] std::vector<std::int64_t> copy_out(const std::vector<std::int64_t>& v) { return v; }
}  // namespace

TEST(compiler, constant_initialisers_with_repeated_pairs_keep_every_value) {
  const std::vector<std::int64_t> answers{5, 5, 7, -1};
  const std::vector<double> correct{1.0, 1.0, 0.0, 0.0};
  EXPECT_EQ(copy_out(answers), (std::vector<std::int64_t>{5, 5, 7, -1}));
  const auto c = copy_out(correct);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0], 1.0);
  EXPECT_EQ(c[1], 1.0);
  EXPECT_EQ(c[2], 0.0);
  EXPECT_EQ(c[3], 0.0);
  double arr[4] = {1.0, 1.0, 0.0, 0.0};
  const std::vector<double> from_array(arr, arr + 4);
  EXPECT_EQ(copy_out(from_array), (std::vector<double>{1.0, 1.0, 0.0, 0.0}));
}
