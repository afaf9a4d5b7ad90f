// gemm_bench: SGEMM throughput of the BLAS libraries available on this machine, on the GEMM
// shapes of small GPTs (forward x W^T, backward dY W and dY^T X), with 1 and 2 threads.
// Each library is loaded with dlopen in its own child process (so their symbols and thread
// pools never meet), with OMP/OPENBLAS/BLIS thread counts set before loading. Beside each
// timing it reports the process CPU utilisation from getrusage (user+sys CPU time / wall
// time / threads): a contended VM shows up as utilisation well below 100%.
// With --mix it also times each GEMM followed by an OpenMP elementwise pass over its output,
// as a training step does, which exposes thread pools that fight (OpenBLAS's pthread pool vs
// our OpenMP pool on 2 vCPUs).
// Not for: a test (no assertions on time), or the lmlab engine's own GEMM path (src/ops/gemm.cpp).
//
// Usage: gemm_bench [--lib name=path]... [--threads 1,2] [--config A,B,C] [--min-time 0.3]
//                   [--mix] [-o text|md|csv|json|jsonl]
#include <dlfcn.h>
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/sweep.hpp"
#include "core/table.hpp"

namespace {

struct lib_spec {
  std::string name, path;
};

struct shape {
  std::string config, op;
  bool ta, tb;
  std::int64_t M, N, K;
};

// GPT configs of issue 2's benchmark: (name, d_model, rows = batch * T).
struct gpt_config {
  const char* name;
  std::int64_t d, rows;
};
constexpr gpt_config k_configs[] = {{"A", 128, 32 * 128}, {"B", 256, 16 * 256}, {"C", 512, 8 * 256}};

std::vector<shape> shapes_for(const std::vector<std::string>& configs) {
  std::vector<shape> out;
  for (const auto& c : k_configs) {
    bool want = false;
    for (const auto& n : configs) want |= n == c.name;
    if (!want) continue;
    const std::int64_t d = c.d, R = c.rows;
    // Forward: y (R, out) = x (R, in) W^T (NT). Backward: dx = dy W (NN), dW = dy^T x (TN).
    out.push_back({c.name, "qkv x W^T", false, true, R, 3 * d, d});
    out.push_back({c.name, "proj x W^T", false, true, R, d, d});
    out.push_back({c.name, "mlp_up x W^T", false, true, R, 4 * d, d});
    out.push_back({c.name, "mlp_down x W^T", false, true, R, d, 4 * d});
    out.push_back({c.name, "mlp_up dY W", false, false, R, d, 4 * d});
    out.push_back({c.name, "mlp_up dY^T X", true, false, 4 * d, d, R});
  }
  return out;
}

using cblas_sgemm_t = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using dnnl_sgemm_t = int (*)(char, char, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t, const float*,
                             std::int64_t, float, float*, std::int64_t);

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Runs in the child: loads the library, times every shape, writes one line per shape to fd.
int child(const lib_spec& lib, int threads, const std::vector<shape>& shapes, double min_time, bool mix, int fd) {
  const std::string t = std::to_string(threads);
  setenv("OMP_NUM_THREADS", t.c_str(), 1);
  setenv("OPENBLAS_NUM_THREADS", t.c_str(), 1);
  setenv("BLIS_NUM_THREADS", t.c_str(), 1);
  omp_set_num_threads(threads);
  void* h = dlopen(lib.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    dprintf(fd, "ERR %s\n", dlerror());
    return 1;
  }
  auto sgemm = reinterpret_cast<cblas_sgemm_t>(dlsym(h, "cblas_sgemm"));
  auto dnnl = reinterpret_cast<dnnl_sgemm_t>(dlsym(h, "dnnl_sgemm"));
  if (!sgemm && !dnnl) {
    dprintf(fd, "ERR neither cblas_sgemm nor dnnl_sgemm in %s\n", lib.path.c_str());
    return 1;
  }
  if (auto f = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) f(threads);
  if (auto f = reinterpret_cast<void (*)(std::int64_t)>(dlsym(h, "bli_thread_set_num_threads"))) f(threads);
  for (const auto& s : shapes) {
    const std::int64_t rows_a = s.ta ? s.K : s.M, cols_a = s.ta ? s.M : s.K;
    const std::int64_t rows_b = s.tb ? s.N : s.K, cols_b = s.tb ? s.K : s.N;
    std::vector<float> A(static_cast<std::size_t>(rows_a * cols_a)), B(static_cast<std::size_t>(rows_b * cols_b)),
        C(static_cast<std::size_t>(s.M * s.N));
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
    auto run = [&] {
      if (dnnl) {
        dnnl(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.M, s.N, s.K, 1.0f, A.data(), cols_a, B.data(), cols_b, 0.0f, C.data(), s.N);
      } else {
        sgemm(101, s.ta ? 112 : 111, s.tb ? 112 : 111, static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K), 1.0f,
              A.data(), static_cast<int>(cols_a), B.data(), static_cast<int>(cols_b), 0.0f, C.data(), static_cast<int>(s.N));
      }
    };
    // The elementwise pass a training step runs between GEMMs (a bias + tanh-like update).
    auto ew = [&] {
      float* c = C.data();
      const std::int64_t n = s.M * s.N;
#pragma omp parallel for simd
      for (std::int64_t i = 0; i < n; ++i) c[i] = c[i] * 0.5f + 0.25f * c[i] * c[i] * 1e-3f;
    };
    const double flop = 2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K);
    auto measure = [&](bool with_ew, double& gflops, double& util) {
      run();
      if (with_ew) ew();
      int reps = 0;
      const double c0 = cpu_seconds(), t0 = now();
      double t1 = t0;
      while (t1 - t0 < min_time) {
        run();
        if (with_ew) ew();
        ++reps;
        t1 = now();
      }
      const double c1 = cpu_seconds();
      gflops = flop * reps / (t1 - t0) * 1e-9;
      util = (c1 - c0) / (t1 - t0) / threads;
    };
    double g = 0, u = 0, gm = NAN, um = NAN;
    measure(false, g, u);
    if (mix) measure(true, gm, um);
    dprintf(fd, "OK %s|%s|%d|%d|%lld|%lld|%lld|%.3f|%.3f|%.3f|%.3f\n", s.config.c_str(), s.op.c_str(), s.ta, s.tb,
            static_cast<long long>(s.M), static_cast<long long>(s.N), static_cast<long long>(s.K), g, u, gm, um);
  }
  return 0;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) out.push_back(item);
  return out;
}

