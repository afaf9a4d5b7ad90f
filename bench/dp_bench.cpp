// Measured overlap of data-parallel training (train/data_parallel.hpp), run under MPI:
//   mpirun -np 2 build/bench/dp_bench [--d-model 128] [--layers 4] [--steps 20] [-o md]
// trains a GPT on synthetic tokens twice, all-reduces started after backward (overlap off)
// and inside backward (on), and prints the median step: compute (forward + backward), the bucket
// all-reduces' time, and the exposed (not hidden) communication. Beside it, the alpha-beta
// model of plan/parallel.hpp (the DP term of `lmlab plan parallel`: allreduce_time(gradient
// bytes) x (1 - dp_overlap)) with alpha and bandwidth fitted to this machine's MPI (a
// 4-byte and a gradient-sized all-reduce), and for the catalog's H100 inter-node link.
// Times are wall-clock, so they need a quiet machine; the ratios (hidden share, exposed over
// compute) are the result. Rank 0 prints.
// Not for: a test (nothing asserts), multi-node runs (works, but the planner rows assume ring).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "core/table.hpp"
#include "plan/hardware.hpp"
#include "plan/parallel.hpp"
#include "train/data_parallel.hpp"
#include "train/trainer.hpp"

using namespace lmlab;

namespace {

std::vector<std::int32_t> tokens(std::size_t n, int vocab) {
  std::vector<std::int32_t> v(n);
  std::uint32_t x = 12345;
  for (auto& t : v) {
    x = x * 1664525u + 1013904223u;
    t = static_cast<std::int32_t>((x >> 8) % static_cast<std::uint32_t>(vocab));
  }
  return v;
}

train::train_config bench_config(int d_model, int layers, int batch, int steps, bool overlap) {
  auto c = train::parse_train_config(fmt::format(R"(
[model]
vocab_size = 256
d_model = {}
n_layers = {}
n_heads = 4
n_ctx = 64
[train]
batch_size = {}
steps = {}
warmup_steps = 2
eval_every = 0
eval_batches = 1
threads = 1
)",
                                                 d_model, layers, batch, steps),
                                     "dp_bench");
  c.train.dp_overlap = overlap;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data-parallel training over MPI: compute, communication and exposed communication per step"};
  int d_model = 128, layers = 4, batch = 16, steps = 20;
  std::string out = "text";
  app.add_option("--d-model", d_model)->capture_default_str();
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--batch", batch, "global batch (sequences of 64)")->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("-o,--output", out, "text|md|csv|json|jsonl")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    auto& dp = train::data_parallel::world();
    LMLAB_CHECK_HINT(dp.size() > 1, "run it as: mpirun -np 2 build/bench/dp_bench", "dp_bench: needs at least 2 MPI ranks");
    const auto train_ids = tokens(200000, 256), val_ids = tokens(5000, 256);
    train::token_source src{std::span<const std::int32_t>(train_ids), std::span<const std::int32_t>(val_ids), std::nullopt};
    train::run_options ro;
    ro.progress = nullptr;
    ro.write_files = false;
    ro.dp = &dp;
    // Per step, the median over the steps after the first (warm-up): robust to a loaded machine.
    train::train_summary runs[2];
    train::dp_step_stats med[2];
    for (int overlap = 0; overlap < 2; ++overlap) {
      runs[overlap] = train::run_training(bench_config(d_model, layers, batch, steps, overlap == 1), src, ro);
      std::vector<train::dp_step_stats> h(dp.history().begin() + 1, dp.history().end());
      auto median = [&](double train::dp_step_stats::*field) {
        std::vector<double> v;
        for (const auto& x : h) v.push_back(x.*field);
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
        return v[v.size() / 2];
      };
      med[overlap] = h.back();
      med[overlap].compute_s = median(&train::dp_step_stats::compute_s);
      med[overlap].comm_s = median(&train::dp_step_stats::comm_s);
      med[overlap].exposed_s = median(&train::dp_step_stats::exposed_s);
    }
    const auto grad_bytes = runs[0].dp_mean.bytes;
    // Alpha-beta fit of this machine's all-reduce: alpha from a 4-byte one, bandwidth from one
    // of the gradients' size (ring model: t = 2(p-1)a + 2(p-1)/p n/bw; plan/parallel.hpp).
    const int p = dp.size();
    const double t_small = dp.time_allreduce(4, 200), t_big = dp.time_allreduce(grad_bytes, 20);
    const double alpha = t_small / (2.0 * (p - 1));
    const double bw = 2.0 * (p - 1) / p * static_cast<double>(grad_bytes) / std::max(1e-12, t_big - 2.0 * (p - 1) * alpha);
    if (dp.rank() != 0) return 0;

    const double hidden = 1.0 - med[1].exposed_s / std::max(1e-12, med[0].exposed_s);
    table t({"row", "ranks", "grad_MB", "buckets", "compute_ms", "allreduce_sum_ms", "exposed_ms", "exposed_over_compute"});
    auto row = [&](const std::string& name, double compute, double comm, double exposed, int buckets) {
      t.add_row({name, p, static_cast<double>(grad_bytes) / 1e6, buckets, compute * 1e3, comm * 1e3, exposed * 1e3,
                 compute > 0 ? exposed / compute : 0.0});
    };
    const char* names[2] = {"measured, overlap off", "measured, overlap on"};
    for (int o = 0; o < 2; ++o)
      row(names[o], med[o].compute_s, med[o].comm_s, med[o].exposed_s, med[o].buckets);
    // The planner's DP term with this machine's fitted link, at overlap 0 and at the measured
    // hidden share; then with the catalog's H100 inter-node link (same gradient bytes).
    const double model_here = plan::allreduce_time(static_cast<double>(grad_bytes), p, alpha, bw);
    const double hidden01 = std::clamp(hidden, 0.0, 1.0);
    row("plan: fitted link, dp_overlap 0", med[0].compute_s, model_here, model_here, 1);
    row(fmt::format("plan: fitted link, dp_overlap {:.2f} (measured)", hidden01), med[1].compute_s, model_here,
        model_here * (1 - hidden01), 1);
    const auto h100 = plan::find_hardware("h100");
    const double model_h100 = plan::allreduce_time(static_cast<double>(grad_bytes), p, h100.inter_latency, h100.inter_bw);
    row("plan: h100 inter-node link, dp_overlap 0", med[0].compute_s, model_h100, model_h100, 1);
    t.print(std::cout, parse_table_format(out));
    std::printf("fitted link: alpha %.2f us, bandwidth %.2f GB/s (4-byte all-reduce %.1f us, %.2f MB one %.2f ms); "
                "overlap hid %.0f%% of the exposed time (median step); buckets started inside backward: %d of %d with "
                "overlap, %d without; losses equal with and without overlap: %s\n",
                alpha * 1e6, bw / 1e9, t_small * 1e6, static_cast<double>(grad_bytes) / 1e6, t_big * 1e3, 100 * hidden,
                med[1].started_in_backward, med[1].buckets, med[0].started_in_backward, runs[0].losses == runs[1].losses ? "yes" : "NO");
    return 0;
  } catch (const error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 1;
  }
}
