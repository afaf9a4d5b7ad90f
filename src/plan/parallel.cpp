// MFU, collectives, pipeline bubbles and layout search: see parallel.hpp.
#include "plan/parallel.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "plan/memory.hpp"

namespace lmlab::plan {

double model_flops_per_token(double n, double layers, double d_attn, double seq, bool training) {
  // ref: Chowdhery et al. 2022 (PaLM), Appendix B: 6N + 12·L·H·Q·T per token for training
  return training ? 6.0 * n + 12.0 * layers * d_attn * seq : 2.0 * n + 4.0 * layers * d_attn * seq;
}

double mfu(double tokens_per_sec, double flops_per_token, double devices, double peak) {
  LMLAB_CHECK_HINT(tokens_per_sec > 0, "measured training throughput in tokens per second", "--tokens-per-sec: {} must be > 0",
                   tokens_per_sec);
  LMLAB_CHECK_HINT(devices > 0 && peak > 0, "devices and peak must be positive", "--devices: {} must be > 0", devices);
  return tokens_per_sec * flops_per_token / (devices * peak);
}

double allreduce_time(double bytes, int p, double alpha, double bw) {
  if (p <= 1) return 0;
  return 2.0 * (p - 1) * alpha + 2.0 * (p - 1) / p * bytes / bw;  // ref: Thakur et al. 2005, ring
}
double allgather_time(double bytes, int p, double alpha, double bw) {
  if (p <= 1) return 0;
  return (p - 1) * alpha + static_cast<double>(p - 1) / p * bytes / bw;
}
double alltoall_time(double bytes, int p, double alpha, double bw) {
  if (p <= 1) return 0;
  return (p - 1) * alpha + static_cast<double>(p - 1) / p * bytes / bw;
}

schedule parse_schedule(const std::string& s) {
  if (s == "gpipe") return schedule::gpipe;
  if (s == "1f1b") return schedule::one_f_one_b;
  if (s == "interleaved") return schedule::interleaved;
  throw error(fmt::format("--schedule: unknown schedule '{}'", s), "use gpipe, 1f1b or interleaved");
}

double bubble_fraction(schedule s, int p, int m, int v) {
  LMLAB_CHECK(p >= 1 && m >= 1 && v >= 1, "pipeline: p, m, v must be >= 1 (got {}, {}, {})", p, m, v);
  // ref: Narayanan et al. 2021, Section 2.2.1 (GPipe and 1F1B: (p-1)/m) and 2.2.2 (interleaved: (p-1)/(v·m))
  return s == schedule::interleaved ? (p - 1.0) / (static_cast<double>(v) * m) : (p - 1.0) / m;
}

namespace {

// A collective over `size` ranks spaced `stride` apart stays in the fast domain if it fits.
std::pair<double, double> link(const hardware& hw, int size, int stride) {
  if (static_cast<long>(size) * stride <= hw.intra_size) return {hw.intra_latency, hw.intra_bw};
  return {hw.inter_latency, hw.inter_bw};
}

}  // namespace

namespace {
// Memory per device: 16 B/param mixed-precision Adam (ZeRO over dp) + activations (selective
// recompute, or full) over tp and cp.
double device_memory(const model_config& m, const layout& lay, const step_options& o, int mbs) {
  training_memory_options mo;
  mo.seq = o.seq / lay.cp, mo.micro_batch = lay.micro_batch, mo.tp = lay.tp, mo.pp = lay.pp, mo.dp = lay.dp;
  mo.zero_stage = o.zero_stage;
  mo.recomp = o.recompute_full ? recompute::full : recompute::selective;
  mo.in_flight = o.sched == schedule::gpipe ? mbs
                 : o.sched == schedule::one_f_one_b
                     ? std::min(mbs, lay.pp)
                     : lay.pp * (1.0 + (lay.pp - 1.0) / (static_cast<double>(lay.pp) * lay.virtual_stages));
  const auto tm = estimate_training_memory(m, mo);
  const double expert_share = m.params_total() > 0 ? m.params_expert() / m.params_total() : 0.0;
  const double state = tm.params + tm.grads + tm.optimizer;
  return state * (1.0 - expert_share + expert_share / lay.ep) + tm.activations;
}
}  // namespace

step_estimate estimate_step(const model_config& m, const hardware& hw, const layout& lay, const step_options& o) {
  step_estimate e;
  e.lay = lay;
  e.devices = lay.tp * lay.pp * lay.dp * lay.cp;
  const double L = static_cast<double>(m.layers.size()), h = static_cast<double>(m.hidden);
  auto invalid = [&](std::string why) {
    e.fits = false;
    e.why_not = std::move(why);
    return e;
  };
  if (m.layers.size() % static_cast<std::size_t>(lay.pp * lay.virtual_stages) != 0)
    return invalid(fmt::format("{} layers do not split into pp·v = {}", m.layers.size(), lay.pp * lay.virtual_stages));
  if (m.n_heads > 0 && m.n_heads % lay.tp != 0) return invalid(fmt::format("{} heads not divisible by tp {}", m.n_heads, lay.tp));
  if (lay.ep > 1 && (m.n_experts == 0 || m.n_experts % lay.ep != 0 || lay.dp % lay.ep != 0))
    return invalid("ep must divide the experts and dp");
  const double seqs_per_mb = lay.dp * static_cast<double>(lay.micro_batch);
  const double mb_count = o.global_batch / seqs_per_mb;
  if (mb_count < 1 || std::abs(mb_count - std::round(mb_count)) > 1e-9)
    return invalid(fmt::format("global batch {} is not a multiple of dp·micro_batch = {}", o.global_batch, seqs_per_mb));
  e.microbatches = static_cast<int>(std::round(mb_count));
  const int mbs = e.microbatches;

  // Compute: hardware FLOPs of the whole step spread evenly over devices.
  const double n_active = m.params_active();
  const double d_attn = static_cast<double>(m.n_heads * m.head_dim);
  const double attn_layers = static_cast<double>(m.count(mixer::attention) + m.count(mixer::sliding) + m.count(mixer::mla));
  const double tokens = o.global_batch * o.seq;
  const double model_flops = model_flops_per_token(n_active, attn_layers, d_attn, o.seq) * tokens;
  const double hw_flops = model_flops * (o.recompute_full ? 8.0 / 6.0 : 1.0);
  e.compute = hw_flops / (e.devices * hw.peak_flops * o.efficiency);

  // Per micro-batch, per stage communication (bf16 activations: 2 bytes).
  const double layers_per_stage = L / lay.pp;
  const double act_bytes = lay.micro_batch * (o.seq / lay.cp) * h * 2.0;
  // TP (Megatron, with sequence parallelism): 2 all-gather + 2 reduce-scatter forward, and the same
  // backward, per layer = 4 all-reduce volumes.  ref: Korthikanti et al. 2022, Section 4.2.2
  {
    const auto [a, bw] = link(hw, lay.tp, 1);
    e.tp_comm = mbs * layers_per_stage * 4.0 * allreduce_time(act_bytes, lay.tp, a, bw) * (o.recompute_full ? 1.5 : 1.0);
  }
  // CP (ring attention): each attention layer all-gathers K and V forward and reduce-scatters
  // their gradients backward.
  {
    const auto [a, bw] = link(hw, lay.cp, lay.tp);
    const double kv_bytes = lay.micro_batch * (o.seq / lay.cp) * 2.0 * m.n_kv_heads * m.head_dim * 2.0 / lay.tp;
    e.cp_comm = mbs * (attn_layers / lay.pp) * 2.0 * allgather_time(kv_bytes * lay.cp, lay.cp, a, bw);
  }
  // EP: dispatch + combine all-to-all forward and backward per MoE layer (top-k copies of each token).
  {
    const auto [a, bw] = link(hw, lay.ep, lay.tp * lay.cp);
    std::int64_t moe_layers = std::count_if(m.layers.begin(), m.layers.end(), [](const layer_spec& l) { return l.moe; });
    const double bytes = act_bytes * std::max<std::int64_t>(m.n_active_experts, 1) / lay.tp;
    e.ep_comm = mbs * (moe_layers / static_cast<double>(lay.pp)) * 4.0 * alltoall_time(bytes, lay.ep, a, bw);
  }
  // PP: one activation send forward and one gradient send backward per micro-batch per boundary.
  const auto [pa, pbw] = link(hw, 2, lay.tp * lay.cp * lay.dp);
  const double p2p = lay.pp > 1 ? pa + act_bytes / lay.tp / pbw : 0.0;
  e.pp_comm = lay.pp > 1 ? 2.0 * mbs * p2p * lay.virtual_stages : 0.0;
  // DP: ring all-reduce of this rank's bf16 gradients once per step (reduce-scatter + all-gather
  // under ZeRO has the same volume).
  {
    const auto [a, bw] = link(hw, lay.dp, lay.tp * lay.cp);
    const double dense = m.params_total() - m.params_expert();
    const double grad_bytes = 2.0 * (dense + m.params_expert() / lay.ep) / (lay.tp * lay.pp);
    e.dp_comm = allreduce_time(grad_bytes, lay.dp, a, bw) * (1.0 - o.dp_overlap);
  }
  const double per_mb_stage = e.compute / mbs + (e.tp_comm + e.cp_comm + e.ep_comm) / mbs;
  e.bubble = bubble_fraction(o.sched, lay.pp, mbs, lay.virtual_stages) * per_mb_stage * mbs;
  e.step_time = per_mb_stage * mbs + e.bubble + e.pp_comm + e.dp_comm;
  e.tokens_per_sec = tokens / e.step_time;
  e.mfu = model_flops / e.step_time / (e.devices * hw.peak_flops);

  e.memory = device_memory(m, lay, o, mbs);
  const double cap = o.mem_cap > 0 ? o.mem_cap : hw.memory_bytes;
  if (cap > 0 && e.memory > cap) {
    e.fits = false;
    e.why_not = fmt::format("needs {:.1f} GiB per device, cap {:.1f} GiB", e.memory / 1073741824.0, cap / 1073741824.0);
  }
  return e;
}

std::vector<step_estimate> search_layouts(const model_config& m, const hardware& hw, int devices, const step_options& o,
                                          int micro_batch) {
  LMLAB_CHECK_HINT(devices >= 1, "e.g. --devices 64", "--devices: {} must be >= 1", devices);
  std::vector<step_estimate> out;
  for (int tp = 1; tp <= std::min(devices, std::max(hw.intra_size, 1)); tp *= 2)
    for (int cp = 1; tp * cp <= devices && cp <= 16; cp *= 2)
      for (int pp = 1; tp * cp * pp <= devices; ++pp) {
        if (devices % (tp * cp * pp) != 0) continue;
        const int dp = devices / (tp * cp * pp);
        for (int ep = 1; ep <= dp; ep *= 2) {
          if (ep > 1 && m.n_experts == 0) break;
          layout l{tp, pp, dp, ep, cp, micro_batch, 1};
          auto e = estimate_step(m, hw, l, o);
          if (e.fits) out.push_back(e);
        }
      }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step_time < b.step_time; });
  return out;
}

