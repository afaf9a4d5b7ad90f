// Induction-head formation during training: see formation.hpp.
#include "interp/formation.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "hooks/hooks.hpp"
#include "interp/interp.hpp"
#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::interp {

const tasks::param_table<formation_task>& formation_params() {
  static const auto t = tasks::param_table<formation_task>("induction_formation")
        .add("vocab_size", &formation_task::vocab_size, "random tokens drawn uniformly from [0, vocab_size)", 2, 1 << 20)
        .add("half_len", &formation_task::half_len, "n: tokens per half; each sequence is n random tokens repeated once",
             2, 1 << 16)
        .add("min_half_len", &formation_task::min_half_len,
             "shortest repeated segment in training (0: half_len / 2); the distance to the copy varies", 0, 1 << 16)
        .add("eval_every", &formation_task::eval_every, "training steps between evaluation points", 1, 1e7)
        .add("eval_batch", &formation_task::eval_batch, "sequences per evaluation point (the same ones each time)", 1,
             1 << 16)
        .add("induction_threshold", &formation_task::induction_threshold,
             "an induction head has formed when the best head's score reaches this", 0, 1)
        .add("icl_threshold", &formation_task::icl_threshold,
             "in-context learning: second-half loss at most this x ln(vocab_size)", 0, 1);
  return t;
}

namespace {
constexpr std::uint64_t kTrainStream = 0x696e6466ull;  // "indf"
}  // namespace

void check(const formation_task& t) {
  if (t.min_half_len > t.half_len)
    throw tasks::param_error("min_half_len", fmt::format("induction_formation: min_half_len {} exceeds half_len {}", t.min_half_len,
                                                         t.half_len));
}

formation_batch formation_batch_at(const formation_task& t, std::int64_t B, std::uint64_t seed, std::int64_t step) {
  const std::int64_t n = t.half_len, T = 2 * n;
  std::vector<std::int32_t> in(static_cast<std::size_t>(B * T)), tg(in.size());
  for (std::int64_t b = 0; b < B; ++b) {
    rng r(seed ^ kTrainStream, static_cast<std::uint64_t>(step * B + b));
    std::int32_t* row = in.data() + b * T;
    const std::int64_t lo = t.min_half_len > 0 ? t.min_half_len : std::max<std::int64_t>(1, n / 2);
    const std::int64_t m = lo + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(n - lo + 1)));
    const auto draw = [&] { return static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(t.vocab_size))); };
    const std::int64_t f = T - 2 * m;  // filler, then the segment twice
    for (std::int64_t i = 0; i < f; ++i) row[i] = draw();
    for (std::int64_t i = 0; i < m; ++i) row[f + i] = row[f + m + i] = draw();
    for (std::int64_t i = 0; i < T; ++i) tg[static_cast<std::size_t>(b * T + i)] = i + 1 < T ? row[i + 1] : tasks::ignore_index;
  }
  return {tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(in)),
          tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(tg))};
}

std::vector<double> next_token_losses(const tensor& logits, const tensor& ids) {
  LMLAB_CHECK(logits.dim() == 3 && ids.dim() == 2 && logits.size(0) == ids.size(0) && logits.size(1) == ids.size(1),
              "next_token_losses: logits {} and ids {} do not match", shape_str(logits.shape()), shape_str(ids.shape()));
  const tensor lg = logits.contiguous_raw();
  const std::int64_t B = lg.size(0), T = lg.size(1), V = lg.size(2);
  const float* p = lg.data<float>();
  const auto tok = ids.to_vector();
  std::vector<double> out(static_cast<std::size_t>(std::max<std::int64_t>(0, T - 1)), 0.0);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t + 1 < T; ++t) {
      const float* row = p + (b * T + t) * V;
      const double mx = *std::max_element(row, row + V);
      double z = 0;
      for (std::int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v]) - mx);
      const auto target = static_cast<std::int64_t>(tok[static_cast<std::size_t>(b * T + t + 1)]);
      out[static_cast<std::size_t>(t)] += mx + std::log(z) - static_cast<double>(row[target]);
    }
  for (auto& x : out) x /= static_cast<double>(B);
  return out;
}

formation_point evaluate_formation(models::causal_lm& model, const tensor& ids, std::int64_t n) {
  LMLAB_CHECK(ids.dim() == 2 && ids.size(1) == 2 * n, "induction_formation: expected (B, {}) ids, got {}", 2 * n,
              shape_str(ids.shape()));
  auto [logits, cache] = hooks::run_with_cache(model, ids, hooks::names_ending_with({"attn.hook_pattern"}));
  LMLAB_CHECK_HINT(!cache.empty(), "induction heads need attention layers (pattern letter A)",
                   "induction_formation: the model has no blocks.N.attn.hook_pattern");
  formation_point pt;
  const auto loss = next_token_losses(logits, ids);  // entry t predicts token t + 1
  // First half: predicting tokens 1 .. n-1 (entries 0 .. n-2). Second half: predicting tokens
  // n+1 .. 2n-1 (entries n .. 2n-2), each a copy of an earlier token whose predecessor is in
  // context. Entry n-1 (predicting the first repeated token) belongs to neither.
  double a = 0, b = 0;
  for (std::int64_t t = 0; t + 1 < n; ++t) a += loss[static_cast<std::size_t>(t)];
  for (std::int64_t t = n; t + 1 < 2 * n; ++t) b += loss[static_cast<std::size_t>(t)];
  pt.loss_first = a / static_cast<double>(n - 1);
  pt.loss_second = b / static_cast<double>(n - 1);
  pt.icl_score = pt.loss_second - pt.loss_first;
  for (const auto& [name, pattern] : cache) {
    for (double s : induction_scores(pattern, n)) pt.max_induction = std::max(pt.max_induction, s);
    for (double s : prev_token_scores(pattern)) pt.max_prev_token = std::max(pt.max_prev_token, s);
  }
  return pt;
}

formation_summary summarize(const std::vector<formation_point>& pts, const formation_task& t, std::int64_t total_steps) {
  formation_summary s;
  if (pts.empty()) return s;
  for (const auto& p : pts) s.peak_induction = std::max(s.peak_induction, p.max_induction);
  const formation_point &first = pts.front(), &last = pts.back();
  s.final_induction = last.max_induction;
  s.final_prev_token = last.max_prev_token;
  s.final_icl = last.icl_score;
  // Each change's midpoint: the first step that covers half of the way from the first point to
  // the last (no threshold tuned to one run's curve), when the change happened at all.
  if (last.max_induction >= t.induction_threshold) {
    const double mid = (first.max_induction + last.max_induction) / 2;
    for (const auto& p : pts)
      if (p.max_induction >= mid) {
        s.induction_step = p.step;
        break;
      }
  }
  if (last.loss_second <= t.icl_threshold * std::log(static_cast<double>(t.vocab_size))) {
    const double mid = (first.loss_second + last.loss_second) / 2;
    for (const auto& p : pts)
      if (p.loss_second <= mid) {
        s.icl_step = p.step;
        break;
      }
  }
  if (s.induction_step >= 0 && s.icl_step >= 0 && total_steps > 0)
    s.lag_fraction = static_cast<double>(std::llabs(s.induction_step - s.icl_step)) / static_cast<double>(total_steps);
  return s;
}

}  // namespace lmlab::interp
