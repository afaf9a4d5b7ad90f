// Running another program without a shell: see process.hpp.
#include "core/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

extern char** environ;

namespace lmlab {

int run_process(const std::vector<std::string>& argv, const std::string& output_path) {
  LMLAB_CHECK(!argv.empty(), "run_process: no program given");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t io;
  ::posix_spawn_file_actions_init(&io);
  if (!output_path.empty()) {
    ::posix_spawn_file_actions_addopen(&io, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_adddup2(&io, 1, 2);
  }
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0], &io, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&io);
  LMLAB_CHECK(rc == 0, "{}: cannot start: {}", argv[0], std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    LMLAB_CHECK(errno == EINTR, "{}: waitpid failed: {}", argv[0], std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace lmlab
