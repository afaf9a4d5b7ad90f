// Test helper for the suites that run the `lmlab` binary end to end (tests/cli, tests/interp):
// run_lmlab({"lab", "ls"}) runs LMLAB_BINARY (a compile definition the suite's CMakeLists.txt
// sets to $<TARGET_FILE:lmlab>) with those arguments, through core/process.hpp (no shell), and
// returns its exit code and its stdout and stderr together.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "core/process.hpp"

namespace lmlab::testing {

struct lmlab_result {
  int rc;
  std::string output;  // stdout and stderr
};

inline lmlab_result run_lmlab(std::vector<std::string> args) {
  static int n = 0;
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("lmlab_cli_out_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  args.insert(args.begin(), LMLAB_BINARY);
  const int rc = run_process(args, out.string());
  lmlab_result r{rc, read_text_file(out)};
  std::filesystem::remove(out);
  return r;
}

}  // namespace lmlab::testing
