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
#include <set>
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
  std::size_t spec = 0;        // which of the queue's specs it belongs to
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
  std::size_t spec = 0;  // which of the queue's specs it belongs to
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

namespace {

// The number at `key` of a JSON object, else `otherwise` (strings and absent keys alike).
double number_at(const nlohmann::json& j, const char* key, double otherwise = 0.0) {
  if (!j.is_object()) return otherwise;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : otherwise;
}

const nlohmann::json& section(const nlohmann::json& config, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = config.find(key);
  return it != config.end() && it->is_object() ? *it : empty;
}

}  // namespace

double spec_cost(const nlohmann::json& config) {
  const auto& m = section(config, "model");
  const auto& t = section(config, "task");
  const auto& tr = section(config, "train");
  double d = number_at(m, "d_model");
  if (d <= 0) d = number_at(t, "vit_d");
  const double layers = number_at(m, "n_layers", 2.0);
  const double params = 12.0 * layers * d * d;  // a block's weights (Kaplan et al. 2020, Table 1)
  const double batch = number_at(tr, "batch_size", 32.0);
  const double seq = number_at(t, "seq_len", 32.0);
  double flops = 0;
  if (tr.contains("flops")) flops = number_at(tr, "flops");
  else if (tr.contains("tokens")) flops = 6.0 * params * number_at(tr, "tokens");
  else flops = 6.0 * params * batch * seq * number_at(tr, "steps");
  // The training loops some tasks run besides (a teacher, a verifier, a policy, an SAE, ...).
  double extra = 0;
  for (const char* k : {"teacher_steps", "verifier_steps", "policy_steps", "sae_steps", "clip_steps", "finetune_steps",
                        "align_steps", "steps"})
    extra += number_at(t, k);
  if (params > 0) flops += 6.0 * params * batch * seq * extra;
  else {
    const double width = std::max({1.0, number_at(t, "n"), number_at(t, "d_sae")});
    const double height = std::max({1.0, number_at(t, "m"), number_at(t, "d")});
    flops += 6.0 * extra * number_at(t, "batch", 32.0) * width * height;
  }
  return std::max(flops, 1e6);
}

std::string cost_key(const nlohmann::json& stored) {
  nlohmann::json c = stored;
  for (const char* k : {"question", "derived_seed", "run_id", "seed", "experiment"}) c.erase(k);
  return c.dump();
}

std::vector<std::size_t> longest_first(const std::vector<double>& costs) {
  std::vector<std::size_t> order(costs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
  return order;
}

std::vector<double> expected_costs(const std::vector<nlohmann::json>& configs, const std::map<std::string, double>& known) {
  std::vector<double> est(configs.size()), cpu(configs.size(), -1.0);
  std::vector<double> rates;  // CPU-s per estimated FLOP where both are known
  for (std::size_t i = 0; i < configs.size(); ++i) {
    est[i] = spec_cost(configs[i]);
    auto it = known.find(cost_key(configs[i]));
    if (it == known.end()) continue;
    cpu[i] = it->second;
    rates.push_back(cpu[i] / est[i]);
  }
  double rate = 1.0;
  if (!rates.empty()) {
    std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2), rates.end());
    rate = rates[rates.size() / 2];
  }
  for (std::size_t i = 0; i < configs.size(); ++i) est[i] = cpu[i] >= 0 ? cpu[i] : est[i] * rate;
  return est;
}

std::map<std::string, double> finished_cpu_seconds(store::results_store& db) {
  std::map<std::string, std::pair<double, int>> sum;
  for (const auto& r : db.list_runs("lab")) {
    if (r.status != store::run_status::finished) continue;
    const auto m = db.metrics(r.id, "cpu_seconds");
    if (m.empty()) continue;
    auto& s = sum[cost_key(r.config)];
    s.first += m.back().value;
    ++s.second;
  }
  std::map<std::string, double> out;
  for (const auto& [key, s] : sum) out[key] = s.first / s.second;
  return out;
}

namespace {

// The children of one queue of runs (one spec's, or several specs' at once): the queue, the
// live children, the progress display, and one summary per spec.
class sweep_driver {
 public:
  sweep_driver(const std::vector<experiment_spec>& specs, const sweep_options& opt) : specs_(specs), opt_(opt) {
    LMLAB_CHECK(opt.jobs >= 1, "lab run: -j must be at least 1 (got {})", opt.jobs);
    const int cores = opt.threads > 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    std::size_t runs = 0;
    for (const auto& spec : specs) {
      std::vector<std::size_t> mine;
      if (opt.only_shard) mine = shard_runs(spec, *opt.only_shard);
      else
        for (std::size_t i = 0; i < spec.runs.size(); ++i) mine.push_back(i);
      runs += mine.size();
      mine_.push_back(std::move(mine));
    }
    jobs_ = std::min<int>(opt.jobs, std::max<int>(1, static_cast<int>(runs)));
    threads_each_ = std::max(1, cores / jobs_);
    if (!opt.only_shard) main_db_.emplace(opt.store);
    tty_ = opt.progress && ::isatty(::fileno(opt.progress));
    sums_.resize(specs.size());
    left_.resize(specs.size(), 0);
  }

