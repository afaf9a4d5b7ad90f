// mixer_bench: training throughput of each sequence mixer of the zoo model against its PyTorch
// reference, and inference memory against context length (issue 4, "Benchmark").
//
// Training: for each context T and mixer kind (A attention with RoPE, M Mamba, R Griffin
// RG-LRU, W RWKV-4, T RetNet) a small LM from models::make_model (d_model --d-model = 128,
// --layers = 2 layers, --heads = 4 heads, vocab 256, batch --batch = 2 sequences, n_ctx = T;
// pos_encoding none for the recurrent mixers) trains --steps steps after --warmup: forward, cross-entropy, backward,
// gradient clipping at 1.0, AdamW (wd 0.1 on matrices). The PyTorch peer
// (scripts/bench/torch_mixers.py) trains the same architecture built from the plain-PyTorch
// blocks of scripts/ref/zoo_fixtures.py, interleaved with lmlab per (T, mixer) so a change in
// the machine's load hits both alike. Its Mamba, RG-LRU and RWKV blocks are per-timestep Python
// loops: that is what the PyTorch reference is (the official mamba selective_scan_ref is such
// a loop too); RWKV uses the O(T) recurrent form rather than zoo_fixtures' O(T^2) literal sum.
// Every measurement runs in its own child with OMP/OPENBLAS_NUM_THREADS set before any library
// loads (bench/bench_common.hpp) and reports tokens/s and CPU utilisation (getrusage CPU
// seconds / wall seconds; 2.0 = two cores busy); "ratio per CPU-s" compares tokens per CPU
// second, which a machine loaded by other jobs distorts less than tokens/s. MFU divides the model's own
// train_flops_per_token(T) x tokens per CPU-second x threads (the rate with every thread busy) by
// the nominal peak (core/cpu.hpp, as train_bench) and by the best SGEMM rate per CPU-second x
// threads this build reaches at the model's own linear-layer shapes (batch x T rows, width
// d_model: "GEMM peak"); the last columns say where lmlab's step CPU time goes
// (bench/step_profile.hpp). The lab's shapes (issue 21): `--seq 16,32,64 --batch 32
// --d-model 64 --layers 4 --heads 2 --threads 1`. `--isa avx2` caps oneDNN, OpenBLAS and
// PyTorch at AVX2; our own kernels follow the build (-DLMLAB_ARCH=x86-64-v3).
//
// Memory: for attention ("A"), Mamba ("M") and the hybrid "MMMA", each with 4 layers (so the
// hybrid holds one attention layer in four), and each T of --mem-seq, one child builds the
// model, resets its peak RSS (/proc/self/clear_refs) and generates T tokens in step mode with
// batch 1; the table shows lm::state_size(T) beside the measured peak RSS growth, and the
// tensor pool's live and cached bytes at the last token (what the growth consists of).
// Not for: a test (nothing asserts on time), GPT configs A/B/C (bench/train_bench.cpp).
//
// Usage: mixer_bench [--mixers A,M,R,W,T] [--seq 256,1024,4096] [--batch 2] [--steps 4] [--warmup 1]
//                    [--threads 2] [--d-model 128] [--layers 2] [--heads 4] [--isa native|avx2]
//                    [--mem-models A,M,MMMA] [--mem-seq 256,1024,4096,16384]
//                    [--no-train] [--no-mem] [--no-peer] [--omp-wait passive|active] [--python PATH] [--timeout 1800]
//                    [--ghz G] [--flop-per-cycle F] [-o text|md|csv|json|jsonl]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench_common.hpp"
#include "step_profile.hpp"
#include "core/cpu.hpp"
#include "core/error.hpp"
#include "core/sweep.hpp"
#include "core/table.hpp"
#include "core/tensor.hpp"
#include "models/lm.hpp"
#include "ops/gemm.hpp"
#include "train/optim.hpp"

