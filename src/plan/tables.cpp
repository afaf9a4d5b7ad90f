// Verb tables for chinchilla, specdec and memory: see tables.hpp.
#include "plan/tables.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/sweep.hpp"
#include "plan/chinchilla.hpp"
#include "plan/grid.hpp"
#include "plan/memory.hpp"
#include "plan/specdec.hpp"

namespace lmlab::plan {

namespace {

cell num_or_dash(double v) { return std::isnan(v) ? cell("-") : cell(v); }

std::vector<allocation> allocations_of(const chinchilla_args& a) {
  std::vector<allocation> out;
  for (const auto& name : split_list(a.fits)) {
    if (name != "custom") {
      out.push_back(find_allocation(name));
      continue;
    }
    for (const char* f : {"E", "A", "B", "alpha", "beta"}) {
      const std::string& v = std::string(f) == "E" ? a.E : std::string(f) == "A" ? a.A : std::string(f) == "B" ? a.B
                             : std::string(f) == "alpha" ? a.alpha : a.beta;
      LMLAB_CHECK_HINT(!v.empty(), "a custom fit needs --E --A --B --alpha --beta",
                       "--fit custom: --{} is missing", f);
    }
    for (const auto& p : cartesian({sweep_axis(a.E, "--E"), sweep_axis(a.A, "--A"), sweep_axis(a.B, "--B"),
                                    sweep_axis(a.alpha, "--alpha"), sweep_axis(a.beta, "--beta")})) {
      loss_fit f{fmt::format("custom(E={},A={},B={},a={},b={})", p[0], p[1], p[2], p[3], p[4]), p[0], p[1], p[2], p[3],
                 p[4], "user constants"};
      out.push_back({f.name, f, std::nullopt});
    }
  }
  LMLAB_CHECK_HINT(!out.empty(), "e.g. --fit hoffmann,epoch", "--fit: no fit named");
  return out;
}

table check_rule_table(const chinchilla_args& a, const std::vector<allocation>& methods) {
  const rule_of_thumb rule = parse_rule(a.check_rule);
  const auto computes = sweep_axis(a.compute.empty() ? "1e21-1e25*10" : a.compute, "--compute");
  table t({"compute", "fit", "rule_N", "rule_D", "6ND/C", "fit_N", "fit_D", "N_rule/fit", "D_rule/fit",
           "loss_fit_opt", "loss_rule_at_C", "excess_loss"});
  for (double c : computes) {
    const auto [rn, rd] = rule.at(c);
    const double consistency = 6.0 * rn * rd / c;
    for (const auto& m : methods) {
      const optimum o = optimum_for_compute(m, c);
      double lopt = std::numeric_limits<double>::quiet_NaN(), lrule = lopt;
      if (m.fit) {
        lopt = o.loss;
        lrule = m.fit->loss(rn, c / (6.0 * rn));  // the rule's N trained on what the budget buys
      }
      t.add_row({cell(c), m.name, cell(rn), cell(rd), cell(consistency), cell(o.n), cell(o.d), cell(rn / o.n),
                 cell(rd / o.d), num_or_dash(lopt), num_or_dash(lrule), num_or_dash(lrule - lopt)});
    }
  }
  return t;
}

}  // namespace

table chinchilla_table(const chinchilla_args& a) {
  const auto methods = allocations_of(a);
  if (!a.check_rule.empty()) return check_rule_table(a, methods);
  LMLAB_CHECK_HINT(a.compute.empty() != a.params.empty(), "e.g. --compute 1e23, or --params 7e9",
                   "plan chinchilla: give exactly one of --compute or --params");
  // Given compute, the optimum's N is the unknown; given N, its compute.
  const bool by_compute = !a.compute.empty();
  table t({"fit", by_compute ? "compute" : "params", by_compute ? "N_opt" : "compute", "D_opt", "tokens_per_param", "loss"});
  for (double x : by_compute ? sweep_axis(a.compute, "--compute") : sweep_axis(a.params, "--params"))
    for (const auto& m : methods) {
      const optimum o = by_compute ? optimum_for_compute(m, x) : optimum_for_params(m, x);
      t.add_row({m.name, cell(x), cell(by_compute ? o.n : o.compute), cell(o.d), cell(o.d / o.n), num_or_dash(o.loss)});
    }
  return t;
}

namespace {
// Draft lengths from the command line, range-checked before the cast to int (a sweep such as
// --gamma 1-1e12+1 or --max-gamma 1e30 used to wrap silently).
constexpr double kMaxGamma = 1 << 16;
int gamma_value(double v, const char* flag) {
  LMLAB_CHECK_HINT(std::isfinite(v) && v >= 0 && v <= kMaxGamma && v == std::floor(v),
                   "draft lengths are whole numbers of tokens, e.g. --gamma 1-8+1 (at most 65536)",
                   "{}: {} is not a draft length in [0, {}]", flag, v, kMaxGamma);
  return static_cast<int>(v);
}
std::vector<int> gamma_values(const std::string& text) {
  std::vector<int> out;
  for (auto g : parse_sweep_int(text, "--gamma")) out.push_back(gamma_value(static_cast<double>(g), "--gamma"));
  return out;
}
}  // namespace

table specdec_table(const specdec_args& a) {
  if (!a.accept_log.empty()) {
    LMLAB_CHECK_HINT(!a.gamma.empty(), "pass the draft length the log was recorded with, e.g. --gamma 4",
                     "--accept-log needs --gamma");
    const auto gammas = gamma_values(a.gamma);
    LMLAB_CHECK_HINT(gammas.size() == 1, "the log was recorded with one draft length", "--gamma: give one value with --accept-log");
    const auto e = estimate_acceptance(read_accept_log(a.accept_log), gammas[0]);
    table t({"steps", "gamma", "mean_accepted", "mean_tokens_per_step", "alpha_mle", "expected_tokens_at_alpha", "c",
             "speedup", "optimal_gamma", "speedup_at_optimal"});
    for (double c : sweep_axis(a.c, "--c", false)) {
      const int g = gammas[0];
      const int best = specdec_optimal_gamma(e.alpha, c, gamma_value(parse_quantity(a.max_gamma, "--max-gamma"), "--max-gamma"));
      t.add_row({cell(e.steps), cell(g), cell(e.mean_accepted), cell(e.mean_tokens), cell(e.alpha),
                 cell(specdec_expected_tokens(e.alpha, g)), cell(c), cell(specdec_speedup(e.alpha, g, c)), cell(best),
                 cell(specdec_speedup(e.alpha, best, c))});
    }
    return t;
  }
  const int max_gamma = gamma_value(parse_quantity(a.max_gamma, "--max-gamma"), "--max-gamma");
  table t({"alpha", "c", "gamma", "expected_tokens", "speedup", "ops_factor", "optimal_gamma", "speedup_at_optimal"});
  const std::vector<int> gammas = a.gamma.empty() ? std::vector<int>{} : gamma_values(a.gamma);
  for (double alpha : sweep_axis(a.alpha, "--alpha", false))
    for (double c : sweep_axis(a.c, "--c", false)) {
      const int best = specdec_optimal_gamma(alpha, c, max_gamma);
      const auto gs = gammas.empty() ? std::vector<int>{best} : gammas;
      const auto chats = a.c_hat.empty() ? std::vector<double>{c} : sweep_axis(a.c_hat, "--c-hat", false);
      for (const int g : gs)
        for (double ch : chats) {
          t.add_row({cell(alpha), cell(c), cell(g), cell(specdec_expected_tokens(alpha, g)),
                     cell(specdec_speedup(alpha, g, c)), cell(specdec_ops_factor(alpha, g, ch)), cell(best),
                     cell(specdec_speedup(alpha, best, c))});
        }
    }
  return t;
}

namespace {
std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / 1073741824.0); }
cell bytes_cell(double b) { return cell(b, gib(b)); }
}  // namespace

