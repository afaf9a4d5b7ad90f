// The OpenMP wait policy default that src/ops/gemm.cpp installs from .preinit_array: libgomp
// must see OMP_WAIT_POLICY=passive when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT,
// and the user's value otherwise (docs/engine.md "Benchmark" has the measurement behind it).
// Not for: timing (no test asserts on time).
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdlib>
#include <string>

#include "ops/gemm.hpp"

namespace {

TEST(omp_policy, libgomp_sees_passive_unless_the_user_chose) {
  // A GEMM call keeps gemm.cpp (and its .preinit_array entry) in the link.
  float a = 2, b = 3, c = 0;
  lmlab::gemm(false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  ASSERT_EQ(c, 6.0f);
  testing::internal::CaptureStderr();
  omp_display_env(0);
  const std::string env = testing::internal::GetCapturedStderr();
  const char* user = std::getenv("OMP_WAIT_POLICY");
  if (std::getenv("GOMP_SPINCOUNT") || (user && *user)) GTEST_SKIP() << "the user set the wait policy";
  EXPECT_NE(env.find("OMP_WAIT_POLICY = 'PASSIVE'"), std::string::npos) << env;
}

}  // namespace
