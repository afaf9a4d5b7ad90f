// The AuxK auxiliary loss of TopK SAEs (sae.hpp, sae_aux_loss): the dead latents with the
// largest pre-activations are asked to reconstruct the main reconstruction's error, so that
// they receive gradient and come back to life.
// ref: Gao et al. 2024, "Scaling and evaluating sparse autoencoders", sec. 2.4 and A.2.
// Not for: the main loss (sae.cpp), deciding which latents are dead (train_sae).
#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "interp/sae.hpp"

namespace lmlab::interp {

double sae_aux_loss(const sae& s, const std::vector<double>& X, const std::vector<double>& E, std::int64_t B,
                    const std::vector<std::uint8_t>& dead, std::int64_t k_aux, std::vector<double>* grad) {
  const auto D = static_cast<std::size_t>(s.d_in), M = static_cast<std::size_t>(s.d_sae);
  LMLAB_CHECK(B > 0 && X.size() == static_cast<std::size_t>(B) * D && E.size() == X.size(),
              "sae aux: {} inputs and {} residuals for {} rows of {}", X.size(), E.size(), B, D);
  LMLAB_CHECK(dead.size() == M && k_aux >= 1, "sae aux: {} dead flags for {} latents, k_aux {}", dead.size(), M, k_aux);
  const std::size_t off_benc = M * D, off_dec = off_benc + M, off_bdec = off_dec + M * D;
  if (grad) grad->assign(off_bdec + D, 0.0);
  std::vector<std::size_t> cand;
  for (std::size_t j = 0; j < M; ++j)
    if (dead[j]) cand.push_back(j);
  const std::size_t keep = std::min(cand.size(), static_cast<std::size_t>(k_aux));
  std::vector<double> pre(M), r(D);
  std::vector<std::size_t> order;
  const double inv_b = 1.0 / static_cast<double>(B);
  double loss = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    const double* x = X.data() + static_cast<std::size_t>(b) * D;
    const double* e = E.data() + static_cast<std::size_t>(b) * D;
    s.pre_activations(x, pre.data());
    // The k_aux dead latents with the largest pre-activations (ties: the lower index), ReLU.
    order = cand;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                      [&](std::size_t a, std::size_t c) { return pre[a] != pre[c] ? pre[a] > pre[c] : a < c; });
    // r = e_hat - e, e_hat = sum_j ReLU(pre_j) d_j.
    for (std::size_t i = 0; i < D; ++i) r[i] = -e[i];
    for (std::size_t q = 0; q < keep; ++q) {
      const std::size_t j = order[q];
      if (pre[j] <= 0) continue;
      for (std::size_t i = 0; i < D; ++i) r[i] += pre[j] * s.W_dec[j * D + i];
    }
    // Normalised per row by ||E_b||^2 (a constant), as Gao et al.'s normalised MSE.
    double en = 0;
    for (std::size_t i = 0; i < D; ++i) en += e[i] * e[i];
    if (en <= 0) continue;  // nothing left to explain in this row
    const double w = inv_b / en;
    for (std::size_t i = 0; i < D; ++i) loss += r[i] * r[i] * w;
    if (!grad) continue;
    auto& g = *grad;
    for (std::size_t q = 0; q < keep; ++q) {
      const std::size_t j = order[q];
      if (pre[j] <= 0) continue;  // ReLU: no path
      // d/d d_j = 2 w a_j r; d/d pre_j = 2 w d_j . r, then through pre = W_enc (x - b_dec) + b_enc.
      double dpre = 0;
      for (std::size_t i = 0; i < D; ++i) {
        g[off_dec + j * D + i] += 2 * w * pre[j] * r[i];
        dpre += 2 * w * s.W_dec[j * D + i] * r[i];
      }
      g[off_benc + j] += dpre;
      for (std::size_t i = 0; i < D; ++i) {
        g[j * D + i] += dpre * (x[i] - s.b_dec[i]);
        g[off_bdec + i] -= dpre * s.W_enc[j * D + i];
      }
    }
  }
  return loss;
}

}  // namespace lmlab::interp