table memory_table(const memory_args& a) {
  if (a.list) {
    table t({"model", "model_type", "layers", "params_total", "params_active", "kv_bytes_per_token_bf16", "source"});
    for (const auto& name : catalog_model_names()) {
      const auto m = load_model(name);
      t.add_row({name, m.model_type, cell(static_cast<std::int64_t>(m.layers.size())), cell(m.params_total()),
                 cell(m.params_active()), cell(m.kv_cache_bytes(1, 2)), m.source});
    }
    return t;
  }
  const bool training = a.mode == "training";
  LMLAB_CHECK_HINT(training || a.mode == "inference", "use --mode inference or --mode training",
                   "--mode: unknown mode '{}'", a.mode);
  std::vector<model_config> models;
  for (const auto& name : split_list(a.model)) {
    auto m = load_model(name);
    if (!a.pattern.empty()) apply_layer_pattern(m, a.pattern);
    models.push_back(std::move(m));
  }
  LMLAB_CHECK_HINT(!models.empty(), "e.g. --model llama-3-8b", "--model: no model named");
  if (!training) {
    table t({"model", "context", "batch", "tp", "ep", "params_total", "params_active", "weights", "kv_cache", "state",
             "total", "per_device", "kv_per_token"});
    const double wb = dtype_bytes(a.weight_dtype, "--weight-dtype"), kb = dtype_bytes(a.kv_dtype, "--kv-dtype"),
                 sb = dtype_bytes(a.state_dtype, "--state-dtype");
    for (const auto& m : models)
      for (const auto& p : cartesian({count_axis(a.context, "--context", 1, kMaxCount, true), count_axis(a.batch, "--batch"),
                                      count_axis(a.tp, "--tp", 1, kMaxDegree), count_axis(a.ep, "--ep", 1, kMaxDegree)})) {
        inference_memory_options o;
        o.context = p[0], o.batch = p[1], o.tp = static_cast<int>(p[2]), o.ep = static_cast<int>(p[3]);
        o.weight_bytes = wb, o.cache_bytes = kb, o.state_bytes = sb;
        const auto r = estimate_inference_memory(m, o);
        t.add_row({m.name, cell(static_cast<std::int64_t>(p[0])), cell(static_cast<std::int64_t>(p[1])), cell(o.tp),
                   cell(o.ep), cell(m.params_total()), cell(m.params_active()), bytes_cell(r.weights),
                   bytes_cell(r.kv_cache), bytes_cell(r.state), bytes_cell(r.total), bytes_cell(r.per_device),
                   cell(r.kv_per_token)});
      }
    return t;
  }
  table t({"model", "seq", "micro_batch", "tp", "pp", "dp", "zero", "recompute", "params", "grads", "optimizer",
           "activations", "total_per_device"});
  const recompute rc = parse_recompute(a.recompute);
  for (const auto& m : models)
    for (const auto& p : cartesian({count_axis(a.context, "--context", 1, kMaxCount, true), count_axis(a.batch, "--batch"),
                                    count_axis(a.tp, "--tp", 1, kMaxDegree), count_axis(a.pp, "--pp", 1, kMaxDegree),
                                    count_axis(a.dp, "--dp", 1, kMaxDegree), count_axis(a.zero, "--zero", 0, 3)})) {
      training_memory_options o;
      o.seq = p[0], o.micro_batch = p[1], o.tp = static_cast<int>(p[2]), o.pp = static_cast<int>(p[3]),
      o.dp = static_cast<int>(p[4]), o.zero_stage = static_cast<int>(p[5]), o.recomp = rc;
      const auto r = estimate_training_memory(m, o);
      t.add_row({m.name, cell(static_cast<std::int64_t>(p[0])), cell(static_cast<std::int64_t>(p[1])), cell(o.tp),
                 cell(o.pp), cell(o.dp), cell(o.zero_stage), a.recompute, bytes_cell(r.params), bytes_cell(r.grads),
                 bytes_cell(r.optimizer), bytes_cell(r.activations), bytes_cell(r.total)});
    }
  return t;
}

}  // namespace lmlab::plan
