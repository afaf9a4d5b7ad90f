// Decode throughput at batch 1 with the KV cache (models::lm step mode): stories260K from
// ../shared/models (when present) and a randomly initialised LLaMA shaped like SmolLM-135M
// (30 layers, d 576, 9 heads / 3 KV heads, SwiGLU 1536, vocabulary 49,152, tied head), with
// memory-bandwidth utilisation: bytes of weights (f32) plus KV cache read per token x tokens/s,
// against a STREAM-style triad bandwidth measured in the same run.
//   build/bench/decode_bench [-o md] [--tokens N] [--threads N]
// Decoding at batch 1 is bandwidth-bound when the weights do not fit in cache: each token reads
// every weight once (ref: Kim et al. 2023, "SqueezeLLM", sec. 3 — memory wall of generative
// inference). stories260K (1.2 MB) fits in L2, so its utilisation can exceed 100% of DRAM
// bandwidth; the SmolLM-shaped model (540 MB) cannot.
// Not for: correctness (tests/models_real), batched serving.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/table.hpp"
#include "models/import.hpp"
#include "ops/gemm.hpp"

using namespace lmlab;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// STREAM triad a = b + s*c over three arrays of n floats, best of `reps`; bytes counted as
// STREAM does (3 arrays of 4 bytes per element, no write-allocate traffic).
double triad_gbps(std::size_t n, int reps) {
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
    best = std::min(best, now() - t0);
  }
  volatile float sink = a[n / 2];
  (void)sink;
  return 3.0 * 4.0 * static_cast<double>(n) / best / 1e9;
}

struct result {
  double tok_s = 0, weight_bytes = 0, kv_bytes = 0;
};

// Feeds `prefill` fixed tokens, then times `n` greedy steps (argmax fed back).
result decode(models::lm& m, std::int64_t prefill, std::int64_t n) {
  no_grad ng;
  m.eval();
  auto st = m.new_state(1);
  const std::int64_t V = m.vocab_size();
  std::int32_t tok = 1;
  for (std::int64_t i = 0; i < prefill; ++i) m.step(*st, tensor::from<std::int32_t>({1}, {static_cast<std::int32_t>((i * 7 + 1) % V)}));
  const double t0 = now();
  for (std::int64_t i = 0; i < n; ++i) {
    tensor l = m.step(*st, tensor::from<std::int32_t>({1}, {tok}));
    const float* p = l.data<float>();
    tok = static_cast<std::int32_t>(std::max_element(p, p + V) - p);
  }
  const double dt = now() - t0;
  result r;
  r.tok_s = static_cast<double>(n) / dt;
  // Every parameter is read once per token (the tied head reads the embedding matrix; the
  // embedding lookup of one row is negligible), f32.
  r.weight_bytes = 4.0 * static_cast<double>(m.num_parameters());
  const auto& c = m.config();
  const double mean_pos = static_cast<double>(prefill) + static_cast<double>(n) / 2.0;
  r.kv_bytes = 2.0 * 4.0 * static_cast<double>(c.n_layers * c.kv_heads() * c.d_head()) * mean_pos;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string out = "text";
    std::int64_t tokens = 64;
    int threads = 0;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if ((a == "-o" || a == "--output") && i + 1 < argc) out = argv[++i];
      else if (a == "--tokens" && i + 1 < argc) tokens = std::stoll(argv[++i]);
      else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
      else throw usage_error("decode_bench: unknown argument " + a, "usage: decode_bench [-o text|md|csv|json] [--tokens N] [--threads N]");
    }
    if (threads > 0) set_num_threads(threads);
    const auto fmt_out = parse_table_format(out);
    const double bw = triad_gbps(std::size_t{32} << 20, 5);  // 3 x 128 MB
    std::string load;
    std::ifstream("/proc/loadavg") >> load;
    std::fprintf(stderr, "STREAM triad: %.1f GB/s (%d threads, load average %s)\n", bw, num_threads(), load.c_str());
    table t({"model", "params", "threads", "weights_MB", "tokens", "tok_s", "ms_per_tok", "GB_per_s", "bw_util_pct"});
    const auto row = [&](const std::string& name, models::lm& m, std::int64_t n) {
      const result r = decode(m, 16, n);
      const double gbps = (r.weight_bytes + r.kv_bytes) * r.tok_s / 1e9;
      t.add_row({name, m.num_parameters(), num_threads(), cell(r.weight_bytes / 1e6, fmt::format("{:.1f}", r.weight_bytes / 1e6)), n,
                 cell(r.tok_s, fmt::format("{:.1f}", r.tok_s)), cell(1e3 / r.tok_s, fmt::format("{:.2f}", 1e3 / r.tok_s)),
                 cell(gbps, fmt::format("{:.2f}", gbps)), cell(100 * gbps / bw, fmt::format("{:.0f}", 100 * gbps / bw))});
    };
    const std::filesystem::path stories = "../shared/models/stories260K.gguf";
    if (std::filesystem::exists(stories)) {
      auto m = models::lm_from_gguf(nn::gguf_file::load(stories));
      row("stories260K (gguf, f32)", *m, 4 * tokens);
    } else {
      std::fprintf(stderr, "note: %s not found (run from the repository root beside shared/); skipping it\n", stories.c_str());
    }
    models::lm_config c;  // SmolLM-135M's config.json
    c.vocab_size = 49152;
    c.d_model = 576;
    c.n_layers = 30;
    c.n_heads = 9;
    c.n_kv_heads = 3;
    c.d_mlp = 1536;
    c.n_ctx = 2048;
    c.norm = "rmsnorm";
    c.ffn = "swiglu";
    c.pos_encoding = "rope";
    c.bias = false;
    c.tie_embeddings = true;
    c.layer_norm_eps = 1e-5;
    models::lm smol(c, 1);
    row("SmolLM-135M shape (random, f32)", smol, tokens);
    t.print(std::cout, fmt_out);
    std::printf("STREAM triad bandwidth: %.1f GB/s; bw_util = (weights + KV read per token) x tok/s / triad\n", bw);
    return 0;
  } catch (const error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 1;
  }
}