double simulate_pipeline(int p, int m, double tf, double tb, double t_p2p, schedule s, const op_callback& on_op) {
  LMLAB_CHECK(s != schedule::interleaved, "pipeline simulation covers gpipe and 1f1b");
  // Per stage, the op order of the schedule; an op starts when its stage is free and its input
  // (previous stage's forward / next stage's backward) has arrived.
  struct op { bool fwd; int mb; };
  std::vector<std::vector<op>> order(p);
  for (int st = 0; st < p; ++st) {
    auto& v = order[st];
    if (s == schedule::gpipe) {
      for (int i = 0; i < m; ++i) v.push_back({true, i});
      for (int i = 0; i < m; ++i) v.push_back({false, i});
    } else {
      const int warm = std::min(p - st - 1, m);
      int f = 0, b = 0;
      for (; f < warm; ++f) v.push_back({true, f});
      while (f < m) {
        v.push_back({true, f++});
        v.push_back({false, b++});
      }
      while (b < m) v.push_back({false, b++});
    }
  }
  std::vector<std::vector<double>> fend(p, std::vector<double>(m, -1)), bend = fend;
  std::vector<std::size_t> next(p, 0);
  std::vector<double> free_at(p, 0.0);
  std::size_t remaining = static_cast<std::size_t>(2 * p * m);
  while (remaining > 0) {
    bool progressed = false;
    for (int st = 0; st < p; ++st) {
      while (next[st] < order[st].size()) {
        const op o = order[st][next[st]];
        double ready;
        if (o.fwd) {
          ready = st == 0 ? 0.0 : fend[st - 1][o.mb];
          if (ready < 0) break;
          if (st > 0) ready += t_p2p;
        } else {
          ready = st == p - 1 ? fend[st][o.mb] : bend[st + 1][o.mb];
          if (ready < 0) break;
          if (st < p - 1) ready += t_p2p;
        }
        const double start = std::max(ready, free_at[st]);
        const double end = start + (o.fwd ? tf : tb);
        if (on_op) on_op(st, o.fwd, o.mb, start, end - start);
        (o.fwd ? fend : bend)[st][o.mb] = end;
        free_at[st] = end;
        ++next[st];
        --remaining;
        progressed = true;
      }
    }
    LMLAB_ASSERT(progressed, "pipeline schedule deadlocked");
  }
  return *std::max_element(free_at.begin(), free_at.end());
}

