// Chinchilla-style scaling-law fit: see fit.hpp.
#include "plan/fit.hpp"

#include <lbfgs.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace lmlab::plan {

std::vector<observation> read_observations(const std::string& path) {
  const std::string text = read_text_file(path);
  std::istringstream in(text);
  std::string line;
  int lineno = 0, cn = -1, cd = -1, cl = -1;
  std::vector<observation> out;
  auto split = [](const std::string& s) {
    std::vector<std::string> v;
    std::string cur;
    std::istringstream ss(s);
    while (std::getline(ss, cur, ',')) {
      cur.erase(0, cur.find_first_not_of(" \t\r"));
      cur.erase(cur.find_last_not_of(" \t\r") + 1);
      v.push_back(cur);
    }
    return v;
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    auto f = split(line);
    if (cn < 0) {
      for (int i = 0; i < static_cast<int>(f.size()); ++i) {
        std::string k = f[i];
        std::transform(k.begin(), k.end(), k.begin(), ::tolower);
        if (k == "n" || k == "params" || k == "parameters") cn = i;
        if (k == "d" || k == "tokens") cd = i;
        if (k == "loss" || k == "l") cl = i;
      }
      LMLAB_CHECK_HINT(cn >= 0 && cd >= 0 && cl >= 0, "the header names the columns N, D and loss",
                       "{}:{}: header must name columns N (params), D (tokens) and loss", path, lineno);
      continue;
    }
    observation o;
    auto num = [&](int col, const char* what) {
      LMLAB_CHECK(col < static_cast<int>(f.size()), "{}:{}: missing column {}", path, lineno, what);
      char* end = nullptr;
      const double v = std::strtod(f[col].c_str(), &end);
      LMLAB_CHECK_HINT(end && *end == '\0' && std::isfinite(v) && v > 0, "values are positive numbers",
                       "{}:{}: {} '{}' is not a positive number", path, lineno, what, f[col]);
      return v;
    };
    o.n = num(cn, "N"), o.d = num(cd, "D"), o.loss = num(cl, "loss");
    out.push_back(o);
  }
  LMLAB_CHECK_HINT(out.size() >= 5, "a fit of 5 constants needs at least 5 runs, better dozens",
                   "{}: only {} observations", path, out.size());
  return out;
}

double huber_objective(const std::vector<observation>& obs, const double* x, double delta, double* grad) {
  const double a = x[0], b = x[1], e = x[2], al = x[3], be = x[4];
  double total = 0;
  if (grad) std::fill(grad, grad + 5, 0.0);
  for (const auto& o : obs) {
    const double ln = std::log(o.n), ld = std::log(o.d);
    const double z1 = a - al * ln, z2 = b - be * ld, z3 = e;
    const double zmax = std::max({z1, z2, z3});
    const double s1 = std::exp(z1 - zmax), s2 = std::exp(z2 - zmax), s3 = std::exp(z3 - zmax), s = s1 + s2 + s3;
    const double lse = zmax + std::log(s);  // ref: Hoffmann et al. 2022, eq. (3)
    const double r = lse - std::log(o.loss);
    const double ar = std::abs(r);
    total += ar <= delta ? 0.5 * r * r : delta * (ar - 0.5 * delta);  // Huber(δ)
    if (grad) {
      const double dr = ar <= delta ? r : delta * (r > 0 ? 1.0 : -1.0);
      const double w1 = s1 / s, w2 = s2 / s, w3 = s3 / s;
      grad[0] += dr * w1;
      grad[1] += dr * w2;
      grad[2] += dr * w3;
      grad[3] += dr * -w1 * ln;
      grad[4] += dr * -w2 * ld;
    }
  }
  return total;
}

