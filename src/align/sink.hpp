// Where an alignment runner's results go: the run's store when there is one (tests run without;
// lab::run_context::log_metric/log_eval) and its progress stream, each line prefixed with the
// runner's name. Shared by the over-optimisation runners (runners.cpp) and align_prm (chain.cpp).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "lab/runner.hpp"

namespace lmlab::align {

struct sink {
  const lab::run_context& ctx;
  const char* name = "align";
  void metric(const std::string& metric_name, double v, std::int64_t step = 0) const { ctx.log_metric(step, metric_name, v); }
  void eval(const std::string& slice, const std::string& metric_name, double v, std::int64_t n) const {
    ctx.log_eval(slice, metric_name, v, n);
  }
  void say(const std::string& s) const {
    if (ctx.progress) std::fprintf(ctx.progress, "%s: %s\n", name, s.c_str());
  }
};

}  // namespace lmlab::align
