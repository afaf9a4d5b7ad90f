// The sweep runner: see sweep.hpp. One parent process forks a child per run, reads each
// child's stderr through a pipe (teeing it into the run's log.txt and keeping the last line
// for the progress display), and records the outcome in the store.
#include "lab/sweep.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace lmlab::lab {
namespace fs = std::filesystem;

std::string run_name(const experiment_spec& spec, const run_config& run) { return spec.name + "/" + run.id; }

nlohmann::json stored_config(const experiment_spec& spec, const run_config& run) {
  nlohmann::json c = run.config;
  c["experiment"] = spec.name;
  c["question"] = spec.question;
  c["run_id"] = run.id;
  c["derived_seed"] = run.seed;
  return c;
}

namespace {
// Calls f(line) for each line of `text` (without the newline).
template <class F>
void for_each_line(const std::string& text, F&& f) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t nl = text.find('\n', pos);
    f(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
}
}  // namespace

std::string failure_reason(int status, const std::string& tail) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    std::string name = sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : std::to_string(sig);
    std::string why;
    if (sig == SIGKILL) why = " (killed: out of memory, or by hand)";
    else if (sig == SIGSEGV || sig == SIGBUS) why = " (crash)";
    else if (sig == SIGABRT) why = " (abort: internal error)";
    std::string last_err;
    for_each_line(tail, [&](const std::string& line) {
      if (line.rfind("lmlab internal error:", 0) == 0) last_err = line;
    });
    return "killed by " + name + why + (last_err.empty() ? "" : ": " + last_err);
  }
  // The last "error: ..." line the child printed is the reason; its hint follows it.
  std::string reason, hint;
  for_each_line(tail, [&](const std::string& line) {
    if (line.rfind("error: ", 0) == 0) {
      reason = line.substr(7);
      hint.clear();
    } else if (line.rfind("hint: ", 0) == 0 && !reason.empty()) {
      hint = line.substr(6);
    }
  });
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (reason.empty()) return fmt::format("exit code {}", code);
  return hint.empty() ? reason : reason + " (hint: " + hint + ")";
}

