// The OpenMP wait policy default (ops/gemm.hpp reexec_with_passive_omp_wait, called first in
// lmlab's main): with neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set it sets passive and execs
// again; a user's choice is left alone; and libgomp, given OMP_WAIT_POLICY=passive in its
// environment at load, stops spinning (GOMP_SPINCOUNT 0), which is what the re-exec is for.
// (omp_display_env prints PASSIVE for an unset policy too, so the spin count is what to check.)
// Not for: timing (no test asserts on time; docs/engine.md has the measurement).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ops/gemm.hpp"

namespace fs = std::filesystem;

namespace {

// Runs reexec_with_passive_omp_wait in a forked child whose environment has `policy` (or no
// wait variable at all), exec'ing /bin/sh to print the policy it got into a file. Returns the
// file's text, or "returned" when the call came back without exec'ing.
std::string child_policy(const char* policy) {
  const fs::path out = fs::temp_directory_path() / ("lmlab_omp_" + std::to_string(::getpid()));
  fs::remove(out);
  const std::string script = "printf %s \"$OMP_WAIT_POLICY\" > '" + out.string() + "'";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::unsetenv("GOMP_SPINCOUNT");
    if (policy) ::setenv("OMP_WAIT_POLICY", policy, 1);
    else ::unsetenv("OMP_WAIT_POLICY");
    char sh[] = "sh", c[] = "-c";
    std::string body = script;
    char* const argv[] = {sh, c, body.data(), nullptr};
    if (!lmlab::reexec_with_passive_omp_wait("/bin/sh", argv)) {
      std::ofstream(out) << "returned";
      ::_exit(0);
    }
    ::_exit(3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(out);
  return ss.str();
}

TEST(omp_policy, reexec_sets_passive_unless_the_user_chose) {
  EXPECT_EQ(child_policy(nullptr), "passive");   // exec'd again with the variable set
  EXPECT_EQ(child_policy("active"), "returned");  // the user's choice: no exec
}

TEST(omp_policy, libgomp_stops_spinning_when_passive_is_in_its_environment) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  auto display = [&](const char* policy) {
    const std::string cmd = std::string("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=") + policy +
                            " OMP_DISPLAY_ENV=verbose '" + self + "' --gtest_list_tests 2>&1";
    std::string text;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::fgets(buf, sizeof buf, p)) text += buf;
      ::pclose(p);
    }
    return text;
  };
  EXPECT_NE(display("passive").find("GOMP_SPINCOUNT = '0'"), std::string::npos) << display("passive");
  EXPECT_EQ(display("active").find("GOMP_SPINCOUNT = '0'"), std::string::npos);
}

}  // namespace
