// Shared by the report tests: an lmlab::error as "message [hint: ...]", and a scratch folder
// per test process under the temp dir, removed at exit when every test passed (kept for a look
// when one failed).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "core/error.hpp"

namespace lmlab::report::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lmlab::error& e) {
    return std::string(e.what()) + (e.hint().empty() ? "" : " [hint: " + e.hint() + "]");
  }
  return "(no error)";
}

inline std::filesystem::path scratch_root() {
  return std::filesystem::temp_directory_path() / ("lmlab_report_test_" + std::to_string(::getpid()));
}

class remove_scratch_root : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!::testing::UnitTest::GetInstance()->Failed()) std::filesystem::remove_all(scratch_root());
  }
};
[[maybe_unused]] inline const auto* const kRemoveScratch = ::testing::AddGlobalTestEnvironment(new remove_scratch_root);

// <scratch>/<name>, emptied, its parent created.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path d = scratch_root() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d.parent_path());
  return d;
}

}  // namespace lmlab::report::testing