#ifndef LMLAB_SOURCE_DIR
#define LMLAB_SOURCE_DIR "."
#endif

namespace {

using lmlab::cell;
using lmlab::bench::child_result;

constexpr std::int64_t k_vocab = 256, k_mem_layers = 4;
std::int64_t g_d = 128, g_heads = 4, g_train_layers = 2;  // --d-model, --heads, --layers
int g_timeout_s = 1800;

// The bench model: `pattern` repeated over `layers` blocks; RoPE when it has attention.
lmlab::models::lm_config bench_config(const std::string& pattern, std::int64_t layers, std::int64_t T) {
  lmlab::models::lm_config c;
  c.vocab_size = k_vocab;
  c.d_model = g_d;
  c.n_layers = layers;
  c.n_heads = g_heads;
  c.n_ctx = T;
  c.pattern = pattern;
  c.pos_encoding = pattern.find('A') != std::string::npos ? "rope" : "none";
  c.validate();
  return c;
}

const char* mixer_name(const std::string& k) {
  if (k == "A") return "attention (rope)";
  if (k == "M") return "mamba";
  if (k == "R") return "griffin rg-lru";
  if (k == "W") return "rwkv-4";
  if (k == "T") return "retnet";
  return "hybrid";
}

std::vector<std::int32_t> random_ids(std::size_t n, std::uint64_t& s) {
  std::vector<std::int32_t> ids(n);
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(k_vocab));
  }
  return ids;
}

// ---- children -------------------------------------------------------------------------------

// Training: prints "OK tokens/s cpu_util seconds loss gemm_peak_gflops fractions..." (the
// step-time breakdown of step_profile.hpp over the timed steps, then this build's best SGEMM
// rate at the model's linear-layer shapes).
int child_train(const std::string& pattern, std::int64_t T, std::int64_t B, int threads, int steps, int warmup) {
  using namespace lmlab;
  set_num_threads(threads);
  auto model = models::make_model(bench_config(pattern, g_train_layers, T), 1);
  model->train();
  train::adamw opt(model->named_parameters(), {0.9, 0.999, 1e-8, 0.1});
  const auto params = model->parameters();
  std::vector<tensor> batches;
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < 2; ++k) {
    const auto ids = random_ids(static_cast<std::size_t>(B * (T + 1)), s);
    batches.push_back(tensor::from<std::int32_t>({B, T + 1}, std::span<const std::int32_t>(ids)));
  }
  double loss = 0;
  auto step = [&](int i) {
    opt.zero_grad();
    tensor l = model->loss(batches[static_cast<std::size_t>(i) % batches.size()]);
    backward(l);
    train::clip_grad_norm(params, 1.0);
    opt.step(1e-3);
    loss = l.item();
  };
  for (int i = 0; i < warmup; ++i) step(i);
  prof::enable(true);
  const double m0 = prof::thread_cpu_seconds();
  const double c0 = bench::cpu_seconds(), t0 = bench::now();
  for (int i = 0; i < steps; ++i) step(warmup + i);
  const double t1 = bench::now(), c1 = bench::cpu_seconds();
  const double m1 = prof::thread_cpu_seconds();
  prof::enable(false);
  const double gemm_peak = bench::best_sgemm_gflops(B * T, g_d, 0.05, true, threads);
  std::printf("OK %.6g %.4f %.4f %.6f %.6g%s\n", static_cast<double>(steps * B * T) / (t1 - t0), (c1 - c0) / (t1 - t0), t1 - t0, loss,
              gemm_peak, bench::step_fractions(prof::snapshot(), m1 - m0).c_str());
  return 0;
}

