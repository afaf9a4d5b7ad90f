// train_bench: GPT training throughput of lmlab against PyTorch in one run (issue 2,
// "Benchmark"). For each config (A, B, C) and thread count it measures, interleaved so that
// a change in the machine's load hits all of them alike:
//   torch       Debian python3-torch with its default BLAS (OpenBLAS)
//   torch+blis  the same with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blis-openmp
//   lmlab       this build (its BLAS is fixed at build time: -DLMLAB_BLAS)
//   SGEMM peak  the best GFLOP/s of this build's SGEMM on the config's GEMM shapes
// Every measurement runs in its own child process with OMP/OPENBLAS/BLIS_NUM_THREADS set before
// any library loads (lmlab re-executes this program; libgomp reads its environment at load,
// so setting it later in-process is too late). Each reports training tokens/s over --steps
// steps after --warmup steps and the process CPU utilisation over those steps (getrusage
// user+sys CPU seconds / wall seconds; 2.0 = both cores busy), so a contended run is visible.
// MFU uses PaLM's 6N + 12*L*d*T FLOPs per token against the nominal peak (FLOP/cycle/core x
// clock x threads, FLOP/cycle from the ISA found in /proc/cpuinfo) and the measured SGEMM peak.
// The PyTorch peer is scripts/bench/torch_gpt.py (the model of scripts/ref/lmlab_ref.py).
// Configs L and L2 are the lab's tiny shapes (issue 21); lmlab's rows end with where its step
// time goes (bench/step_profile.hpp); --isa avx2 caps oneDNN, OpenBLAS and PyTorch at AVX2
// (build with -DLMLAB_ARCH=x86-64-v3 for our own kernels; docs/engine.md "The lab's shapes").
// Nothing is installed here: without python3-torch the peers are skipped with a hint.
// Not for: a test (nothing asserts on time), or per-op timings (bench/ops_bench.cpp).
//
// Usage: train_bench [--config A,B,C,L,L2] [--threads 1,2] [--steps 8] [--warmup 2]
//                    [--peers torch,torch-blis] [--omp-wait passive|active] [--env NAME=VALUE]... [--isa native|avx2]
//                    [--python PATH]
//                    [--sgemm-time 0.2] [--timeout 600] [--ghz G] [--flop-per-cycle F]
//                    [-o text|md|csv|json|jsonl]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
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

#include "autograd/autograd.hpp"
#include "bench_common.hpp"
#include "step_profile.hpp"
#include "core/error.hpp"
#include "core/sweep.hpp"
#include "core/cpu.hpp"
#include "core/table.hpp"
#include "models/lm.hpp"
#include "ops/gemm.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

#ifndef LMLAB_SOURCE_DIR
#define LMLAB_SOURCE_DIR "."
#endif

namespace {

using lmlab::cell;
using lmlab::bench::cpu_seconds;
using lmlab::bench::load_average;
using lmlab::bench::now;
using lmlab::bench::split;
using result = lmlab::bench::child_result;

int g_timeout_s = 600;  // --timeout: a child still running after this many seconds is killed
std::string run_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env_set, int& status) {
  return lmlab::bench::run_child(argv, env_set, status, g_timeout_s);
}
result parse_ok_line(const std::string& out, int status, const std::string& what) {
  return lmlab::bench::parse_ok_line(out, status, what, g_timeout_s);
}
result parse_torch(const std::string& out, int status) {
  return lmlab::bench::parse_peer_json(out, status, "torch_gpt.py", g_timeout_s);
}

// Issue 2's benchmark configs, and issue 21's lab shapes: L the quick experiments' typical
// model (d 64, 4 layers, T 32, batch 32, as experiments/hybrid_ratio.toml), L2 the larger end
// of them (d 128, 2 layers, T 64, batch 64).
struct bench_config {
  const char* name;
  std::int64_t vocab, d, layers, heads, T, B;
};
constexpr bench_config k_configs[] = {{"A", 96, 128, 4, 4, 128, 32}, {"B", 96, 256, 6, 8, 256, 16}, {"C", 512, 512, 8, 8, 256, 8},
                                      {"L", 64, 64, 4, 2, 32, 32},   {"L2", 96, 128, 2, 4, 64, 64}};

const bench_config& find_config(const std::string& name) {
  for (const auto& c : k_configs)
    if (name == c.name) return c;
  throw lmlab::usage_error("train_bench: unknown config '" + name + "' (A, B, C, L or L2)");
}

