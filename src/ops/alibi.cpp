// ALiBi slopes and FIRE's normalised distance (forward and backward): see alibi.hpp.
#include "ops/alibi.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"

namespace lmlab {

namespace {
// ref: Press et al. 2022 (ALiBi) sec. 3: geometric sequence starting at 2^(-8/n), ratio 2^(-8/n).
std::vector<double> slopes_power_of_two(std::int64_t n) {
  const double start = std::pow(2.0, -8.0 / static_cast<double>(n));
  std::vector<double> s(static_cast<std::size_t>(n));
  double v = start;
  for (auto& x : s) {
    x = v;
    v *= start;
  }
  return s;
}
}  // namespace

std::vector<double> alibi_slopes(std::int64_t n_heads) {
  LMLAB_CHECK(n_heads > 0, "alibi: n_heads must be > 0, got {}", n_heads);
  std::int64_t closest = 1;
  while (closest * 2 <= n_heads) closest *= 2;
  std::vector<double> s = slopes_power_of_two(closest);
  if (closest == n_heads) return s;
  // ref: the ALiBi authors' get_slopes for non-powers of two: interleave from the 2c sequence.
  const std::vector<double> extra = alibi_slopes(2 * closest);
  for (std::int64_t i = 0; i < n_heads - closest; ++i) s.push_back(extra[static_cast<std::size_t>(2 * i)]);
  return s;
}

tensor alibi_slopes_tensor(std::int64_t n_heads, dtype t) {
  const auto s = alibi_slopes(n_heads);
  tensor out = tensor::empty({n_heads}, t);
  dispatch_float(t, "alibi_slopes", [&]<class T>() {
    for (std::int64_t h = 0; h < n_heads; ++h) out.data<T>()[h] = static_cast<T>(s[static_cast<std::size_t>(h)]);
  });
  return out;
}

tensor fire_distance(const tensor& c, const tensor& L, std::int64_t T, std::int64_t q_offset) {
  LMLAB_CHECK(c.numel() == 1 && L.numel() == 1, "fire_distance: c and L must have one element each, got {} and {}",
              shape_str(c.shape()), shape_str(L.shape()));
  LMLAB_CHECK(c.type() == L.type(), "fire_distance: c is {}, L is {}", dtype_name(c.type()), dtype_name(L.type()));
  LMLAB_CHECK(T >= 0 && q_offset >= 0, "fire_distance: T {} and q_offset {} must be >= 0", T, q_offset);
  const double cv = c.item(), Lv = L.item();
  LMLAB_CHECK_HINT(cv > 0, "parametrise c as softplus(raw) or exp(raw)", "fire_distance: c must be > 0, got {}", cv);
  const std::int64_t S = q_offset + T;
  tensor out = tensor::zeros({T, S}, c.type());
  auto psi = [cv](double x) { return std::log(cv * x + 1.0); };  // ref: Li et al. 2023 eq. 5
  dispatch_float(c.type(), "fire_distance", [&]<class V>() {
    V* o = out.data<V>();
    for (std::int64_t r = 0; r < T; ++r) {
      const std::int64_t i = q_offset + r;
      const double den = psi(std::max(Lv, static_cast<double>(i)));
      for (std::int64_t j = 0; j < i; ++j) o[r * S + j] = static_cast<V>(psi(static_cast<double>(i - j)) / den);
    }
  });
  if (needs_grad({&c, &L})) {
    record("fire_distance", out, {c, L}, [cv, Lv, T, S, q_offset, ct = c.type(), cs = c.shape(), ls = L.shape()](const tensor& gy) {
      const std::vector<double> g = gy.to_vector();
      double gc = 0, gL = 0;
      for (std::int64_t r = 0; r < T; ++r) {
        const std::int64_t i = q_offset + r;
        const bool thresholded = Lv > static_cast<double>(i);
        const double m = thresholded ? Lv : static_cast<double>(i);
        const double pm = std::log(cv * m + 1.0);
        for (std::int64_t j = 0; j < i; ++j) {
          const double d = static_cast<double>(i - j), pd = std::log(cv * d + 1.0);
          const double go = g[static_cast<std::size_t>(r * S + j)];
          // f = pd / pm; d pd/dc = d/(cd+1); d pm/dc = m/(cm+1); d pm/dL = c/(cL+1) when L > i.
          gc += go * (d / (cv * d + 1.0) * pm - pd * m / (cv * m + 1.0)) / (pm * pm);
          if (thresholded) gL += go * (-pd / (pm * pm)) * cv / (cv * m + 1.0);
        }
      }
      return std::vector<tensor>{tensor::full(cs, gc, ct), tensor::full(ls, gL, ct)};
    });
  }
  return out;
}

}  // namespace lmlab
