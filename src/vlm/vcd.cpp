// Visual contrastive decoding: see vcd.hpp.
#include "vlm/vcd.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::vlm {

tensor vcd_logits(const tensor& logits, const tensor& distorted, double alpha, double beta) {
  LMLAB_CHECK(logits.dim() == 2 && logits.shape() == distorted.shape(), "vcd: logits must be (N, V) for both images, got {} and {}",
              shape_str(logits.shape()), shape_str(distorted.shape()));
  LMLAB_CHECK(alpha >= 0 && beta >= 0 && beta <= 1, "vcd: alpha >= 0 and beta in [0, 1] expected, got {} and {}", alpha, beta);
  const std::int64_t N = logits.size(0), V = logits.size(1);
  const std::vector<double> l = logits.to_vector(), d = distorted.to_vector();
  std::vector<double> out(l.size());
  for (std::int64_t n = 0; n < N; ++n) {
    const double* ln = l.data() + n * V;
    const double mx = *std::max_element(ln, ln + V);
    // p(y) >= beta max p  <=>  l(y) - max l >= log beta (the softmax normaliser cancels).
    const double cut = beta > 0 ? std::log(beta) : -std::numeric_limits<double>::infinity();
    for (std::int64_t y = 0; y < V; ++y) {
      const auto i = static_cast<std::size_t>(n * V + y);
      out[i] = ln[y] - mx >= cut ? (1 + alpha) * l[i] - alpha * d[i] : -std::numeric_limits<double>::infinity();
    }
  }
  return tensor::from<double>({N, V}, std::span<const double>(out));
}

double ddpm_alpha_bar(std::int64_t t) {
  LMLAB_CHECK(t >= 0 && t <= 1000, "vcd: noise step {} is outside [0, 1000]", t);
  double a = 1;
  // ref: Ho et al. 2020 sec. 4: beta_t linear from 1e-4 to 0.02 over T = 1000; abar_t = prod (1 - beta_s).
  for (std::int64_t s = 1; s <= t; ++s) a *= 1 - (1e-4 + (0.02 - 1e-4) * static_cast<double>(s - 1) / 999.0);
  return a;
}

tensor diffuse(const tensor& image, std::int64_t t, std::uint64_t seed, std::uint64_t stream) {
  const double ab = ddpm_alpha_bar(t), a = std::sqrt(ab), b = std::sqrt(1 - ab);
  tensor out = image.contiguous_raw().to_raw(dtype::f32);
  rng g(seed, stream);
  float* p = out.data<float>();
  for (std::int64_t i = 0; i < out.numel(); ++i) p[i] = static_cast<float>(a * p[i] + b * g.normal());
  return out;
}

}  // namespace lmlab::vlm
