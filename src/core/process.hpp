// Running another program without a shell: the arguments go to posix_spawn as a vector, so a
// path or name with quotes, spaces or `;` is passed through as one argument and never run as
// a command. lmlab has no std::system or popen; new code that starts a program uses this.
// Not for: the sweep runner's children (lab/sweep.cpp pipes their output into the run log).
#pragma once

#include <string>
#include <vector>

namespace lmlab {

// Runs argv[0] (a path; no PATH search) with argv and waits. stdout and stderr are inherited,
// or both written to `output_path` (created or truncated) when one is given. Returns the exit
// code, or 128 + the signal number when it was killed. A program that cannot be started is an
// lmlab::error naming it.
int run_process(const std::vector<std::string>& argv, const std::string& output_path = {});

}  // namespace lmlab
