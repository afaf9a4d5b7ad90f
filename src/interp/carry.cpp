// Probe, steer and patch the carry of base-b addition: see carry.hpp.
#include "interp/carry.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "interp/interp.hpp"
#include "tasks/arithmetic.hpp"
#include "tasks/params.hpp"

namespace lmlab::interp {

const tasks::param_table<carry_task>& carry_params() {
  static const auto t = tasks::param_table<carry_task>("carry_probe")
        .add("base", &carry_task::base, "the base of the addition", 2, 36)
        .add("digits", &carry_task::digits, "digits of each operand (exactly)", 2, 12)
        .add("num_train", &carry_task::num_train, "training items of the arithmetic task", 1, 1e7)
        .add("num_test", &carry_task::num_test, "test items of the arithmetic task", 1, 1e6)
        .add("holdout", &carry_task::holdout, "share of the item space kept out of training", 0, 0.9)
        .add("probe_examples", &carry_task::probe_examples, "fresh items for the probes and the steering", 20, 1e6)
        .add("patch_pairs", &carry_task::patch_pairs, "clean/corrupted pairs in the patching grid", 1, 1e5)
        .add("max_scale", &carry_task::max_scale, "the largest steering scale (in class gaps); scales halve down to 1/8",
             0.125, 1e3);
  return t;
}

namespace {

char digit_char(int v) { return static_cast<char>(v < 10 ? '0' + v : 'A' + v - 10); }

tasks::arithmetic_config arith_config(const carry_task& t) {
  tasks::arithmetic_config c;
  c.bases = {t.base};
  c.min_digits = c.max_digits = t.digits;
  c.reverse_answer = true;
  c.num_train = t.num_train;
  c.num_test = t.num_test;
  c.holdout = t.holdout;
  return c;
}

std::int32_t digit_token(const tasks::dataset& ds, int v) { return ds.vocab.id(std::string(1, digit_char(v))); }

// An operand of exactly `digits` digits, least significant first.
std::vector<int> random_operand(rng& r, std::int64_t digits, int base) {
  std::vector<int> d(static_cast<std::size_t>(digits));
  for (auto& x : d) x = static_cast<int>(r.below(static_cast<std::uint64_t>(base)));
  d.back() = 1 + static_cast<int>(r.below(static_cast<std::uint64_t>(base - 1)));
  return d;
}

std::string to_text(const std::vector<int>& lsb_first) {
  std::string s;
  for (auto it = lsb_first.rbegin(); it != lsb_first.rend(); ++it) s += digit_char(*it);
  return s;
}

struct rendered {
  carry_item item;
  std::int64_t pos_plus = 0, pos_eq = 0;
};

rendered render_item(const tasks::dataset& ds, const carry_task& t, const std::vector<int>& a, const std::vector<int>& b) {
  const int base = static_cast<int>(t.base);
  const tasks::example ex = tasks::arithmetic_item(ds, arith_config(t), base, to_text(a), to_text(b));
  const auto find = [&](const char* tok) {
    const auto it = std::find(ex.input.begin(), ex.input.end(), ds.vocab.id(tok));
    LMLAB_CHECK(it != ex.input.end(), "carry_probe: no '{}' in a rendered item", tok);
    return static_cast<std::int64_t>(it - ex.input.begin());
  };
  rendered r;
  r.pos_plus = find("+");
  r.pos_eq = find("=");
  LMLAB_CHECK(r.pos_eq + 2 < static_cast<std::int64_t>(ex.input.size()), "carry_probe: an answer shorter than 2 digits");
  const int c1 = a[0] + b[0] >= base ? 1 : 0;
  const int s1 = (a[1] + b[1] + c1) % base;
  r.item.ids.assign(ex.input.begin(), ex.input.begin() + r.pos_eq + 2);
  r.item.carry = c1;
  r.item.type = static_cast<std::int64_t>(a[0]) * base + b[0];
  r.item.s0 = digit_token(ds, (a[0] + b[0]) % base);
  r.item.s1 = digit_token(ds, s1);
  r.item.other = digit_token(ds, (s1 + (c1 ? base - 1 : 1)) % base);
  LMLAB_CHECK(r.item.ids.back() == r.item.s0 && ex.input[static_cast<std::size_t>(r.pos_eq + 2)] == r.item.s1,
              "carry_probe: the rendered answer is not the reversed sum (reverse_answer off?)");
  return r;
}

tensor batch_of(const std::vector<std::vector<std::int32_t>>& rows) {
  const auto B = static_cast<std::int64_t>(rows.size());
  const auto T = static_cast<std::int64_t>(rows.front().size());
  std::vector<std::int32_t> v;
  for (const auto& r : rows) {
    LMLAB_CHECK(static_cast<std::int64_t>(r.size()) == T, "carry_probe: items of different lengths");
    v.insert(v.end(), r.begin(), r.end());
  }
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

tensor ids_of(const std::vector<carry_item>& items) {
  std::vector<std::vector<std::int32_t>> rows;
  for (const auto& it : items) rows.push_back(it.ids);
  return batch_of(rows);
}

double depth_of(const std::string& hook) {
  const double l = static_cast<double>(layer_of(hook));
  if (hook.ends_with("hook_resid_mid")) return l + 0.5;
  if (hook.ends_with("hook_resid_post")) return l + 1;
  return l;
}

}  // namespace

void check(const carry_task& t) {
  if (t.probe_examples < 20) throw tasks::param_error("probe_examples", "carry_probe: at least 20 probe examples");
}

nlohmann::json arithmetic_task_json(const carry_task& t) {
  return {{"name", "arithmetic"}, {"op", "add"},           {"bases", {t.base}},          {"min_digits", t.digits},
          {"max_digits", t.digits}, {"reverse_answer", true}, {"num_train", t.num_train}, {"num_test", t.num_test},
          {"holdout", t.holdout}};
}

std::vector<carry_item> carry_items(const tasks::dataset& ds, const carry_task& t, std::uint64_t seed, std::int64_t n,
                                    std::uint64_t stream) {
  rng r(seed ^ 0x6361727279ull, stream);
  std::vector<carry_item> out;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto a = random_operand(r, t.digits, static_cast<int>(t.base));
    const auto b = random_operand(r, t.digits, static_cast<int>(t.base));
    out.push_back(render_item(ds, t, a, b).item);
  }
  return out;
}

std::vector<std::pair<std::string, double>> residual_sites(const models::causal_lm& model) {
  const auto pre = match_hooks(model, "blocks.*.hook_resid_pre,blocks.*.hook_resid_mid");
  const auto post = match_hooks(model, "blocks.*.hook_resid_post");
  std::vector<std::pair<std::string, double>> out;
  for (const auto& h : pre) out.emplace_back(h, depth_of(h));
  out.emplace_back(post.back(), depth_of(post.back()));
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

std::vector<depth_probe> probe_carry(models::causal_lm& model, const std::vector<carry_item>& items, std::int64_t position,
                                     const probe_options& opt) {
  LMLAB_CHECK(!items.empty(), "carry_probe: no items to probe");
  const auto sites = residual_sites(model);
  std::vector<std::string> names;
  for (const auto& s : sites) names.push_back(s.first);
  const tensor ids = ids_of(items);
  const auto cache = cache_activations(model, ids, names);
  const std::int64_t N = ids.size(0), T = ids.size(1);
  const std::int64_t t = position < 0 ? T + position : position;
  LMLAB_CHECK(t >= 0 && t < T, "carry_probe: position {} outside items of length {}", position, T);
  std::vector<int> y;
  std::vector<std::int64_t> types;
  for (const auto& it : items) {
    y.push_back(it.carry);
    types.push_back(it.type);
  }
  std::vector<depth_probe> out;
  for (const auto& [hook, depth] : sites) {
    const tensor a = cache.at(hook).contiguous_raw();  // (N, T, C)
    const std::int64_t C = a.size(2);
    const auto all = a.to_vector();
    std::vector<double> X(static_cast<std::size_t>(N * C));
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) X[static_cast<std::size_t>(n * C + c)] = all[static_cast<std::size_t>((n * T + t) * C + c)];
    depth_probe p;
    p.hook = hook;
    p.depth = depth;
    p.position = position;
    p.result = probe_with_control(X, static_cast<std::size_t>(C), y, types, opt);
    p.direction.assign(static_cast<std::size_t>(C), 0.0);
    double norm = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      const double w = p.result.weights[static_cast<std::size_t>(C + c)] - p.result.weights[static_cast<std::size_t>(c)];
      p.direction[static_cast<std::size_t>(c)] = w;
      norm += w * w;
    }
    norm = std::sqrt(norm);
    if (norm > 0)
      for (auto& w : p.direction) w /= norm;
    double m[2] = {0, 0}, k[2] = {0, 0};
    for (std::int64_t n = 0; n < N; ++n) {
      double proj = 0;
      for (std::int64_t c = 0; c < C; ++c) proj += X[static_cast<std::size_t>(n * C + c)] * p.direction[static_cast<std::size_t>(c)];
      m[y[static_cast<std::size_t>(n)]] += proj;
      k[y[static_cast<std::size_t>(n)]] += 1;
    }
    p.gap = k[0] > 0 && k[1] > 0 ? m[1] / k[1] - m[0] / k[0] : 0.0;
    std::vector<double> mu[2] = {std::vector<double>(static_cast<std::size_t>(C), 0.0), std::vector<double>(static_cast<std::size_t>(C), 0.0)};
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) mu[y[static_cast<std::size_t>(n)]][static_cast<std::size_t>(c)] += X[static_cast<std::size_t>(n * C + c)];
    p.mean_direction.assign(static_cast<std::size_t>(C), 0.0);
    double mn = 0;
    for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
      const double d = k[0] > 0 && k[1] > 0 ? mu[1][c] / k[1] - mu[0][c] / k[0] : 0.0;
      p.mean_direction[c] = d;
      mn += d * d;
    }
    p.mean_gap = std::sqrt(mn);
    if (p.mean_gap > 0)
      for (auto& d : p.mean_direction) d /= p.mean_gap;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<steer_row> steer_carry(models::causal_lm& model, const std::vector<carry_item>& items, const depth_probe& at,
                                   const std::vector<double>& scales, std::uint64_t seed) {
  const tensor ids = ids_of(items);
  const auto C = at.direction.size();
  std::vector<double> random(C);
  rng r(seed ^ 0x72616e64ull, 0);
  double norm = 0;
  for (auto& x : random) {
    // Box-Muller: a Gaussian vector, so its direction is uniform on the sphere.
    const double u1 = std::max(r.uniform(), 1e-300), u2 = r.uniform();
    x = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    norm += x * x;
  }
  for (auto& x : random) x /= std::sqrt(norm);
  const auto N = static_cast<double>(items.size());
  auto score = [&](const tensor& logits, double& flip, double& acc) {
    const std::int64_t T = logits.size(1), V = logits.size(2);
    const tensor lg = logits.contiguous_raw();
    const float* p = lg.data<float>();
    flip = acc = 0;
    for (std::size_t b = 0; b < items.size(); ++b) {
      const float* row = p + (static_cast<std::int64_t>(b) * T + T - 1) * V;
      const auto am = static_cast<std::int32_t>(std::max_element(row, row + V) - row);
      flip += am == items[b].other;
      acc += am == items[b].s1;
    }
    flip /= N, acc /= N;
  };
  std::vector<steer_row> out;
  for (double s : scales) {
    std::vector<double> per_row;
    for (const auto& it : items) per_row.push_back((it.carry ? -1.0 : 1.0) * s * at.gap);
    steer_row row;
    row.scale = s;
    score(forward_adding_at(model, ids, at.hook, at.direction, per_row, at.position), row.flip_probe, row.acc_probe);
    score(forward_adding_at(model, ids, at.hook, random, per_row, at.position), row.flip_random, row.acc_random);
    if (!at.mean_direction.empty()) {
      std::vector<double> mean_rows;
      for (const auto& it : items) mean_rows.push_back((it.carry ? -1.0 : 1.0) * s * at.mean_gap);
      score(forward_adding_at(model, ids, at.hook, at.mean_direction, mean_rows, at.position), row.flip_mean, row.acc_mean);
    }
    out.push_back(row);
  }
  return out;
}

