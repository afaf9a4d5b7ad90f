// Accelerator catalog and the this-cpu benchmark: see hardware.hpp.
#include "plan/hardware.hpp"

#include <cblas.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "plan/model_config.hpp"

namespace lmlab::plan {

namespace {

std::vector<hardware> load_catalog() {
  const auto path = plan_data_dir() / "hardware.json";
  const std::string origin = path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw error(fmt::format("{}: not valid JSON: {}", origin, e.what()));
  }
  LMLAB_CHECK(j.contains("accelerators") && j["accelerators"].is_array(), "{}: field 'accelerators' must be a list", origin);
  std::vector<hardware> out;
  for (const auto& e : j["accelerators"]) {
    hardware h;
    auto num = [&](const char* k) {
      LMLAB_CHECK(e.contains(k) && e[k].is_number(), "{}: accelerator {}: field '{}' must be a number", origin,
                  e.value("name", std::string("?")), k);
      return e[k].get<double>();
    };
    h.name = e.at("name").get<std::string>();
    h.source = e.value("source", "");
    h.peak_flops = h.theoretical_flops = num("peak_flops");
    h.memory_bytes = num("memory_bytes");
    h.hbm_bw = num("hbm_bw");
    h.intra_bw = num("intra_bw");
    h.inter_bw = num("inter_bw");
    h.intra_size = static_cast<int>(num("intra_size"));
    h.intra_latency = num("intra_latency");
    h.inter_latency = num("inter_latency");
    h.price_per_hour = num("price_per_hour");
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

std::vector<std::string> hardware_names() {
  std::vector<std::string> n;
  for (const auto& h : load_catalog()) n.push_back(h.name);
  n.push_back("this-cpu");
  return n;
}

double theoretical_cpu_flops() {
  // AVX2 + FMA: 2 FMA units × 8 FP32 lanes × 2 FLOP = 32 FLOP/cycle/core (DESIGN.md, Zen 3).
  double mhz = 0;
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("cpu MHz", 0) == 0) {
      mhz = std::max(mhz, std::stod(line.substr(line.find(':') + 1)));
    }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return cores * 32.0 * mhz * 1e6;
}

double measure_sgemm_flops(int n, int repeats) {
  std::vector<float> a(static_cast<std::size_t>(n) * n, 1.0f), b(a.size(), 0.5f), c(a.size(), 0.0f);
  double best = 0;
  for (int r = 0; r < repeats + 1; ++r) {  // first run warms up
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::max(best, 2.0 * n * n * static_cast<double>(n) / s);
  }
  return best;
}

hardware find_hardware(std::string_view name) {
  if (name == "this-cpu") {
    static const hardware cpu = [] {
      hardware h;
      h.name = "this-cpu";
      h.peak_flops = measure_sgemm_flops();
      h.theoretical_flops = theoretical_cpu_flops();
      h.source = "measured: cblas_sgemm 1024^3 (" LMLAB_BLAS_NAME "), best of 3; theoretical: cores x 32 FLOP/cycle x clock";
      h.memory_bytes = 0;
      if (std::ifstream mi("/proc/meminfo"); mi) {
        std::string k;
        double kb = 0;
        mi >> k >> kb;
        h.memory_bytes = kb * 1024;
      }
      h.hbm_bw = 20e9, h.intra_bw = 10e9, h.inter_bw = 1e9, h.intra_size = 1;
      return h;
    }();
    return cpu;
  }
  for (auto& h : load_catalog())
    if (h.name == name) return h;
  std::string known;
  for (const auto& n : hardware_names()) known += (known.empty() ? "" : ", ") + n;
  throw error(fmt::format("--hardware: unknown hardware '{}'", name), fmt::format("known hardware: {}", known));
}

}  // namespace lmlab::plan