lmlab::models::lm_config model_config(const bench_config& c) {
  lmlab::models::lm_config m;
  m.vocab_size = c.vocab;
  m.d_model = c.d;
  m.n_layers = c.layers;
  m.n_heads = c.heads;
  m.n_ctx = c.T;
  return m;
}

// ---- children -------------------------------------------------------------------------------

// lmlab: the trainer's step (zero_grad, loss, backward, clip 1.0, AdamW) on random batches.
int child_lmlab(const bench_config& c, int threads, int steps, int warmup) {
  using namespace lmlab;
  set_num_threads(threads);
  models::lm model(model_config(c), 1);
  model.train();
  train::adamw opt(model.named_parameters(), {0.9, 0.999, 1e-8, 0.1});
  const auto params = model.parameters();
  std::vector<tensor> batches;
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < 4; ++k) {
    std::vector<std::int32_t> ids(static_cast<std::size_t>(c.B * (c.T + 1)));
    for (auto& id : ids) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      id = static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(c.vocab));
    }
    batches.push_back(tensor::from<std::int32_t>({c.B, c.T + 1}, std::span<const std::int32_t>(ids)));
  }
  double loss = 0;
  auto step = [&](int i) {
    opt.zero_grad();
    tensor l = model.loss(batches[static_cast<std::size_t>(i) % batches.size()]);
    backward(l);
    train::clip_grad_norm(params, 1.0);
    opt.step(1e-3);
    loss = l.item();
  };
  for (int i = 0; i < warmup; ++i) step(i);
  prof::enable(true);
  const double m0 = prof::thread_cpu_seconds();
  const double c0 = cpu_seconds(), t0 = now();
  for (int i = 0; i < steps; ++i) step(warmup + i);
  const double t1 = now(), c1 = cpu_seconds();
  const double m1 = prof::thread_cpu_seconds();
  prof::enable(false);
  std::printf("OK %.6g %.4f %.4f %.6f%s\n", static_cast<double>(steps * c.B * c.T) / (t1 - t0), (c1 - c0) / (t1 - t0),
              t1 - t0, loss, bench::step_fractions(prof::snapshot(), m1 - m0).c_str());
  return 0;
}

// SGEMM peak: the best rate of lmlab::gemm over the config's linear-layer GEMMs (forward
// x W^T, backward dY W and dY^T X of qkv, proj, mlp_up, mlp_down); CPU use over all of them.
int child_sgemm(const bench_config& c, int threads, double min_time) {
  lmlab::set_num_threads(threads);
  const double c0 = cpu_seconds(), t0 = now();
  const double best = lmlab::bench::best_sgemm_gflops(c.B * c.T, c.d, min_time);
  const double best_util = (cpu_seconds() - c0) / (now() - t0);
  std::printf("OK %.6g %.4f\n", best, best_util);
  return 0;
}

// ---- parent ---------------------------------------------------------------------------------

