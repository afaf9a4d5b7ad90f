#include "core/cpu.hpp"

#include <gtest/gtest.h>

TEST(cpu, detects_an_isa_and_a_plausible_clock) {
  const auto ci = lmlab::detect_cpu();
  EXPECT_TRUE(ci.flop_per_cycle == 16 || ci.flop_per_cycle == 32 || ci.flop_per_cycle == 64) << ci.flop_per_cycle;
  EXPECT_FALSE(ci.why.empty());
  if (ci.avx512f && !(ci.amd && ci.family < 26)) {
    EXPECT_EQ(ci.flop_per_cycle, 64);
  }
  const double ghz = lmlab::measure_ghz();
  EXPECT_GT(ghz, 0.3);   // even a heavily shared vCPU retires adds faster than this
  EXPECT_LT(ghz, 10.0);  // no x86 core runs at 10 GHz
}
