// ops_bench: forward and forward+backward time of each engine op at the shapes of one GPT
// block (issue 2's configs A, B, C), so a slow kernel stands out next to the GEMMs, and of the
// recurrent mixers' kernels at B = 4, T = 1024 (config "mixers": selective scan, WKV, RG-LRU,
// retention; the shapes of docs/architectures.md "Performance notes"). Reports
// milliseconds per call, GFLOP/s where the op has a FLOP count, and process CPU utilisation
// (getrusage CPU time / wall time / threads) beside each timing.
// Not for: a test (no assertions on time), or the end-to-end GPT benchmark.
//
// Usage: ops_bench [--config A,B,C,L,L64,mixers] [--ops NAME,...] [--threads 1,2] [--min-time 0.3] [-o text|md|csv|json|jsonl]
// --ops keeps the ops whose name contains one of the given strings (e.g. --ops attention).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <sstream>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"
#include "core/sweep.hpp"
#include "core/table.hpp"
#include "ops/ops.hpp"
#include "ops/retention.hpp"
#include "ops/rglru.hpp"
#include "ops/scan.hpp"
#include "ops/wkv.hpp"

namespace {

using namespace lmlab;

struct gpt_config {
  std::string name;
  std::int64_t V, C, H, T, B;
};
// L, L64: the lab's shapes (issue 21): d_model 128, 4 heads and d_model 64, 2 heads, T 32, batch 32;
// L16: the quick arithmetic runs' shape (d_model 64, 4 heads of 16 dims, T 17, batch 64);
// L16S: the quick SCAN runs' (T 72: a batch's longest command + actions).
const gpt_config k_configs[] = {{"A", 96, 128, 4, 128, 32}, {"B", 96, 256, 8, 256, 16}, {"C", 512, 512, 8, 256, 8},
                                {"L", 256, 128, 4, 32, 32},  {"L64", 256, 64, 2, 32, 32},
                                {"L16", 44, 64, 4, 17, 64}, {"L16S", 20, 64, 4, 72, 64}};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

tensor randn(const shape_t& s, std::uint64_t seed, double scale = 1.0) {
  rng g(seed);
  tensor t = tensor::empty(s);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(g.normal() * scale);
  return t;
}

// Uniform in [lo, hi) (the mixers' gates, decays and step sizes have one-sided ranges).
tensor uniform(const shape_t& s, double lo, double hi, std::uint64_t seed) {
  rng g(seed);
  tensor t = tensor::empty(s);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(lo + (hi - lo) * g.uniform());
  return t;
}

tensor param(const shape_t& s, std::uint64_t seed) {
  tensor t = randn(s, seed, 0.02);
  t.set_requires_grad(true);
  return t;
}

// Mean seconds per call of f and the CPU utilisation while it ran.
std::pair<double, double> time_it(const std::function<void()>& f, double min_time, int threads) {
  f();
  int reps = 0;
  const double c0 = cpu_seconds(), t0 = now();
  double t1 = t0;
  while (t1 - t0 < min_time) {
    f();
    ++reps;
    t1 = now();
  }
  return {(t1 - t0) / reps, (cpu_seconds() - c0) / (t1 - t0) / threads};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> configs = {"A", "B", "C", "mixers"}, ops;
    std::vector<std::int64_t> threads = {1, 2};
    double min_time = 0.3;
    table_format fmt = table_format::text;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw usage_error("ops_bench: " + a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--config") configs = split(v);
      else if (a == "--ops") ops = split(v);
      else if (a == "--threads") threads = parse_sweep_int(v, "--threads");
      else if (a == "--min-time") min_time = std::stod(v);
      else if (a == "-o") fmt = parse_table_format(v);
      else throw usage_error("ops_bench: unknown argument '" + a + "'");
    }
    table tab({"config", "op", "shape", "threads", "fwd ms", "fwd+bwd ms", "fwd+bwd GFLOP/s", "CPU util"});
    struct op_case {
      std::string name, shape;
      double flop;  // forward + backward
      std::function<tensor(const std::vector<tensor>&)> f;
      std::vector<tensor> in;
    };
    const auto run_cases = [&](const std::string& cfg_name, std::vector<op_case>& cases) {
      for (auto t : threads) {
        set_num_threads(static_cast<int>(t));
        for (auto& c : cases) {
          const auto named = [&](const std::string& o) { return c.name.find(o) != std::string::npos; };
          if (!ops.empty() && std::none_of(ops.begin(), ops.end(), named)) continue;
          std::vector<tensor> in = c.in;
          for (auto& a : in)
            if (a.type() != dtype::i32 && !a.requires_grad()) a = a.clone_raw().set_requires_grad(true);
          auto [tf, uf] = time_it([&] { no_grad ng; c.f(in); }, min_time, static_cast<int>(t));
          tensor gy;
          auto [tb, ub] = time_it(
              [&] {
                tensor y = c.f(in);
                if (!gy.defined()) gy = tensor::ones(y.shape());
                backward(y, gy);
                for (auto& a : in)
                  if (a.type() != dtype::i32) a.set_grad({});
              },
              min_time, static_cast<int>(t));
          tab.add_row({cfg_name, c.name, c.shape, t, cell(tf * 1e3, format_number(tf * 1e3, 3)), cell(tb * 1e3, format_number(tb * 1e3, 3)),
                       c.flop > 0 ? cell(c.flop / tb * 1e-9, format_number(c.flop / tb * 1e-9, 3)) : cell("-"),
                       cell(ub, std::to_string(static_cast<int>(std::lround(100 * ub))) + "%")});
        }
      }
    };
    for (const auto& cfg : k_configs) {
      if (std::find(configs.begin(), configs.end(), cfg.name) == configs.end()) continue;
      const std::int64_t B = cfg.B, T = cfg.T, C = cfg.C, H = cfg.H, D = C / H, R = B * T;
      tensor x = randn({B, T, C}, 1);
      tensor w_qkv = param({3 * C, C}, 2), b_qkv = param({3 * C}, 3);
      tensor ln_w = param({C}, 4), ln_b = param({C}, 5);
      tensor w_q = param({C, C}, 12), w_k = param({C, C}, 13), w_v = param({C, C}, 14);
      tensor b_q = param({C}, 15), b_k = param({C}, 16), b_v = param({C}, 17);
      tensor q = randn({B, H, T, D}, 6), k = randn({B, H, T, D}, 7), v = randn({B, H, T, D}, 8);
      tensor h4 = randn({B, T, 4 * C}, 9);
      tensor emb = param({cfg.V, C}, 10);
      std::vector<std::int32_t> idv(static_cast<std::size_t>(R));
      for (std::size_t i = 0; i < idv.size(); ++i) idv[i] = static_cast<std::int32_t>((i * 31) % static_cast<std::size_t>(cfg.V));
      tensor ids = tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(idv));
      tensor logits = randn({R, cfg.V}, 11);
      const double attn_flop = 4.0 * B * H * T * T * D / 2;  // causal: QK^T and PV, half the tiles
      std::vector<op_case> cases = {
          {"linear qkv", fmt::format("({},{},{})x({},{})", B, T, C, 3 * C, C), 3 * 2.0 * R * C * 3 * C,
           [](auto& in) { return linear(in[0], in[1], in[2]); }, {x, w_qkv, b_qkv}},
          // The same projection as three GEMMs (as the attention mixer runs it), joined by cat
          // (one copy forward, views backward): the gap to "linear qkv" bounds what a fused
          // QKV projection could save.
          {"linear q, k, v apart", fmt::format("3 x ({},{},{})x({},{})", B, T, C, C, C), 3 * 2.0 * R * C * 3 * C,
           [](auto& in) { return cat({linear(in[0], in[1], in[4]), linear(in[0], in[2], in[5]), linear(in[0], in[3], in[6])}, -1); },
           {x, w_q, w_k, w_v, b_q, b_k, b_v}},
          {"attention causal", fmt::format("({},{},{},{})", B, H, T, D), attn_flop * 3.5,
           [](auto& in) { return attention(in[0], in[1], in[2]); }, {q, k, v}},
          {"layer_norm", fmt::format("({},{},{})", B, T, C), 0, [](auto& in) { return layer_norm(in[0], in[1], in[2]); }, {x, ln_w, ln_b}},
          {"gelu", fmt::format("({},{},{})", B, T, 4 * C), 0, [](auto& in) { return gelu(in[0]); }, {h4}},
          {"gelu tanh", fmt::format("({},{},{})", B, T, 4 * C), 0, [](auto& in) { return gelu(in[0], gelu_approx::tanh); }, {h4}},
          {"add residual", fmt::format("({},{},{})", B, T, C), 0, [](auto& in) { return add(in[0], in[1]); }, {x, x}},
          {"embedding", fmt::format("({},{}) of ({},{})", B, T, cfg.V, C), 0, [](auto& in) { return embedding(in[0], in[1]); }, {emb, ids}},
          {"cross_entropy", fmt::format("({},{})", R, cfg.V), 0,
           [&](auto& in) { return cross_entropy(in[0], ids.view_raw({R})); }, {logits}},
          {"softmax", fmt::format("({},{})", R, cfg.V), 0, [](auto& in) { return softmax(in[0]); }, {logits}},
      };
      run_cases(cfg.name, cases);
    }
    if (std::find(configs.begin(), configs.end(), "mixers") != configs.end()) {
      // Recurrent mixers at B = 4, T = 1024, with inputs in the ranges the models feed them:
      // Mamba delta = softplus(.) ~ [0.001, 0.1] and A = -exp(A_log) ~ [-16, -1]; RWKV w < 0;
      // Griffin gates r, i in (0, 1).
      const std::int64_t B = 4, T = 1024, D = 256, N = 16, C = 128, H = 4, d = 32;
      const auto gammas = retnet_gammas(H);
      std::vector<op_case> cases = {
          {"selective_scan", fmt::format("({},{},{}) N={}", B, T, D, N), 0,
           [](auto& in) { return selective_scan(in[0], in[1], in[2], in[3], in[4], in[5]); },
           {uniform({B, T, D}, -1, 1, 21), uniform({B, T, D}, 0.001, 0.1, 22), uniform({D, N}, -16, -1, 23),
            uniform({B, T, N}, -1, 1, 24), uniform({B, T, N}, -1, 1, 25), uniform({D}, -1, 1, 26)}},
          {"wkv", fmt::format("({},{},{})", B, T, C), 0, [](auto& in) { return wkv(in[0], in[1], in[2], in[3]); },
           {uniform({C}, -2, -0.01, 31), uniform({C}, -1, 1, 32), uniform({B, T, C}, -1, 1, 33), uniform({B, T, C}, -1, 1, 34)}},
          {"rglru", fmt::format("({},{},{})", B, T, C), 0, [](auto& in) { return rglru(in[0], in[1], in[2], in[3]); },
           {uniform({B, T, C}, -1, 1, 41), uniform({B, T, C}, 0, 1, 42), uniform({B, T, C}, 0, 1, 43), uniform({C}, -1, 3, 44)}},
          {"retention parallel", fmt::format("({},{},{},{})", B, H, T, d), 0,
           [&](auto& in) { return retention_parallel(in[0], in[1], in[2], gammas); },
           {randn({B, H, T, d}, 51, 0.2), randn({B, H, T, d}, 52, 0.2), randn({B, H, T, d}, 53)}},
          {"retention chunk 64", fmt::format("({},{},{},{})", B, H, T, d), 0,
           [&](auto& in) { return retention_chunkwise(in[0], in[1], in[2], gammas, 64); },
           {randn({B, H, T, d}, 51, 0.2), randn({B, H, T, d}, 52, 0.2), randn({B, H, T, d}, 53)}},
      };
      run_cases("mixers", cases);
    }
    tab.print(std::cout, fmt);
    return 0;
  } catch (const usage_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
