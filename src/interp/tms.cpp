// Toy models of superposition: see tms.hpp.
#include "interp/tms.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::interp {

double tms_model::norm(std::int64_t i) const {
  double s = 0;
  for (std::int64_t j = 0; j < m; ++j) s += W[static_cast<std::size_t>(j * n + i)] * W[static_cast<std::size_t>(j * n + i)];
  return std::sqrt(s);
}

double tms_model::cosine(std::int64_t i, std::int64_t k) const {
  double s = 0;
  for (std::int64_t j = 0; j < m; ++j) s += W[static_cast<std::size_t>(j * n + i)] * W[static_cast<std::size_t>(j * n + k)];
  const double d = norm(i) * norm(k);
  return d > 0 ? s / d : 0.0;
}

double tms_model::dimensions_per_feature() const {
  double f = 0;
  for (double w : W) f += w * w;
  return f > 0 ? static_cast<double>(m) / f : std::numeric_limits<double>::infinity();
}

namespace {

tms_model train_one(const tms_config& c, std::uint64_t instance) {
  const auto n = static_cast<std::size_t>(c.n), m = static_cast<std::size_t>(c.m), B = static_cast<std::size_t>(c.batch);
  std::vector<double> imp = c.importance.empty() ? std::vector<double>(n, 1.0) : c.importance;
  tms_model t;
  t.n = c.n;
  t.m = c.m;
  t.W.resize(m * n);
  t.b.assign(n, 0.0);
  rng init(c.seed, 2 * instance);
  // Xavier-normal initialisation, as the paper's reference notebook.
  const double sd = std::sqrt(2.0 / static_cast<double>(m + n));
  for (auto& w : t.W) w = sd * init.normal();
  // Adam state over [W, b].
  const std::size_t P = m * n + n;
  std::vector<double> g(P), mo(P, 0.0), v(P, 0.0), x(n), h(m), y(n), dy(n), wdy(m);
  std::vector<std::size_t> active, touched;
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  rng data(c.seed, 2 * instance + 1);
  double tail = 0;
  std::int64_t tail_n = 0;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    std::fill(g.begin(), g.end(), 0.0);
    double loss = 0;
    for (std::size_t s = 0; s < B; ++s) {
      // Sparse features make most x_i and most dy_i exactly 0; their terms add exact zeros, so
      // the sums below skip them and give the same bits as the dense loops (features in their
      // hundreds at S >= 0.9 are what the dimensionality sweep needs).
      active.clear();
      for (std::size_t i = 0; i < n; ++i) {
        x[i] = data.uniform() < c.sparsity ? 0.0 : data.uniform();
        if (x[i] != 0.0) active.push_back(i);
      }
      // h = W x (m); y = Wᵀ h + b (n); x' = ReLU(y).
      for (std::size_t j = 0; j < m; ++j) {
        h[j] = 0;
        for (std::size_t i : active) h[j] += t.W[j * n + i] * x[i];
      }
      std::copy(t.b.begin(), t.b.end(), y.begin());
      for (std::size_t j = 0; j < m; ++j) {  // per i the same order over j as sum_j W[j][i] h[j]
        const double* wj = &t.W[j * n];
        const double hj = h[j];
        for (std::size_t i = 0; i < n; ++i) y[i] += wj[i] * hj;
      }
      touched.clear();  // i with dy_i != 0 or x_i != 0: the only columns with a gradient
      std::size_t a = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double out = std::max(0.0, y[i]), e = out - x[i];
        loss += imp[i] * e * e;
        // dL/dy_i = 2 I_i e_i [y_i > 0] / B.
        dy[i] = y[i] > 0 ? 2.0 * imp[i] * e / static_cast<double>(B) : 0.0;
        const bool in_x = a < active.size() && active[a] == i;
        if (in_x) ++a;
        if (in_x || dy[i] != 0.0) touched.push_back(i);
      }
      // y = Wᵀ (W x) + b: dW[j][i] += h_j dy_i + (W dy)_j x_i; db = dy.
      for (std::size_t j = 0; j < m; ++j) {
        wdy[j] = 0;
        for (std::size_t i : touched) wdy[j] += t.W[j * n + i] * dy[i];
      }
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t i : touched) g[j * n + i] += h[j] * dy[i] + wdy[j] * x[i];
      for (std::size_t i : touched) g[m * n + i] += dy[i];
    }
    loss /= static_cast<double>(B);
    if (step > c.steps - 100) tail += loss, ++tail_n;
    const double c1 = 1 - std::pow(b1, static_cast<double>(step)), c2 = 1 - std::pow(b2, static_cast<double>(step));
    for (std::size_t p = 0; p < P; ++p) {
      mo[p] = b1 * mo[p] + (1 - b1) * g[p];
      v[p] = b2 * v[p] + (1 - b2) * g[p] * g[p];
      const double upd = c.lr * (mo[p] / c1) / (std::sqrt(v[p] / c2) + eps);
      (p < m * n ? t.W[p] : t.b[p - m * n]) -= upd;
    }
  }
  t.loss = tail / static_cast<double>(std::max<std::int64_t>(1, tail_n));
  return t;
}

}  // namespace

tms_model train_tms(const tms_config& c) {
  LMLAB_CHECK(c.n >= 1 && c.m >= 1, "tms: n = {} and m = {} must be positive", c.n, c.m);
  LMLAB_CHECK(c.sparsity >= 0 && c.sparsity < 1, "tms: sparsity {} must lie in [0, 1)", c.sparsity);
  LMLAB_CHECK(c.importance.empty() || static_cast<std::int64_t>(c.importance.size()) == c.n,
              "tms: {} importances for {} features", c.importance.size(), c.n);
  LMLAB_CHECK(c.steps >= 1 && c.batch >= 1 && c.instances >= 1, "tms: steps, batch and instances must be positive");
  tms_model best;
  for (std::int64_t k = 0; k < c.instances; ++k) {
    tms_model t = train_one(c, static_cast<std::uint64_t>(k));
    if (k == 0 || t.loss < best.loss) best = std::move(t);
  }
  return best;
}

}  // namespace lmlab::interp