  std::vector<sweep_summary> run() {
    for (std::size_t s = 0; s < specs_.size(); ++s) plan_queue(s);
    order_queue();
    for (std::size_t s = 0; s < specs_.size(); ++s)
      if (left_[s] == 0) print_end(s);
    t0_ = std::chrono::steady_clock::now();
    while (next_ < queue_.size() || !live_.empty()) {
      while (next_ < queue_.size() && static_cast<int>(live_.size()) < jobs_) start_next();
      read_children();
      reap_children();
      draw(false, "");
    }
    return sums_;
  }

 private:
  // Calls f(store) on the store that records run t.
  template <class F>
  auto with_store(const todo& t, F&& f) {
    if (t.own_store.empty()) return f(*main_db_);
    store::results_store s(t.own_store, run_store_options());
    return f(s);
  }

  // Registers every run of spec s (or of its shard) and queues those not done before.
  void plan_queue(std::size_t s) {
    const experiment_spec& spec = specs_[s];
    sweep_summary& sum = sums_[s];
    const fs::path exp_dir = opt_.runs_dir / spec.name;
    sum.total = static_cast<int>(mine_[s].size());
    for (const std::size_t i : mine_[s]) {
      const run_config& r = spec.runs[i];
      const std::string name = run_name(spec, r);
      todo t{name, 0, exp_dir / r.id, {}, s};
      // The same run in two specs of one queue (one name): it runs once, as one spec after
      // the other would have found it done.
      if (!queued_.insert(name).second) {
        ++sum.skipped;
        continue;
      }
      std::optional<store::run_info> info;
      if (opt_.only_shard) {
        info = finished_run_state(t.dir, name, opt_.retry_failed, opt_.progress);
        t.own_store = run_store_partial_path(t.dir);
      }
      if (!info) {
        t.id = with_store(t, [&](store::results_store& db) {
          return db.ensure_run("lab", name, stored_config(spec, r), static_cast<std::int64_t>(r.seed));
        });
        info = with_store(t, [&](store::results_store& db) { return db.get_run(t.id); });
      }
      if (info->status == store::run_status::finished || (info->status == store::run_status::failed && !opt_.retry_failed)) {
        ++sum.skipped;
        if (info->status == store::run_status::failed) sum.failures.push_back(name + ": " + info->failure_reason + " (earlier)");
        continue;
      }
      configs_.push_back(stored_config(spec, r));
      queue_.push_back(std::move(t));
      ++left_[s];
    }
    if (opt_.progress)
      std::fprintf(opt_.progress, "lab: %s%s: %d runs, %d already done, %d to run, %d at a time x %d threads\n",
                   spec.name.c_str(),
                   opt_.only_shard ? fmt::format(" shard {}/{}", opt_.only_shard->index, opt_.only_shard->count).c_str() : "",
                   sum.total, sum.skipped, left_[s], jobs_, threads_each_);
  }

  // Longest expected run first (LPT): the last runs to start are the short ones, so the
  // workers finish close together. Costs: the store's cpu_seconds of a finished run with the
  // same config but another seed, else the spec's FLOPs (spec_cost) in those units.
  void order_queue() {
    const auto known = main_db_ ? finished_cpu_seconds(*main_db_) : std::map<std::string, double>{};
    const auto order = longest_first(expected_costs(configs_, known));
    std::vector<todo> sorted;
    for (const std::size_t i : order) sorted.push_back(std::move(queue_[i]));
    queue_ = std::move(sorted);
    if (opt_.progress && specs_.size() > 1)
      std::fprintf(opt_.progress, "lab: %zu runs of %zu specs in one queue, longest expected first\n", queue_.size(),
                   specs_.size());
  }

  void print_end(std::size_t s) {
    if (opt_.progress)
      draw(true, fmt::format("lab: {}: {} finished, {} failed, {} skipped (already done)", specs_[s].name, sums_[s].finished,
                             sums_[s].failed, sums_[s].skipped));
  }