// Step-mode generation of T tokens with batch 1: prints
// "OK tokens/s cpu_util peak_rss_growth_bytes state_size_bytes hwm_was_reset pool_live_growth
// pool_cached": the tensor pool's bytes in live blocks at the last token (less those before
// the state existed) and in its free lists then (core/tensor.hpp keeps freed blocks per size).
int child_mem(const std::string& pattern, std::int64_t T, int threads) {
  using namespace lmlab;
  set_num_threads(threads);
  auto model = models::make_model(bench_config(pattern, k_mem_layers, T), 1);
  model->eval();
  std::uint64_t s = 0x2545F4914F6CDD1Dull;
  const auto ids = random_ids(static_cast<std::size_t>(T), s);
  {  // warm-up: thread pools, lazily built tables, allocator arenas
    auto st = model->new_state(1);
    for (std::int64_t t = 0; t < std::min<std::int64_t>(T, 16); ++t) model->step(*st, tensor::from<std::int32_t>({1}, {ids[t]}));
  }
  const double rss0 = bench::proc_status_bytes("VmRSS");
  const bool reset = bench::reset_peak_rss();
  const double base = reset ? rss0 : std::max(rss0, bench::proc_status_bytes("VmHWM"));
  const double live0 = static_cast<double>(memory_pool_stats().bytes_live);
  double live1 = 0, cached1 = 0;
  const double c0 = bench::cpu_seconds(), t0 = bench::now();
  {
    auto st = model->new_state(1);
    float sink = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      tensor logits = model->step(*st, tensor::from<std::int32_t>({1}, {ids[static_cast<std::size_t>(t)]}));
      sink += logits.data<float>()[0];
    }
    const auto ps = memory_pool_stats();
    live1 = static_cast<double>(ps.bytes_live);
    cached1 = static_cast<double>(ps.bytes_cached);
    if (!std::isfinite(sink)) std::fprintf(stderr, "mixer_bench: non-finite logits in step mode\n");
  }
  const double t1 = bench::now(), c1 = bench::cpu_seconds();
  const double hwm = bench::proc_status_bytes("VmHWM");
  std::printf("OK %.6g %.4f %.0f %lld %d %.0f %.0f\n", static_cast<double>(T) / (t1 - t0), (c1 - c0) / (t1 - t0),
              std::max(0.0, hwm - base), static_cast<long long>(model->state_size(T)), reset ? 1 : 0, live1 - live0, cached1);
  return 0;
}

