// Helpers shared by the benchmark programs that time each measurement in its own child process
// (bench/train_bench.cpp, bench/mixer_bench.cpp): spawning a child with thread variables set
// before any library loads, CPU seconds from getrusage, the one-line result protocols of the
// children ("OK <numbers...>" from this program re-executed, one JSON object from a PyTorch
// peer), and the process's resident-memory counters from /proc/self/status.
// Not for: timing inside one process (bench/ops_bench.cpp), tests (nothing here asserts).
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace lmlab::bench {

// User + system CPU seconds of this process so far.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}
inline double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

// The 1-minute load average, as text ("?" when unreadable).
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a;
  in >> a;
  return a.empty() ? "?" : a;
}

// The absolute path of this executable (for re-executing it as a child).
inline std::string self_exe(const char* argv0) {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string(argv0);
}

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 when absent.
inline double proc_status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return 1024.0 * std::atof(line.c_str() + key.size() + 1);
  return -1;
}

// Resets VmHWM to the current VmRSS (Linux >= 4.0: "5" to /proc/self/clear_refs); false if refused.
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// Runs argv with `env_set` added to this environment; returns the child's stdout (stderr passes
// through) and its wait status in `status`. A child still running after `timeout_s` seconds is
// killed by SIGALRM (alarm survives exec).
inline std::string run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env_set, int& status,
                             int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) throw lmlab::error("bench: pipe failed");
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    for (const auto& [k, v] : env_set) setenv(k.c_str(), v.c_str(), 1);
    alarm(static_cast<unsigned>(timeout_s));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "bench: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  waitpid(pid, &status, 0);
  return out;
}

inline std::string exit_text(int status, int timeout_s) {
  if (WIFSIGNALED(status))
    return WTERMSIG(status) == SIGALRM ? "timed out after " + std::to_string(timeout_s) + " s (--timeout)"
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

// A child's measurement: value (tokens/s, GFLOP/s, ...) and CPU utilisation (CPU seconds per
// wall second), plus any further numbers of its OK line in `extra`.
struct child_result {
  bool ok = false;
  double value = 0, util = 0;
  std::vector<double> extra;
  std::string error;
};

// The last "OK v util [more...]" line of a re-executed child.
inline child_result parse_ok_line(const std::string& out, int status, const std::string& what, int timeout_s) {
  child_result r;
  for (const auto& line : split(out, '\n'))
    if (line.rfind("OK ", 0) == 0) {
      std::istringstream ss(line.substr(3));
      ss >> r.value >> r.util;
      r.extra.clear();
      for (double x; ss >> x;) r.extra.push_back(x);
      r.ok = true;
    }
  if (!r.ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    r.ok = false;
    r.error = what + " failed (" + exit_text(status, timeout_s) + ")";
  }
  return r;
}

// The JSON line of a PyTorch peer: {"tokens_per_s", "cpu_util", ...} or {"error", "hint"}.
// `json` receives the whole object of a successful line.
inline child_result parse_peer_json(const std::string& out, int status, const std::string& what, int timeout_s,
                                    nlohmann::json* json = nullptr) {
  child_result r;
  for (const auto& line : split(out, '\n')) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("error")) {
      r.error = j["error"].get<std::string>() + "; hint: " + j.value("hint", std::string());
      return r;
    }
    r.value = j.value("tokens_per_s", 0.0);
    r.util = j.value("cpu_util", 0.0);
    r.ok = r.value > 0;
    if (json) *json = j;
  }
  if (!r.ok && r.error.empty()) r.error = what + " failed (" + exit_text(status, timeout_s) + ")";
  return r;
}

}  // namespace lmlab::bench