carry_patch patch_carry(models::causal_lm& model, const tasks::dataset& ds, const carry_task& t, std::uint64_t seed) {
  const int base = static_cast<int>(t.base);
  rng r(seed ^ 0x7061746368ull, 0);
  std::vector<std::vector<std::int32_t>> clean, corrupt;
  std::vector<std::int32_t> answers, wrongs;
  carry_patch out;
  while (static_cast<std::int64_t>(clean.size()) < t.patch_pairs) {
    const auto a = random_operand(r, t.digits, base);
    const auto b = random_operand(r, t.digits, base);
    if (b[0] == 0) continue;  // both carry values need an a0 with b0 >= 1
    auto a2 = a;
    const bool carry = a[0] + b[0] >= base;
    // a0' with the opposite carry: [0, base - b0) has none, [base - b0, base) has one.
    a2[0] = carry ? static_cast<int>(r.below(static_cast<std::uint64_t>(base - b[0])))
                  : base - b[0] + static_cast<int>(r.below(static_cast<std::uint64_t>(b[0])));
    const rendered c = render_item(ds, t, a, b), k = render_item(ds, t, a2, b);
    clean.push_back(c.item.ids);
    corrupt.push_back(k.item.ids);
    answers.push_back(c.item.s1);
    wrongs.push_back(k.item.s1);
    out.pos_a0 = c.pos_plus - 1;
    out.pos_b0 = c.pos_eq - 1;
    out.pos_s0 = c.pos_eq + 1;
  }
  const auto sites = residual_sites(model);
  std::vector<std::string> names;
  for (const auto& s : sites) names.push_back(s.first);
  const patch_result pr = patch_positions(
      model, batch_of(clean), batch_of(corrupt), [&](const tensor& lg) { return logit_diff_rows(lg, answers, wrongs); }, names);
  out.clean = pr.clean;
  out.corrupted = pr.corrupted;
  for (const auto& c : pr.cells) out.cells.push_back({depth_of(c.hook), c.index, c.effect});
  return out;
}

}  // namespace lmlab::interp