std::string pct(double v) { return std::isfinite(v) ? lmlab::format_number(100.0 * v, 3) + "%" : "-"; }
std::string mib(double bytes) { return lmlab::format_number(bytes / (1024.0 * 1024.0), 4); }

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 11 && std::strcmp(argv[1], "--child-train") == 0) {
      g_d = std::atoll(argv[8]), g_train_layers = std::atoll(argv[9]), g_heads = std::atoll(argv[10]);
      return child_train(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]), std::atoi(argv[7]));
    }
    if (argc == 7 && std::strcmp(argv[1], "--child-mem") == 0) {
      g_d = std::atoll(argv[5]), g_heads = std::atoll(argv[6]);
      return child_mem(argv[2], std::atoll(argv[3]), std::atoi(argv[4]));
    }

    std::vector<std::string> mixers = {"A", "M", "R", "W", "T"}, mem_models = {"A", "M", "MMMA"};
    std::vector<std::int64_t> seqs = {256, 1024, 4096}, mem_seqs = {256, 1024, 4096, 16384}, threads = {2};
    std::int64_t batch = 2;
    int steps = 4, warmup = 1;
    bool do_train = true, do_mem = true, do_peer = true;
    double ghz = 0, fpc = 0;
    std::string omp_wait;  // --omp-wait: OMP_WAIT_POLICY for every child (both engines); unset by default
    std::string isa = "native";  // --isa avx2: cap every engine at AVX2 (step_profile.hpp)
    std::string python = "/usr/bin/python3", script = std::string(LMLAB_SOURCE_DIR) + "/scripts/bench/torch_mixers.py";
    lmlab::table_format fmt = lmlab::table_format::md;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw lmlab::usage_error("mixer_bench: " + a + " needs a value");
        return argv[++i];
      };
      if (a == "--mixers") mixers = lmlab::bench::split(value(), ',');
      else if (a == "--seq") seqs = lmlab::parse_sweep_int(value(), "--seq");
      else if (a == "--batch") batch = std::stoll(value());
      else if (a == "--steps") steps = std::stoi(value());
      else if (a == "--warmup") warmup = std::stoi(value());
      else if (a == "--threads") threads = lmlab::parse_sweep_int(value(), "--threads");
      else if (a == "--mem-models") mem_models = lmlab::bench::split(value(), ',');
      else if (a == "--mem-seq") mem_seqs = lmlab::parse_sweep_int(value(), "--mem-seq");
      else if (a == "--no-train") do_train = false;
      else if (a == "--no-mem") do_mem = false;
      else if (a == "--no-peer") do_peer = false;
      else if (a == "--omp-wait") omp_wait = value();
      else if (a == "--isa") isa = value();
      else if (a == "--d-model") g_d = std::stoll(value());
      else if (a == "--layers") g_train_layers = std::stoll(value());
      else if (a == "--heads") g_heads = std::stoll(value());
      else if (a == "--python") python = value();
      else if (a == "--script") script = value();
      else if (a == "--timeout") g_timeout_s = std::stoi(value());
      else if (a == "--ghz") ghz = std::stod(value());
      else if (a == "--flop-per-cycle") fpc = std::stod(value());
      else if (a == "-o") fmt = lmlab::parse_table_format(value());
      else throw lmlab::usage_error("mixer_bench: unknown argument '" + a + "' (see the usage in bench/mixer_bench.cpp)");
    }
    if (steps < 1 || warmup < 0 || batch < 1) throw lmlab::usage_error("mixer_bench: --steps and --batch must be >= 1 and --warmup >= 0");
    for (const auto& m : mixers)
      if (m.size() != 1 || std::string("AMRWT").find(m) == std::string::npos)
        throw lmlab::usage_error("mixer_bench: --mixers takes letters from A, M, R, W, T, not '" + m + "'");
    for (const auto& m : mem_models) bench_config(m, k_mem_layers, 16);  // validates the pattern

    const auto isa_vars = lmlab::bench::isa_env(isa);
    lmlab::cpu_info ci = lmlab::detect_cpu();
    lmlab::bench::apply_isa(isa, ci, "mixer_bench");
    if (fpc > 0) {
      ci.flop_per_cycle = fpc;
      ci.why = "set by --flop-per-cycle";
    }
    if (do_train && ghz <= 0) ghz = lmlab::measure_ghz();
    if (do_train && do_peer && access(python.c_str(), X_OK) != 0) {
      std::cerr << "mixer_bench: " << python << " not found; PyTorch peer skipped (install: bash scripts/deps.sh --torch)\n";
      do_peer = false;
    }
    const std::string exe = lmlab::bench::self_exe(argv[0]);

    if (do_train) {
      std::cerr << "mixer_bench: CPU " << ci.model << "; nominal peak = " << ci.flop_per_cycle << " FLOP/cycle/core (" << ci.why << ") x "
                << ghz << " GHz x threads; lmlab BLAS: " << lmlab::blas_name() << "; lmlab kernels compiled for " << lmlab::bench::kernel_isa()
                << "; --isa " << isa << "; d_model " << g_d << ", " << g_train_layers << " layers, " << g_heads << " heads, vocab " << k_vocab
                << ", batch " << batch << "\n";
      std::vector<std::string> cols = {"mixer", "T", "threads", "lmlab tok/s", "lmlab CPU", "torch tok/s", "torch CPU", "lmlab / torch",
                                       "ratio per CPU-s", "train FLOP/token", "lmlab MFU", "lmlab MFU of GEMM peak", "GEMM peak GFLOP/s",
                                       "torch MFU", "load"};
      for (const auto& b : lmlab::bench::breakdown_columns()) cols.push_back(b);
      lmlab::table tab(cols);
      for (const auto T : seqs)
        for (const auto& mk : mixers) {
          const auto model = lmlab::models::make_model(bench_config(mk, g_train_layers, T), 1);
          const double flop_tok = model->train_flops_per_token(T);
          for (const auto t64 : threads) {
            const std::string ts = std::to_string(t64);
            std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", ts}, {"OPENBLAS_NUM_THREADS", ts}, {"BLIS_NUM_THREADS", ts}};
            if (!omp_wait.empty()) env["OMP_WAIT_POLICY"] = omp_wait;
            for (const auto& [k, v] : isa_vars) env[k] = v;
            int st = 0;
            child_result tr;
            if (do_peer) {
              std::cerr << "mixer_bench: " << mk << " T=" << T << " threads " << ts << " torch ...\n";
              const std::string out = lmlab::bench::run_child(
                  {python, script, "--pattern", mk, "--layers", std::to_string(g_train_layers), "--d-model", std::to_string(g_d), "--heads",
                   std::to_string(g_heads), "--vocab", std::to_string(k_vocab), "--seq", std::to_string(T), "--batch", std::to_string(batch),
                   "--threads", ts, "--steps", std::to_string(steps), "--warmup", std::to_string(warmup)},
                  env, st, g_timeout_s);
              nlohmann::json j;
              tr = lmlab::bench::parse_peer_json(out, st, "torch_mixers.py", g_timeout_s, &j);
              if (!tr.ok) {
                std::cerr << "mixer_bench: torch " << mk << " T=" << T << ": " << tr.error << "\n";
                if (tr.error.find("not installed") != std::string::npos) do_peer = false;
              } else if (j.value("n_params", std::int64_t{0}) != model->num_parameters()) {
                std::cerr << "mixer_bench: warning: the torch model of " << mk << " has " << j.value("n_params", std::int64_t{0})
                          << " parameters, lmlab's " << model->num_parameters() << "\n";
              }
            }
            std::cerr << "mixer_bench: " << mk << " T=" << T << " threads " << ts << " lmlab ...\n";
            const std::string out = lmlab::bench::run_child({exe, "--child-train", mk, std::to_string(T), std::to_string(batch), ts,
                                                             std::to_string(steps), std::to_string(warmup), std::to_string(g_d),
                                                             std::to_string(g_train_layers), std::to_string(g_heads)},
                                                            env, st, g_timeout_s);
            const child_result lr = lmlab::bench::parse_ok_line(out, st, "lmlab child", g_timeout_s);
            if (!lr.ok) std::cerr << "mixer_bench: lmlab " << mk << " T=" << T << ": " << lr.error << "\n";
            const double nominal = ci.flop_per_cycle * ghz * 1e9 * static_cast<double>(t64);
            auto rate = [](const child_result& r) { return r.ok ? cell(r.value, lmlab::format_number(r.value, 4)) : cell("-"); };
            auto util = [](const child_result& r) { return r.ok ? cell(r.util, pct(r.util)) : cell("-"); };
            // MFU per CPU-second: tokens/s as if the t64 threads were fully busy (tokens/s x
            // t64 / CPU use), so that a loaded machine does not divide it down; the GEMM peak is
            // measured the same way (bench/step_profile.hpp).
            auto busy_rate = [&](const child_result& r) { return r.util > 0 ? r.value * static_cast<double>(t64) / r.util : NAN; };
            auto mfu = [&](const child_result& r) {
              const double m = r.ok ? busy_rate(r) * flop_tok / nominal : NAN;
              return std::isfinite(m) ? cell(m, pct(m)) : cell("-");
            };
            const bool both = lr.ok && tr.ok;
            const double ratio = both ? lr.value / tr.value : NAN;
            // Tokens per CPU-second of each: the ratio a loaded machine distorts least.
            const double cpu_ratio = both && lr.util > 0 && tr.util > 0 ? (lr.value / lr.util) / (tr.value / tr.util) : NAN;
            // The lmlab child's OK line: tokens/s util seconds loss gemm_peak fractions...
            const double gemm_peak = lr.ok && lr.extra.size() > 2 ? lr.extra[2] * 1e9 : NAN;
            const double mfu_gemm = lr.ok ? busy_rate(lr) * flop_tok / gemm_peak : NAN;
            std::vector<cell> row = {mixer_name(mk), T, t64, rate(lr), util(lr), rate(tr), util(tr),
                                     both ? cell(ratio, lmlab::format_number(ratio, 3) + "x") : cell("-"),
                                     std::isfinite(cpu_ratio) ? cell(cpu_ratio, lmlab::format_number(cpu_ratio, 3) + "x") : cell("-"),
                                     cell(flop_tok, lmlab::format_number(flop_tok, 4)), mfu(lr),
                                     std::isfinite(mfu_gemm) ? cell(mfu_gemm, pct(mfu_gemm)) : cell("-"),
                                     std::isfinite(gemm_peak) ? cell(gemm_peak * 1e-9, lmlab::format_number(gemm_peak * 1e-9, 4)) : cell("-"),
                                     mfu(tr), lmlab::bench::load_average()};
            for (auto& b : lmlab::bench::breakdown_cells(lr, 3)) row.push_back(b);
            tab.add_row(row);
          }
        }
      tab.print(std::cout, fmt);
    }

    if (do_mem) {
      if (do_train) std::cout << "\n";
      lmlab::table mt({"model", "layers", "T", "state_size MiB", "peak RSS growth MiB", "growth / state", "pool live MiB",
                        "pool cached MiB", "step tok/s", "CPU"});
      const std::string ts = std::to_string(threads.front());
      std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", ts}, {"OPENBLAS_NUM_THREADS", ts}, {"BLIS_NUM_THREADS", ts}};
      if (!omp_wait.empty()) env["OMP_WAIT_POLICY"] = omp_wait;
      for (const auto& [k, v] : isa_vars) env[k] = v;
      bool warned = false;
      for (const auto& m : mem_models)
        for (const auto T : mem_seqs) {
          std::cerr << "mixer_bench: memory " << m << " T=" << T << " ...\n";
          int st = 0;
          const std::string out = lmlab::bench::run_child({exe, "--child-mem", m, std::to_string(T), ts, std::to_string(g_d), std::to_string(g_heads)},
                                                          env, st, g_timeout_s);
          const child_result r = lmlab::bench::parse_ok_line(out, st, "memory child", g_timeout_s);
          if (!r.ok || r.extra.size() < 5) {
            std::cerr << "mixer_bench: memory " << m << " T=" << T << ": " << r.error << "\n";
            mt.add_row({m, k_mem_layers, T, "-", "failed", "-", "-", "-", "-", "-"});
            continue;
          }
          if (r.extra[2] == 0 && !warned) {
            std::cerr << "mixer_bench: /proc/self/clear_refs refused: peak RSS growth is measured from the earlier peak\n";
            warned = true;
          }
          const double growth = r.extra[0], state = r.extra[1];
          mt.add_row({m, k_mem_layers, T, cell(state / 1048576.0, mib(state)), cell(growth / 1048576.0, mib(growth)),
                      state > 0 ? cell(growth / state, lmlab::format_number(growth / state, 3)) : cell("-"),
                      cell(r.extra[3] / 1048576.0, mib(r.extra[3])), cell(r.extra[4] / 1048576.0, mib(r.extra[4])),
                      cell(r.value, lmlab::format_number(r.value, 4)), cell(r.util, pct(r.util))});
        }
      mt.print(std::cout, fmt);
    }
    return 0;
  } catch (const lmlab::usage_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