std::string chrome_trace(const step_estimate& e, const step_options& o) {
  const int p = e.lay.pp, m = e.microbatches;
  LMLAB_CHECK_HINT(o.sched != schedule::interleaved, "use --schedule 1f1b or gpipe for --trace",
                   "--trace: the interleaved schedule is estimated, not simulated");
  // Per micro-batch per stage: backward = 2 × forward (ref: Narayanan et al. 2021, Section 3.1 assumes t_b ≈ 2 t_f).
  const double per_mb = (e.compute + e.tp_comm + e.cp_comm + e.ep_comm) / m;
  const double tf = per_mb / 3.0, tb = 2.0 * per_mb / 3.0;
  const double p2p = p > 1 ? e.pp_comm / (2.0 * m) : 0.0;
  nlohmann::json events = nlohmann::json::array();
  std::vector<double> free_at(p, 0.0);
  simulate_pipeline(p, m, tf, tb, p2p, o.sched, [&](int st, bool fwd, int mb, double start, double dur) {
    events.push_back({{"name", fmt::format("{}{}", fwd ? "F" : "B", mb)},
                      {"cat", fwd ? "forward" : "backward"},
                      {"ph", "X"},
                      {"ts", start * 1e6},
                      {"dur", dur * 1e6},
                      {"pid", 0},
                      {"tid", st}});
    free_at[st] = start + dur;
  });
  for (int st = 0; st < p; ++st) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", st},
                      {"args", {{"name", fmt::format("stage {}", st)}}}});
    if (e.dp_comm > 0)
      events.push_back({{"name", "dp all-reduce"}, {"cat", "comm"}, {"ph", "X"}, {"ts", free_at[st] * 1e6},
                        {"dur", e.dp_comm * 1e6}, {"pid", 0}, {"tid", st}});
  }
  nlohmann::json doc{{"traceEvents", events},
                     {"displayTimeUnit", "ms"},
                     {"otherData",
                      {{"layout", fmt::format("tp={} pp={} dp={} ep={} cp={} mb={}", e.lay.tp, e.lay.pp, e.lay.dp, e.lay.ep,
                                              e.lay.cp, e.lay.micro_batch)},
                       {"microbatches", m}}}};
  return doc.dump(1);
}

}  // namespace lmlab::plan