namespace {

struct problem {
  const std::vector<observation>* obs;
  double delta;
};

lbfgsfloatval_t evaluate(void* inst, const lbfgsfloatval_t* x, lbfgsfloatval_t* g, const int, const lbfgsfloatval_t) {
  const auto* p = static_cast<const problem*>(inst);
  return huber_objective(*p->obs, x, p->delta, g);
}

// One L-BFGS run from x (in place); returns the objective at the end (liblbfgs keeps the best
// point it reached even when the line search stops on a rounding error).
double run_lbfgs(const std::vector<observation>& obs, double delta, double* x) {
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.epsilon = 1e-10;
  param.max_iterations = 2000;
  param.linesearch = LBFGS_LINESEARCH_BACKTRACKING_STRONG_WOLFE;
  param.max_linesearch = 60;
  problem p{&obs, delta};
  lbfgsfloatval_t* v = lbfgs_malloc(5);
  std::copy(x, x + 5, v);
  lbfgsfloatval_t fx = 0;
  lbfgs(5, v, &fx, evaluate, nullptr, &p, &param);
  const double f = huber_objective(obs, v, delta, nullptr);
  std::copy(v, v + 5, x);
  lbfgs_free(v);
  return f;
}

struct candidate {
  double f;
  std::array<double, 5> x;
};

std::vector<candidate> grid_fit(const std::vector<observation>& obs, const fit_options& o,
                                const std::vector<std::array<double, 5>>& inits) {
  std::vector<candidate> out;
  out.reserve(inits.size());
  for (auto x : inits) {
    const double f = run_lbfgs(obs, o.delta, x.data());
    if (std::isfinite(f) && x[3] > 0 && x[4] > 0) out.push_back({f, x});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.f < b.f; });
  return out;
}

loss_fit to_fit(const std::array<double, 5>& x) {
  return {"fitted", std::exp(x[2]), std::exp(x[0]), std::exp(x[1]), x[3], x[4], "lmlab plan fit"};
}

}  // namespace

fit_result fit_scaling_law(const std::vector<observation>& obs, const fit_options& o) {
  LMLAB_CHECK_HINT(obs.size() >= 5, "a fit of 5 constants needs at least 5 runs", "plan fit: only {} observations",
                   obs.size());
  // ref: Hoffmann et al. 2022, Appendix D.2: alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1},
  // a, b in {0, 5, ..., 25}.
  std::vector<double> ab = {0, 0.5, 1, 1.5, 2}, es = {-1, -0.5, 0, 0.5, 1}, ls = {0, 5, 10, 15, 20, 25};
  if (o.coarse_grid) ab = {0.25, 0.75}, es = {-0.5, 0.5}, ls = {2, 8, 16};
  std::vector<std::array<double, 5>> inits;
  for (double al : ab)
    for (double be : ab)
      for (double e : es)
        for (double a : ls)
          for (double b : ls) inits.push_back({a, b, e, al, be});
  auto cands = grid_fit(obs, o, inits);
  LMLAB_CHECK_HINT(!cands.empty(), "check that loss falls with N and D in the data", "plan fit: no initialisation converged");
  fit_result r;
  r.fit = to_fit(cands.front().x);
  r.objective = cands.front().f;
  r.inits = static_cast<int>(inits.size());
  if (o.bootstrap <= 0) return r;

  // Bootstrap: resample runs with replacement, refit from the 8 best full-data optima.
  std::vector<std::array<double, 5>> starts;
  for (std::size_t i = 0; i < std::min<std::size_t>(8, cands.size()); ++i) starts.push_back(cands[i].x);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<std::size_t> pick(0, obs.size() - 1);
  std::vector<std::array<double, 7>> samples;
  for (int bi = 0; bi < o.bootstrap; ++bi) {
    std::vector<observation> re(obs.size());
    for (auto& x : re) x = obs[pick(rng)];
    auto c = grid_fit(re, o, starts);
    if (c.empty()) continue;
    const auto f = to_fit(c.front().x);
    samples.push_back({f.E, f.A, f.B, f.alpha, f.beta, f.a(), f.b()});
  }
  r.bootstrap_ok = static_cast<int>(samples.size());
  if (samples.empty()) return r;
  auto interval = [&](int k) {
    std::vector<double> v;
    for (const auto& s : samples) v.push_back(s[k]);
    std::sort(v.begin(), v.end());
    const double lo_q = (1.0 - o.ci) / 2.0, hi_q = 1.0 - lo_q;
    auto q = [&](double p) {
      const double pos = p * (v.size() - 1);
      const auto i = static_cast<std::size_t>(std::floor(pos));
      const double frac = pos - i;
      return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
    };
    return fit_result::interval{q(lo_q), q(hi_q)};
  };
  r.E = interval(0), r.A = interval(1), r.B = interval(2), r.alpha = interval(3), r.beta = interval(4);
  r.a = interval(5), r.b = interval(6);
  return r;
}

}  // namespace lmlab::plan