  void draw(bool force_plain_line, const std::string& plain) {
    if (!opt_.progress) return;
    if (!tty_) {
      if (force_plain_line) std::fprintf(opt_.progress, "%s\n", plain.c_str());
      return;
    }
    // Redraw: one line per live run, then the overall bar.
    for (int i = 0; i < lines_drawn_; ++i) std::fprintf(opt_.progress, "\x1b[1A\x1b[2K");
    if (force_plain_line) std::fprintf(opt_.progress, "\r\x1b[2K%s\n", plain.c_str());
    lines_drawn_ = 0;
    for (auto& [pid, c] : live_) {
      std::fprintf(opt_.progress, "\r\x1b[2K  %s  %.100s\n", short_id(c.name).c_str(), c.last_line.c_str());
      ++lines_drawn_;
    }
    int done = 0, failed = 0;
    for (const auto& s : sums_) {
      done += s.finished + s.failed;
      failed += s.failed;
    }
    const int todo_n = static_cast<int>(queue_.size());
    const int width = 30;
    const int fill = todo_n ? width * done / todo_n : width;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double eta = done ? el / done * (todo_n - done) : NAN;
    std::fprintf(opt_.progress, "\r\x1b[2K[%s%s] %d/%d runs  %d failed  elapsed %s  ETA %s\n", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, todo_n, failed, fmt_duration(el).c_str(),
                 fmt_duration(eta).c_str());
    ++lines_drawn_;
    std::fflush(opt_.progress);
  }

  void start_next() {
    const todo& t = queue_[next_++];
    fs::create_directories(t.dir);
    child c;
    c.name = t.name;
    c.store_id = t.id;
    c.spec = t.spec;
    c.log.open(t.dir / "log.txt", std::ios::app);
    c.started = std::chrono::steady_clock::now();
    auto argv = opt_.child_argv ? opt_.child_argv(t.name, t.dir, threads_each_)
                                : default_argv(t.own_store.empty() ? opt_.store : t.own_store, t.name, t.dir, threads_each_);
    with_store(t, [&](store::results_store& db) { db.mark_running(t.id); });
    c.own_store = t.own_store;
    c.pid = spawn(argv, threads_each_, c.fd);
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
    draw(!tty_, fmt::format("lab: start  {}", t.name));
    live_.emplace(c.pid, std::move(c));
  }

  // Reads what the children wrote; a closed pipe marks the child for reaping.
  void read_children() {
    std::vector<pollfd> fds;
    std::vector<pid_t> pids;
    for (auto& [pid, c] : live_)
      if (c.fd >= 0) {
        fds.push_back({c.fd, POLLIN, 0});
        pids.push_back(pid);
      }
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 500);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      child& c = live_.at(pids[i]);
      if (!drain(c)) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
  }

  // Reaps children whose pipes have closed and records how each ended.
  void reap_children() {
    for (auto it = live_.begin(); it != live_.end();) {
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
      const std::string line = record_end(c, status);
      // The run's own store is whole and closed: only now does it take its final name.
      if (!c.own_store.empty()) fs::rename(c.own_store, run_store_path(c.own_store.parent_path()));
      const std::size_t s = c.spec;
      it = live_.erase(it);
      draw(true, line);
      if (--left_[s] == 0) print_end(s);
    }
  }

  std::string record_end(const child& c, int status) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    sweep_summary& sum = sums_[c.spec];
    if (ok) {
      // The child marks itself finished after writing its results; trust but verify.
      with_store(todo{c.name, c.store_id, {}, c.own_store}, [&](store::results_store& db) {
        if (db.get_run(c.store_id).status != store::run_status::finished) db.mark_finished(c.store_id);
      });
      ++sum.finished;
      return fmt::format("lab: done   {} ({})", c.name, fmt_duration(secs));
    }
    const std::string why = failure_reason(status, c.tail);
    with_store(todo{c.name, c.store_id, {}, c.own_store}, [&](store::results_store& db) { db.mark_failed(c.store_id, why); });
    ++sum.failed;
    sum.failures.push_back(c.name + ": " + why);
    return fmt::format("lab: FAILED {} ({}): {}", c.name, fmt_duration(secs), why);
  }

  const std::vector<experiment_spec>& specs_;
  const sweep_options& opt_;
  std::vector<std::vector<std::size_t>> mine_;  // per spec: the runs of its shard (or all)
  int jobs_ = 1, threads_each_ = 1;
  std::optional<store::results_store> main_db_;
  bool tty_ = false;
  std::vector<sweep_summary> sums_;
  std::vector<int> left_;                       // per spec: queued runs not ended yet
  std::set<std::string> queued_;
  std::vector<todo> queue_;
  std::vector<nlohmann::json> configs_;         // stored config of each queued run, before ordering
  std::map<pid_t, child> live_;
  std::size_t next_ = 0;
  std::chrono::steady_clock::time_point t0_;
  int lines_drawn_ = 0;
};

}  // namespace

std::vector<sweep_summary> run_sweeps(const std::vector<experiment_spec>& specs, const sweep_options& opt) {
  return sweep_driver(specs, opt).run();
}

sweep_summary run_sweep(const experiment_spec& spec, const sweep_options& opt) {
  return run_sweeps({spec}, opt).front();
}

}  // namespace lmlab::lab
