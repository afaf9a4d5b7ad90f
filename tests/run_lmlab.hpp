// Runs the `lmlab` binary for the end-to-end CLI tests (tests/cli, tests/interp, tests/vlm):
// its exit code and its stdout and stderr together. The test target defines LMLAB_BINARY.
// Not for: library tests (call the layer directly).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "core/process.hpp"

namespace lmlab::test {

struct cli_result {
  int rc;
  std::string output;  // stdout and stderr
};

inline cli_result run_lmlab(std::vector<std::string> args) {
  static int n = 0;
  const auto out = std::filesystem::temp_directory_path() /
                   ("lmlab_cli_out_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  args.insert(args.begin(), LMLAB_BINARY);
  const int rc = run_process(args, out.string());
  cli_result r{rc, read_text_file(out)};
  std::filesystem::remove(out);
  return r;
}

}  // namespace lmlab::test