std::vector<lib_spec> default_libs() {
  const std::string d = "/usr/lib/x86_64-linux-gnu/";
  std::vector<lib_spec> all = {{"openblas-pthread", d + "openblas-pthread/libopenblas.so.0"},
                               {"openblas-openmp", d + "openblas-openmp/libopenblas.so.0"},
                               {"blis-openmp", d + "blis-openmp/libblis.so.4"},
                               {"blis-pthread", d + "blis-pthread/libblis.so.4"},
                               {"onednn", d + "libdnnl.so.2"}};
  std::vector<lib_spec> present;
  for (auto& l : all)
    if (access(l.path.c_str(), R_OK) == 0) present.push_back(l);
    else std::cerr << "gemm_bench: skipping " << l.name << " (" << l.path << " not installed)\n";
  return present;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<lib_spec> libs;
    std::vector<std::int64_t> threads = {1, 2};
    std::vector<std::string> configs = {"A", "B", "C"};
    double min_time = 0.3;
    bool mix = false;
    lmlab::table_format fmt = lmlab::table_format::text;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw lmlab::usage_error("gemm_bench: " + a + " needs a value");
        return argv[++i];
      };
      if (a == "--lib") {
        const std::string v = value();
        const auto eq = v.find('=');
        if (eq == std::string::npos) throw lmlab::usage_error("gemm_bench: --lib expects name=path, got '" + v + "'");
        libs.push_back({v.substr(0, eq), v.substr(eq + 1)});
      } else if (a == "--threads") {
        threads = lmlab::parse_sweep_int(value(), "--threads");
      } else if (a == "--config") {
        configs = split(value(), ',');
      } else if (a == "--min-time") {
        min_time = std::stod(value());
      } else if (a == "--mix") {
        mix = true;
      } else if (a == "-o") {
        fmt = lmlab::parse_table_format(value());
      } else {
        throw lmlab::usage_error("gemm_bench: unknown argument '" + a + "' (see the usage in bench/gemm_bench.cpp)");
      }
    }
    if (libs.empty()) libs = default_libs();
    const auto shapes = shapes_for(configs);
    if (shapes.empty()) throw lmlab::usage_error("gemm_bench: --config must name some of A, B, C");

    std::vector<std::string> cols = {"config", "gemm", "M", "N", "K", "library", "threads", "GFLOP/s", "CPU util"};
    if (mix) cols.insert(cols.end(), {"GFLOP/s +omp ew", "CPU util +omp ew"});
    lmlab::table tab(cols);
    for (const auto& lib : libs)
      for (auto t : threads) {
        int fds[2];
        if (pipe(fds) != 0) throw lmlab::error("gemm_bench: pipe failed");
        std::cout.flush();
        const pid_t pid = fork();
        if (pid == 0) {
          close(fds[0]);
          _exit(child(lib, static_cast<int>(t), shapes, min_time, mix, fds[1]));
        }
        close(fds[1]);
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        for (const auto& line : split(out, '\n')) {
          if (line.rfind("ERR ", 0) == 0) {
            std::cerr << "gemm_bench: " << lib.name << ": " << line.substr(4) << "\n";
            continue;
          }
          if (line.rfind("OK ", 0) != 0) continue;
          auto f = split(line.substr(3), '|');
          std::vector<lmlab::cell> row = {f[0], f[1], static_cast<std::int64_t>(std::stoll(f[4])), static_cast<std::int64_t>(std::stoll(f[5])), static_cast<std::int64_t>(std::stoll(f[6])), lib.name, t,
                                          lmlab::cell(std::stod(f[7]), lmlab::format_number(std::stod(f[7]), 4)),
                                          lmlab::cell(std::stod(f[8]), std::to_string(static_cast<int>(std::lround(100 * std::stod(f[8])))) + "%")};
          if (mix)
            row.insert(row.end(), {lmlab::cell(std::stod(f[9]), lmlab::format_number(std::stod(f[9]), 4)),
                                   lmlab::cell(std::stod(f[10]), std::to_string(static_cast<int>(std::lround(100 * std::stod(f[10])))) + "%")});
          tab.add_row(row);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::cerr << "gemm_bench: " << lib.name << " child failed\n";
      }
    tab.print(std::cout, fmt);
    return 0;
  } catch (const lmlab::usage_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
