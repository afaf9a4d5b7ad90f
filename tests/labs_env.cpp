// Registers the tasks and runners of every lab layer this build has (lab/runner.hpp), before any
// test runs, so that the repository-wide tests that load all of experiments/*.toml (tests/lab,
// tests/report) know each lab's tasks. Linked into those test programs by lmlab_link_labs()
// (cmake/lmlab_helpers.cmake); a new lab adds its registration call here.
#include <gtest/gtest.h>

#ifdef LMLAB_HAS_DATALAB
#include "datalab/runners.hpp"
#endif

namespace {
struct labs_environment : ::testing::Environment {
  void SetUp() override {
#ifdef LMLAB_HAS_DATALAB
    lmlab::datalab::register_datalab();
#endif
  }
};
[[maybe_unused]] ::testing::Environment* const labs_env = ::testing::AddGlobalTestEnvironment(new labs_environment);
}  // namespace