namespace {

struct child {
  pid_t pid = -1;
  int fd = -1;                 // read end of the child's stderr pipe
  std::int64_t store_id = 0;
  std::string name;
  std::ofstream log;
  std::string partial;         // bytes after the last newline
  std::string last_line;
  std::string tail;            // the last few KB, for the failure reason
  fs::path own_store;          // the run's own store (sharded sweeps), else empty
  std::chrono::steady_clock::time_point started;
};

std::string short_id(const std::string& name) {
  auto slash = name.rfind('/');
  return name.substr(slash == std::string::npos ? 0 : slash + 1, 8);
}

// Reads what is available; returns false at EOF.
bool drain(child& c) {
  char buf[4096];
  ssize_t n = ::read(c.fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  std::string chunk(buf, static_cast<std::size_t>(n));
  c.log << chunk;
  c.log.flush();
  c.tail += chunk;
  if (c.tail.size() > 8192) c.tail.erase(0, c.tail.size() - 8192);
  c.partial += chunk;
  for (std::size_t nl; (nl = c.partial.find_first_of("\r\n")) != std::string::npos;) {
    std::string line = c.partial.substr(0, nl);
    c.partial.erase(0, nl + 1);
    if (!line.empty()) c.last_line = line;
  }
  return true;
}

std::vector<std::string> default_argv(const fs::path& store, const std::string& name, const fs::path& dir, int threads) {
  // The running binary itself, not the path it was started from: a rebuild during a sweep
  // replaces that path (the old inode lives on as "... (deleted)"), and every later run failed
  // with "cannot execute". Executing /proc/self/exe runs the same binary for the whole sweep.
  const std::string self = "/proc/self/exe";
  return {self, "lab", "exec", "--store", fs::absolute(store).string(), "--run", name, "--dir", fs::absolute(dir).string(),
          "--threads", std::to_string(threads)};
}

pid_t spawn(const std::vector<std::string>& argv, int threads, int& read_fd) {
  int p[2];
  LMLAB_CHECK(::pipe2(p, O_CLOEXEC) == 0, "lab: pipe failed: {}", std::strerror(errno));
  pid_t pid = ::fork();
  LMLAB_CHECK(pid >= 0, "lab: fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    ::dup2(p[1], 2);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(p[1], 1);  // stdout joins the log too
    }
    const std::string t = std::to_string(threads);
    ::setenv("OMP_NUM_THREADS", t.c_str(), 1);
    ::setenv("OPENBLAS_NUM_THREADS", t.c_str(), 1);
    ::setenv("LMLAB_THREADS", t.c_str(), 1);
    ::setenv("LMLAB_PLAIN_PROGRESS", "1", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "error: lab: cannot execute %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(p[1]);
  read_fd = p[0];
  return pid;
}

std::string fmt_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  const int t = static_cast<int>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, t % 3600 / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

}  // namespace

namespace {

// Where a run is recorded: the main store, or (sharded) the run's own store file.
struct todo {
  std::string name;
  std::int64_t id;
  fs::path dir;
  fs::path own_store;  // empty: the main store
};

store::open_options run_store_options() {
  store::open_options o;
  o.wal = false;  // one writer at a time; no -shm beside it on a shared filesystem
  return o;
}

// The state of a sharded run from its finished store (run.db), if it has a readable one. A
// failed run to retry goes back to being a partial store; an unreadable file is moved aside.
std::optional<store::run_info> finished_run_state(const fs::path& dir, const std::string& name, bool retry_failed,
                                                  std::FILE* progress) {
  const fs::path done = run_store_path(dir);
  if (!fs::exists(done)) return std::nullopt;
  std::optional<store::run_info> info;
  try {
    store::open_options ro;
    ro.read_only = true;
    store::results_store s(done, ro);
    info = s.find_run("lab", name);
  } catch (const error& e) {
    // Kept aside for a look, out of merge's way; the run starts again.
    const fs::path aside = dir / "run.db.damaged";
    if (progress) std::fprintf(progress, "warning: %s: unreadable (moved to %s), the run starts again: %s\n", done.c_str(),
                               aside.c_str(), e.what());
    fs::rename(done, aside);
    return std::nullopt;
  }
  if (info && (info->status == store::run_status::finished || !retry_failed)) return info;
  fs::rename(done, run_store_partial_path(dir));
  return std::nullopt;
}

}  // namespace

sweep_summary run_sweep(const experiment_spec& spec, const sweep_options& opt) {
  LMLAB_CHECK(opt.jobs >= 1, "lab run: -j must be at least 1 (got {})", opt.jobs);
  const int cores = opt.threads > 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::size_t> mine;
  if (opt.only_shard) mine = shard_runs(spec, *opt.only_shard);
  else
    for (std::size_t i = 0; i < spec.runs.size(); ++i) mine.push_back(i);
  const int jobs = std::min<int>(opt.jobs, std::max<int>(1, static_cast<int>(mine.size())));
  const int threads_each = std::max(1, cores / jobs);
  std::optional<store::results_store> main_db;
  if (!opt.only_shard) main_db.emplace(opt.store);
  const fs::path exp_dir = opt.runs_dir / spec.name;
  // Calls f(store) on the store that records run t.
  auto with_store = [&](const todo& t, auto&& f) {
    if (t.own_store.empty()) return f(*main_db);
    store::results_store s(t.own_store, run_store_options());
    return f(s);
  };

  sweep_summary sum;
  sum.total = static_cast<int>(mine.size());
  std::vector<todo> queue;
  for (const std::size_t i : mine) {
    const run_config& r = spec.runs[i];
    const std::string name = run_name(spec, r);
    todo t{name, 0, exp_dir / r.id, {}};
    std::optional<store::run_info> info;
    if (opt.only_shard) {
      info = finished_run_state(t.dir, name, opt.retry_failed, opt.progress);
      t.own_store = run_store_partial_path(t.dir);
    }
    if (!info) {
      t.id = with_store(t, [&](store::results_store& db) {
        return db.ensure_run("lab", name, stored_config(spec, r), static_cast<std::int64_t>(r.seed));
      });
      info = with_store(t, [&](store::results_store& db) { return db.get_run(t.id); });
    }
    if (info->status == store::run_status::finished || (info->status == store::run_status::failed && !opt.retry_failed)) {
      ++sum.skipped;
      if (info->status == store::run_status::failed) sum.failures.push_back(name + ": " + info->failure_reason + " (earlier)");
      continue;
    }
    queue.push_back(std::move(t));
  }
  const bool tty = opt.progress && ::isatty(::fileno(opt.progress));
  if (opt.progress)
    std::fprintf(opt.progress, "lab: %s%s: %d runs, %d already done, %zu to run, %d at a time x %d threads\n",
                 spec.name.c_str(),
                 opt.only_shard ? fmt::format(" shard {}/{}", opt.only_shard->index, opt.only_shard->count).c_str() : "",
                 sum.total, sum.skipped, queue.size(), jobs, threads_each);

  std::map<pid_t, child> live;
  std::size_t next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  int lines_drawn = 0;
  auto draw = [&](bool force_plain_line, const std::string& plain) {
    if (!opt.progress) return;
    if (!tty) {
      if (force_plain_line) std::fprintf(opt.progress, "%s\n", plain.c_str());
      return;
    }
    // Redraw: one line per live run, then the overall bar.
    for (int i = 0; i < lines_drawn; ++i) std::fprintf(opt.progress, "\x1b[1A\x1b[2K");
    if (force_plain_line) std::fprintf(opt.progress, "\r\x1b[2K%s\n", plain.c_str());
    lines_drawn = 0;
    for (auto& [pid, c] : live) {
      std::fprintf(opt.progress, "\r\x1b[2K  %s  %.100s\n", short_id(c.name).c_str(), c.last_line.c_str());
      ++lines_drawn;
    }
    const int done = sum.finished + sum.failed;
    const int todo_n = static_cast<int>(queue.size());
    const int width = 30;
    const int fill = todo_n ? width * done / todo_n : width;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = done ? el / done * (todo_n - done) : NAN;
    std::fprintf(opt.progress, "\r\x1b[2K[%s%s] %d/%d runs  %d failed  elapsed %s  ETA %s\n", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, todo_n, sum.failed, fmt_duration(el).c_str(),
                 fmt_duration(eta).c_str());
    ++lines_drawn;
    std::fflush(opt.progress);
  };

  auto start_next = [&]() {
    const todo& t = queue[next++];
    fs::create_directories(t.dir);
    child c;
    c.name = t.name;
    c.store_id = t.id;
    c.log.open(t.dir / "log.txt", std::ios::app);
    c.started = std::chrono::steady_clock::now();
    auto argv = opt.child_argv ? opt.child_argv(t.name, t.dir, threads_each)
                               : default_argv(t.own_store.empty() ? opt.store : t.own_store, t.name, t.dir, threads_each);
    with_store(t, [&](store::results_store& db) { db.mark_running(t.id); });
    c.own_store = t.own_store;
    c.pid = spawn(argv, threads_each, c.fd);
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
    draw(!tty, fmt::format("lab: start  {}", t.name));
    live.emplace(c.pid, std::move(c));
  };

  while (next < queue.size() || !live.empty()) {
    while (next < queue.size() && static_cast<int>(live.size()) < jobs) start_next();
    std::vector<pollfd> fds;
    std::vector<pid_t> pids;
    for (auto& [pid, c] : live)
      if (c.fd >= 0) {
        fds.push_back({c.fd, POLLIN, 0});
        pids.push_back(pid);
      }
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 500);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      child& c = live.at(pids[i]);
      if (!drain(c)) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    // Reap children whose pipes have closed.
    for (auto it = live.begin(); it != live.end();) {
      child& c = it->second;
      if (c.fd >= 0) {
        ++it;
        continue;
      }
      int status = 0;
      pid_t r = ::waitpid(c.pid, &status, 0);
      if (r != c.pid) {
        ++it;
        continue;
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      std::string line;
      if (ok) {
        // The child marks itself finished after writing its results; trust but verify.
        with_store(todo{c.name, c.store_id, {}, c.own_store}, [&](store::results_store& db) {
          if (db.get_run(c.store_id).status != store::run_status::finished) db.mark_finished(c.store_id);
        });
        ++sum.finished;
        line = fmt::format("lab: done   {} ({})", c.name, fmt_duration(secs));
      } else {
        const std::string why = failure_reason(status, c.tail);
        with_store(todo{c.name, c.store_id, {}, c.own_store}, [&](store::results_store& db) { db.mark_failed(c.store_id, why); });
        ++sum.failed;
        sum.failures.push_back(c.name + ": " + why);
        line = fmt::format("lab: FAILED {} ({}): {}", c.name, fmt_duration(secs), why);
      }
      // The run's own store is whole and closed: only now does it take its final name.
      if (!c.own_store.empty()) fs::rename(c.own_store, run_store_path(c.own_store.parent_path()));
      it = live.erase(it);
      draw(true, line);
    }
    draw(false, "");
  }
  if (opt.progress)
    std::fprintf(opt.progress, "lab: %s: %d finished, %d failed, %d skipped (already done)\n", spec.name.c_str(), sum.finished,
                 sum.failed, sum.skipped);
  return sum;
}

}  // namespace lmlab::lab
