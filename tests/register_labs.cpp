// Registers the lab runners this build has (lab/runner.hpp; today the VLM lab's "vlm_pope"),
// before any test runs, for the test programs that load every spec in experiments/: a spec
// naming a runner's task parses only once that task is registered. A build without the layer
// (-DLMLAB_LAYERS_ONLY) compiles this to nothing, and its specs stay unknown tasks there.
// Not for: the labs' own tests, which call their register_...() directly.
#include <gtest/gtest.h>

#ifdef LMLAB_HAVE_VLM
#include "vlm/runner.hpp"
#endif

namespace {

class register_labs : public ::testing::Environment {
 public:
  void SetUp() override {
#ifdef LMLAB_HAVE_VLM
    lmlab::vlm::register_lab();
#endif
  }
};

[[maybe_unused]] ::testing::Environment* const env = ::testing::AddGlobalTestEnvironment(new register_labs);

}  // namespace