std::string pct(double v) { return std::isfinite(v) ? lmlab::format_number(100.0 * v, 3) + "%" : "-"; }

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && std::strcmp(argv[1], "--child-lmlab") == 0 && argc == 6)
      return child_lmlab(find_config(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
    if (argc >= 2 && std::strcmp(argv[1], "--child-sgemm") == 0 && argc == 5)
      return child_sgemm(find_config(argv[2]), std::atoi(argv[3]), std::atof(argv[4]));

    std::vector<std::string> configs = {"A", "B", "C"}, peers = {"torch", "torch-blis"};
    std::vector<std::int64_t> threads = {1, 2};
    int steps = 8, warmup = 2;
    double sgemm_time = 0.2, ghz = 0, fpc = 0;
    std::string python = "/usr/bin/python3", omp_wait, script = std::string(LMLAB_SOURCE_DIR) + "/scripts/bench/torch_gpt.py";
    std::string blis_dir = "/usr/lib/x86_64-linux-gnu/blis-openmp";
    lmlab::table_format fmt = lmlab::table_format::md;
    std::map<std::string, std::string> extra_env;  // --env NAME=VALUE, for every child
    std::string isa = "native";                    // --isa avx2: cap every engine at AVX2
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw lmlab::usage_error("train_bench: " + a + " needs a value");
        return argv[++i];
      };
      if (a == "--config") configs = split(value(), ',');
      else if (a == "--threads") threads = lmlab::parse_sweep_int(value(), "--threads");
      else if (a == "--steps") steps = std::stoi(value());
      else if (a == "--warmup") warmup = std::stoi(value());
      else if (a == "--peers") peers = split(value() + ",", ',');
      else if (a == "--omp-wait") omp_wait = value();
      else if (a == "--env") {
        const std::string kv = value();
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw lmlab::usage_error("train_bench: --env expects NAME=VALUE, got '" + kv + "'");
        extra_env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      else if (a == "--isa") isa = value();
      else if (a == "--python") python = value();
      else if (a == "--script") script = value();
      else if (a == "--sgemm-time") sgemm_time = std::stod(value());
      else if (a == "--timeout") g_timeout_s = std::stoi(value());
      else if (a == "--ghz") ghz = std::stod(value());
      else if (a == "--flop-per-cycle") fpc = std::stod(value());
      else if (a == "-o") fmt = lmlab::parse_table_format(value());
      else throw lmlab::usage_error("train_bench: unknown argument '" + a + "' (see the usage in bench/train_bench.cpp)");
    }
    if (steps < 1 || warmup < 0) throw lmlab::usage_error("train_bench: --steps must be >= 1 and --warmup >= 0");
    for (const auto& p : peers)
      if (p != "torch" && p != "torch-blis") throw lmlab::usage_error("train_bench: --peers takes torch and/or torch-blis, not '" + p + "'");
    for (const auto& c : configs) find_config(c);
    const auto isa_vars = lmlab::bench::isa_env(isa);

    lmlab::cpu_info ci = lmlab::detect_cpu();
    lmlab::bench::apply_isa(isa, ci, "train_bench");
    if (fpc > 0) {
      ci.flop_per_cycle = fpc;
      ci.why = "set by --flop-per-cycle";
    }
    std::string ghz_src = "--ghz";
    if (ghz <= 0) {
      ghz = lmlab::measure_ghz();
      ghz_src = "measured by a dependent-add chain; /proc/cpuinfo says " + lmlab::format_number(ci.mhz / 1000.0, 4) + " GHz";
    }
    if (!peers.empty() && access(python.c_str(), X_OK) != 0) {
      std::cerr << "train_bench: " << python << " not found; PyTorch peers skipped (install: bash scripts/deps.sh --torch)\n";
      peers.clear();
    }
    std::cerr << "train_bench: CPU " << ci.model << " (family " << ci.family << "), " << (ci.avx512f ? "AVX-512" : ci.avx2 ? "AVX2" : "no AVX2")
              << "; nominal peak = " << ci.flop_per_cycle << " FLOP/cycle/core (" << ci.why << ") x " << ghz
              << " GHz (" << ghz_src << ") x threads; lmlab BLAS: " << lmlab::blas_name()
              << "; OpenMP wait policy: lmlab " << (omp_wait.empty() ? "passive (its default, src/ops/gemm.cpp)" : omp_wait) << ", PyTorch "
              << (omp_wait.empty() ? "libgomp's default" : omp_wait) << "; lmlab kernels compiled for " << lmlab::bench::kernel_isa()
              << "; --isa " << isa << "\n";

    const std::string exe_path = lmlab::bench::self_exe(argv[0]);

    std::vector<std::string> cols = {"config", "threads", "engine", "tokens/s", "CPU util", "load", "MFU nominal", "MFU of SGEMM peak",
                                     "SGEMM peak GFLOP/s", "lmlab / this"};
    for (const auto& b : lmlab::bench::breakdown_columns()) cols.push_back(b);
    lmlab::table tab(cols);
    struct best_t {
      double v = 0;
      int t = 0;
    };
    std::map<std::string, std::map<std::string, best_t>> best;  // config -> engine -> best tokens/s
    bool torch_missing = false;
    for (const auto& cname : configs) {
      const bench_config& c = find_config(cname);
      const double flop_tok = lmlab::train::train_flops_per_token(model_config(c), c.T);
      for (auto t64 : threads) {
        const int t = static_cast<int>(t64);
        const std::string ts = std::to_string(t);
        std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", ts}, {"OPENBLAS_NUM_THREADS", ts}, {"BLIS_NUM_THREADS", ts}};
        if (!omp_wait.empty()) env["OMP_WAIT_POLICY"] = omp_wait;
        for (const auto& [k, v] : isa_vars) env[k] = v;
        for (const auto& [k, v] : extra_env) env[k] = v;
        struct row_t {
          std::string engine;
          result r;
          std::string load;
        };
        std::vector<row_t> rows;
        int st = 0;
        for (const auto& p : peers) {
          if (torch_missing) break;
          auto penv = env;
          if (p == "torch-blis") penv["LD_LIBRARY_PATH"] = blis_dir;
          std::cerr << "train_bench: " << cname << " threads " << t << " " << p << " ...\n";
          const std::string out = run_child({python, script, "--vocab", std::to_string(c.vocab), "--d-model", std::to_string(c.d), "--layers",
                                             std::to_string(c.layers), "--heads", std::to_string(c.heads), "--seq", std::to_string(c.T),
                                             "--batch", std::to_string(c.B), "--threads", ts, "--steps", std::to_string(steps), "--warmup",
                                             std::to_string(warmup)},
                                            penv, st);
          result r = parse_torch(out, st);
          if (!r.ok && r.error.find("not installed") != std::string::npos) {
            std::cerr << "train_bench: python3-torch is missing: PyTorch peers skipped (install it with `bash scripts/deps.sh --torch`)\n";
            torch_missing = true;
            break;
          }
          rows.push_back({p, r, load_average()});
        }
        std::cerr << "train_bench: " << cname << " threads " << t << " lmlab ...\n";
        std::string out = run_child({exe_path, "--child-lmlab", cname, ts, std::to_string(steps), std::to_string(warmup)}, env, st);
        rows.push_back({"lmlab", parse_ok_line(out, st, "lmlab child"), load_average()});
        out = run_child({exe_path, "--child-sgemm", cname, ts, std::to_string(sgemm_time)}, env, st);
        const result sg = parse_ok_line(out, st, "SGEMM child");
        const double lm = rows.back().r.ok ? rows.back().r.value : NAN;
        const double nominal = ci.flop_per_cycle * ghz * 1e9 * t;
        for (const auto& row : rows) {
          if (!row.r.ok) {
            std::cerr << "train_bench: " << cname << " " << row.engine << ": " << row.r.error << "\n";
            std::vector<cell> failed = {cname, t, row.engine, "failed", "-", row.load, "-", "-", "-", "-"};
            failed.resize(cols.size(), cell("-"));
            tab.add_row(failed);
            continue;
          }
          const double fl = row.r.value * flop_tok;
          auto& b = best[cname][row.engine];
          if (row.r.value > b.v) b = {row.r.value, t};
          std::vector<cell> cells = {cname, t, row.engine, cell(row.r.value, lmlab::format_number(row.r.value, 4)),
                       cell(row.r.util, lmlab::format_number(100.0 * row.r.util, 3) + "%"), row.load, cell(fl / nominal, pct(fl / nominal)),
                       sg.ok ? cell(fl / (sg.value * 1e9), pct(fl / (sg.value * 1e9))) : cell("-"),
                       sg.ok ? cell(sg.value, lmlab::format_number(sg.value, 4) + " (" + lmlab::format_number(100.0 * sg.util, 3) + "%)") : cell("-"),
                       std::isfinite(lm) ? cell(lm / row.r.value, lmlab::format_number(lm / row.r.value, 3) + "x") : cell("-")};
          // Where lmlab's step time goes (its OK line: tokens/s util seconds loss fractions...).
          for (auto& b : lmlab::bench::breakdown_cells(row.r, 2)) cells.push_back(row.engine == "lmlab" ? b : cell("-"));
          tab.add_row(cells);
        }
      }
    }
    tab.print(std::cout, fmt);

    // Targets of issue 2 on the best thread count of each engine (same run).
    lmlab::table tg({"config", "lmlab best tok/s (threads)", "vs torch best", "target", "vs torch+blis best", "target"});
    for (const auto& cname : configs) {
      auto& b = best[cname];
      auto ratio = [&](const std::string& peer) -> cell {
        if (!b.count(peer) || b[peer].v <= 0 || b["lmlab"].v <= 0) return cell("-");
        const double r = b["lmlab"].v / b[peer].v;
        return cell(r, lmlab::format_number(r, 3) + "x (" + std::to_string(b[peer].t) + "t)");
      };
      const bool ab = cname == "A" || cname == "B";
      tg.add_row({cname, lmlab::format_number(b["lmlab"].v, 4) + " (" + std::to_string(b["lmlab"].t) + "t)", ratio("torch"), ab ? ">= 2x" : "-",
                  ratio("torch-blis"), ab ? ">= 1.3x" : ">= 1x"});
    }
    std::cout << "\n";
    tg.print(std::cout, fmt);
    return 0;
  } catch (const lmlab::usage_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
