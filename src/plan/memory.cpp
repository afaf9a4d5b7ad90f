// Inference and training memory: see memory.hpp.
#include "plan/memory.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace lmlab::plan {

namespace {
// Tensor parallelism splits attention by whole heads (Megatron-LM, Shoeybi et al. 2019, Section 3).
void check_tp_divides_heads(const model_config& m, int tp) {
  LMLAB_CHECK_HINT(m.n_heads <= 0 || m.n_heads % tp == 0, "tensor parallelism splits whole attention heads",
                   "--tp: {} does not divide the {} attention heads of {}", tp, m.n_heads, m.name);
}
}  // namespace

double dtype_bytes(std::string_view s, std::string_view what) {
  if (s == "fp32" || s == "f32" || s == "float32") return 4;
  if (s == "bf16" || s == "fp16" || s == "f16" || s == "bfloat16" || s == "float16") return 2;
  if (s == "fp8" || s == "int8" || s == "q8" || s == "e4m3") return 1;
  if (s == "int4" || s == "fp4" || s == "q4" || s == "nf4") return 0.5;
  throw error(fmt::format("{}: unknown dtype '{}'", what, s), "use one of fp32, bf16, fp16, fp8, int8, int4, fp4");
}

inference_memory estimate_inference_memory(const model_config& m, const inference_memory_options& o) {
  LMLAB_CHECK_HINT(o.context > 0, "context is a token count such as 8k or 128k", "--context: {} must be > 0", o.context);
  LMLAB_CHECK_HINT(o.batch > 0, "batch is the number of concurrent sequences", "--batch: {} must be > 0", o.batch);
  LMLAB_CHECK_HINT(o.tp >= 1 && o.ep >= 1, "parallel degrees are >= 1", "--tp/--ep: degrees must be >= 1");
  check_tp_divides_heads(m, o.tp);
  inference_memory r;
  r.weights = m.params_total() * o.weight_bytes;
  r.kv_cache = m.kv_cache_bytes(o.context, o.cache_bytes) * o.batch;
  r.kv_per_token = m.kv_cache_bytes(1, o.cache_bytes);
  r.state = m.state_bytes(o.state_bytes) * o.batch;
  r.total = r.weights + r.kv_cache + r.state;
  // Sharding: dense weights split over tp; routed experts over tp·ep (each EP rank holds
  // n_experts/ep experts). KV heads split over tp until one head per device (then replicated);
  // MLA's latent cache is shared by all heads, so every TP rank holds all of it.
  const double expert_w = m.params_expert() * o.weight_bytes;
  const double dense_w = r.weights - expert_w;
  const double kv_shards = m.kv_lora_rank > 0 ? 1.0 : std::min<double>(o.tp, std::max<std::int64_t>(m.n_kv_heads, 1));
  r.per_device = dense_w / o.tp + expert_w / (static_cast<double>(o.tp) * o.ep) + r.kv_cache / kv_shards + r.state / o.tp;
  return r;
}

recompute parse_recompute(std::string_view s) {
  if (s == "none") return recompute::none;
  if (s == "selective") return recompute::selective;
  if (s == "full") return recompute::full;
  throw error(fmt::format("--recompute: unknown mode '{}'", s), "use none, selective or full");
}

training_memory estimate_training_memory(const model_config& m, const training_memory_options& o) {
  LMLAB_CHECK_HINT(o.seq > 0 && o.micro_batch > 0, "sequence length and micro-batch are positive",
                   "--seq/--micro-batch must be > 0");
  LMLAB_CHECK_HINT(o.tp >= 1 && o.pp >= 1 && o.dp >= 1, "parallel degrees are >= 1", "--tp/--pp/--dp must be >= 1");
  LMLAB_CHECK_HINT(o.zero_stage >= 0 && o.zero_stage <= 3, "ZeRO stages are 0, 1, 2, 3", "--zero: {} is not 0..3",
                   o.zero_stage);
  check_tp_divides_heads(m, o.tp);
  training_memory r;
  const double n = m.params_total() / (static_cast<double>(o.tp) * o.pp);  // parameters held by one model-parallel rank
  // ref: Rajbhandari et al. 2020 (ZeRO), Section 3.1: 2 + 2 + K with K = 12 for mixed-precision Adam
  r.params = 2 * n / (o.zero_stage >= 3 ? o.dp : 1);
  r.grads = 2 * n / (o.zero_stage >= 2 ? o.dp : 1);
  r.optimizer = 12 * n / (o.zero_stage >= 1 ? o.dp : 1);
  // ref: Korthikanti et al. 2022, Table 2 (bytes per layer, 16-bit activations):
  //   none: sbh(34 + 5as/h) / t (with sequence parallelism), selective: 34 sbh / t, full: 2 sbh.
  const double s = o.seq, b = o.micro_batch, h = static_cast<double>(m.hidden), a = static_cast<double>(m.n_heads);
  const double t = o.tp, sp = o.sequence_parallel ? t : 1.0;
  double per_layer_attn = 0, per_layer_other = 0;
  switch (o.recomp) {
    case recompute::none:
      per_layer_attn = s * b * h * (10.0 / sp + 24.0 / t + 5.0 * a * s / (h * t));
      per_layer_other = s * b * h * (10.0 / sp + 24.0 / t);
      break;
    case recompute::selective:
      per_layer_attn = per_layer_other = s * b * h * (10.0 / sp + 24.0 / t);
      break;
    case recompute::full:
      per_layer_attn = per_layer_other = 2.0 * s * b * h / sp;
      break;
  }
  double act = 0;
  for (const auto& l : m.layers)
    act += (l.kind == mixer::attention || l.kind == mixer::sliding || l.kind == mixer::mla) ? per_layer_attn : per_layer_other;
  // The first stage holds in_flight micro-batches, each through L/pp layers: with 1F1B
  // (in_flight = pp) that is L layers' worth whatever pp is (ref: Korthikanti et al. 2022,
  // Section 4.1); GPipe's m micro-batches make it m/pp times as much.
  const double in_flight = o.in_flight > 0 ? o.in_flight : o.pp;
  r.activations = act * in_flight / o.pp;
  r.total = r.params + r.grads + r.optimizer + r.activations;
  return r;
}

}  // namespace lmlab::plan
