// Toy models of superposition: n sparse features through m < n hidden dimensions and back.
// ref: Elhage et al. 2022, "Toy Models of Superposition", sec. 2 ("Demonstrating
// Superposition"): x' = ReLU(Wᵀ W x + b), W (m, n), b (n); each feature x_i is 0 with
// probability S (the sparsity) and uniform on [0, 1] otherwise; the loss is the
// importance-weighted squared error sum_i I_i (x_i - x'_i)^2, averaged over the batch.
// Trained with Adam on fresh batches; several instances from different seeds, the lowest final
// loss kept (as the paper trains many instances). Small enough for exact hand-written
// gradients; the autograd engine is not needed.
// Not for: SAEs (sae.hpp) or superposition in lab models (not built yet; docs/interp.md).
#pragma once

#include <cstdint>
#include <vector>

namespace lmlab::interp {

struct tms_config {
  std::int64_t n = 5, m = 2;
  double sparsity = 0.0;            // S: probability a feature is 0
  std::vector<double> importance;   // I_i; empty = all 1
  std::int64_t steps = 3000, batch = 256, instances = 4;
  double lr = 1e-2;
  std::uint64_t seed = 0;
};

struct tms_model {
  std::int64_t n = 0, m = 0;
  std::vector<double> W, b;  // (m, n) row-major, (n)
  double loss = 0;           // final training loss (mean over the last 100 steps)
  // ‖W_i‖, the norm of feature i's column.
  double norm(std::int64_t i) const;
  // cos(W_i, W_j).
  double cosine(std::int64_t i, std::int64_t j) const;
  // Dimensions per feature, ref: Elhage et al. 2022 sec. "Feature Dimensionality":
  // D* = m / ‖W‖_F^2.
  double dimensions_per_feature() const;
};

tms_model train_tms(const tms_config& c);

}  // namespace lmlab::interp
