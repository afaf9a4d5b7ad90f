// Test helper: the path of a file under ../shared/models (the test models of
// shared/models/README.md, read in place, never copied into the repository).
// LMLAB_SHARED_MODEL(var, "stories260K.gguf") sets `var`, or skips the test with a loud
// message when the whole ../shared/models directory is absent, or fails it when the
// directory is there but the file is missing.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>

#define LMLAB_SHARED_MODEL(var, name)                                                                       \
  const std::filesystem::path var = std::filesystem::path("../shared/models") / (name);                    \
  if (!std::filesystem::is_directory("../shared/models"))                                                  \
    GTEST_SKIP() << "SKIPPED LOUDLY: ../shared/models is absent (run from a checkout beside shared/); "    \
                 << "this test needs " << (name);                                                           \
  ASSERT_TRUE(std::filesystem::is_regular_file(var))                                                       \
      << var << " is missing: shared/models/README.md lists the files and their sha256"
