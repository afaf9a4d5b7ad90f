// RoPE frequency rules, cos/sin cache, apply_rotary forward/backward, sinusoidal table.
// ref for the rules: Hugging Face transformers, src/transformers/modeling_rope_utils.py
// (_compute_default/linear_scaling/dynamic_ntk/ntk/yarn/llama3_parameters). Reimplemented
// from the equations; scripts/ref/rope_ref.py prints the same numbers for the tests.
#include "ops/rope.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "core/enum_names.hpp"

namespace lmlab {

namespace {
constexpr enum_name<rope_type> k_rope_types[] = {{rope_type::default_rope, "default"}, {rope_type::linear, "linear"},
                                                 {rope_type::dynamic, "dynamic"},       {rope_type::ntk, "ntk"},
                                                 {rope_type::yarn, "yarn"},             {rope_type::llama3, "llama3"}};
}  // namespace

rope_type parse_rope_type(std::string_view name) {
  if (const auto t = value_named(k_rope_types, name)) return *t;
  throw error(fmt::format("rope_scaling.rope_type: unknown value '{}'", name),
              "use one of default, linear, dynamic, ntk, yarn, llama3");
}

const char* rope_type_name(rope_type t) { return name_of(k_rope_types, t); }

namespace {

// ref: Su et al. 2021 (RoFormer) eq. 15: theta_i = base^(-2i/d), i = 0..d/2-1.
std::vector<double> default_inv_freq(double base, std::int64_t dim) {
  std::vector<double> f(static_cast<std::size_t>(dim / 2));
  for (std::int64_t i = 0; i < dim / 2; ++i) f[static_cast<std::size_t>(i)] = 1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(dim));
  return f;
}

// YaRN's attention temperature. ref: Peng et al. 2023 (YaRN) eq. 22, sqrt(1/t) = 0.1 ln(s) + 1.
double yarn_get_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// The dimension index whose wavelength completes `num_rotations` turns over `max_pos` tokens.
// ref: Peng et al. 2023 (YaRN) eq. 17 solved for d (HF's find_correction_dim).
double yarn_correction_dim(double num_rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (num_rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

}  // namespace

// Long (~90 lines) on purpose: one case per Hugging Face rope_type, side by side in the order
// of transformers' modeling_rope_utils.py, so each can be checked against its rule.
rope_params rope_parameters(const rope_config& cfg, std::int64_t seq_len) {
  LMLAB_CHECK_HINT(cfg.dim >= 2 && cfg.dim % 2 == 0, "set head_dim (times partial_rotary_factor) to an even number",
                   "rope: rotary dim must be even and >= 2, got {}", cfg.dim);
  LMLAB_CHECK(cfg.theta > 1.0, "rope: rope_theta must be > 1, got {}", cfg.theta);
  const bool scaled = cfg.type != rope_type::default_rope;
  LMLAB_CHECK_HINT(!scaled || cfg.factor > 0, "rope_scaling.factor is the context extension ratio, e.g. 4.0",
                   "rope_scaling.factor: must be > 0 for rope_type '{}', got {}", rope_type_name(cfg.type), cfg.factor);
  const double dim = static_cast<double>(cfg.dim);
  rope_params p;
  switch (cfg.type) {
    case rope_type::default_rope:
      p.inv_freq = default_inv_freq(cfg.theta, cfg.dim);
      break;
    case rope_type::linear:
      // ref: Chen et al. 2023 (Position Interpolation) eq. 4: positions m -> m / factor.
      p.inv_freq = default_inv_freq(cfg.theta, cfg.dim);
      for (double& f : p.inv_freq) f /= cfg.factor;
      break;
    case rope_type::dynamic: {
      // ref: emozilla's dynamic NTK (HF _compute_dynamic_ntk_parameters): the base grows with the
      // current length once it exceeds the trained context.
      LMLAB_CHECK(cfg.max_position_embeddings > 0, "rope: dynamic scaling needs max_position_embeddings > 0");
      const double mp = static_cast<double>(cfg.max_position_embeddings);
      const double len = seq_len > cfg.max_position_embeddings ? static_cast<double>(seq_len) : mp;
      const double base = cfg.theta * std::pow(cfg.factor * len / mp - (cfg.factor - 1.0), dim / (dim - 2.0));
      p.inv_freq = default_inv_freq(base, cfg.dim);
      break;
    }
    case rope_type::ntk: {
      // ref: bloc97's NTK-aware scaling: base' = base * factor^(d/(d-2)).
      const double base = cfg.theta * std::pow(cfg.factor, dim / (dim - 2.0));
      p.inv_freq = default_inv_freq(base, cfg.dim);
      break;
    }
    case rope_type::yarn: {
      // ref: Peng et al. 2023 (YaRN) sec. 3.2 "NTK-by-parts" ramp and eq. 22 temperature.
      const double mp = static_cast<double>(cfg.original_max_position_embeddings > 0 ? cfg.original_max_position_embeddings
                                                                                     : cfg.max_position_embeddings);
      LMLAB_CHECK(mp > 0, "rope: yarn needs max_position_embeddings > 0");
      if (cfg.attention_factor > 0) {
        p.attention_factor = cfg.attention_factor;
      } else if (cfg.mscale != 0 && cfg.mscale_all_dim != 0) {
        p.attention_factor = yarn_get_mscale(cfg.factor, cfg.mscale) / yarn_get_mscale(cfg.factor, cfg.mscale_all_dim);
      } else {
        p.attention_factor = yarn_get_mscale(cfg.factor, 1.0);
      }
      double low = yarn_correction_dim(cfg.beta_fast, dim, cfg.theta, mp);
      double high = yarn_correction_dim(cfg.beta_slow, dim, cfg.theta, mp);
      if (cfg.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, dim - 1.0);
      if (low == high) high += 0.001;  // HF: avoids a zero-width ramp
      const auto half = static_cast<std::size_t>(cfg.dim / 2);
      p.inv_freq.resize(half);
      for (std::size_t i = 0; i < half; ++i) {
        const double pos_freq = std::pow(cfg.theta, static_cast<double>(2 * i) / dim);
        const double extrap = 1.0 / pos_freq, interp = 1.0 / (cfg.factor * pos_freq);
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double extrap_w = 1.0 - ramp;  // 1 for high-frequency dims (kept), 0 for low (interpolated)
        p.inv_freq[i] = interp * (1.0 - extrap_w) + extrap * extrap_w;
      }
      break;
    }
    case rope_type::llama3: {
      // ref: Meta Llama 3.1 rope scaling (HF _compute_llama3_parameters): wavelengths longer
      // than old_ctx/low_freq_factor are divided by factor, shorter than old_ctx/high_freq_factor
      // kept, and a linear blend in between.
      LMLAB_CHECK_HINT(cfg.original_max_position_embeddings > 0, "Llama 3.1 uses 8192",
                       "rope_scaling.original_max_position_embeddings: required for rope_type 'llama3'");
      LMLAB_CHECK(cfg.high_freq_factor > cfg.low_freq_factor,
                  "rope_scaling.high_freq_factor: must exceed low_freq_factor ({} vs {})", cfg.high_freq_factor, cfg.low_freq_factor);
      const double old_ctx = static_cast<double>(cfg.original_max_position_embeddings);
      const double low_wl = old_ctx / cfg.low_freq_factor, high_wl = old_ctx / cfg.high_freq_factor;
      p.inv_freq = default_inv_freq(cfg.theta, cfg.dim);
      for (double& f : p.inv_freq) {
        const double wl = 2.0 * std::numbers::pi / f;
        if (wl > low_wl) {
          f = f / cfg.factor;
        } else if (wl >= high_wl) {
          const double smooth = (old_ctx / wl - cfg.low_freq_factor) / (cfg.high_freq_factor - cfg.low_freq_factor);
          f = (1.0 - smooth) * f / cfg.factor + smooth * f;
        }
      }
      break;
    }
  }
  return p;
}

rope_cache rope_build_cache(const rope_params& p, std::int64_t n_pos, std::int64_t first) {
  LMLAB_CHECK(n_pos >= 0 && first >= 0 && first <= n_pos, "rope: need 0 <= first <= n_pos, got first {} and n_pos {}",
              first, n_pos);
  rope_cache c;
  c.n_pos = n_pos;
  c.first = first;
  c.half = static_cast<std::int64_t>(p.inv_freq.size());
  c.cos.resize(static_cast<std::size_t>((n_pos - first) * c.half));
  c.sin.resize(c.cos.size());
  for (std::int64_t t = first; t < n_pos; ++t)
    for (std::int64_t i = 0; i < c.half; ++i) {
      const double a = static_cast<double>(t) * p.inv_freq[static_cast<std::size_t>(i)];
      c.cos[static_cast<std::size_t>((t - first) * c.half + i)] = std::cos(a) * p.attention_factor;
      c.sin[static_cast<std::size_t>((t - first) * c.half + i)] = std::sin(a) * p.attention_factor;
    }
  return c;
}

namespace {

// A (B, H, T, D) tensor's rows as pointers: row (b, h, t) at p + b*s[0] + h*s[1] + t*s[2], its
// D features contiguous. Transposed (B, T, H, D) views are read in place.
struct row_view {
  std::int64_t B, H, T;
  std::array<std::int64_t, 3> s;
};
row_view rows_of(const tensor& x) {
  return {x.size(0), x.size(1), x.size(2), {x.strides()[0], x.strides()[1], x.strides()[2]}};
}
bool rows_readable(const tensor& x) { return x.size(3) <= 1 || x.strides()[3] == 1; }

// x -> y (both as row views); sign = +1 rotates forward, -1 applies the transpose (backward).
// Pair i of a row: half_split (i, i+R/2), interleaved (2i, 2i+1). The cos/sin of the rows'
// positions are rounded to T once per call (the same values the per-element cast gave), so the
// half-split loop is a plain vector loop.
template <class T>
void rotate_kernel(const T* x, const row_view& xv, T* y, const row_view& yv, std::int64_t D, const rope_cache& c,
                   std::int64_t pos_offset, rotary_layout layout, double sign) {
  const std::int64_t half = c.half, R = 2 * half, T_len = xv.T, rows = xv.B * xv.H * xv.T;
  std::vector<T> co(static_cast<std::size_t>(T_len * half)), si(co.size());
  for (std::int64_t t = 0; t < T_len; ++t)
    for (std::int64_t i = 0; i < half; ++i) {
      const std::size_t src = static_cast<std::size_t>((pos_offset + t - c.first) * half + i);
      co[static_cast<std::size_t>(t * half + i)] = static_cast<T>(c.cos[src]);
      si[static_cast<std::size_t>(t * half + i)] = static_cast<T>(sign * c.sin[src]);
    }
  // (b, h) outer and t inner: three integer divisions per row of 8-32 values cost more than
  // the row's rotation (issue 21: 3.5% of a SCAN step).
#pragma omp parallel for if (rows * D > 32768)
  for (std::int64_t bh = 0; bh < xv.B * xv.H; ++bh) {
    const std::int64_t h = bh % xv.H, b = bh / xv.H;
    for (std::int64_t t = 0; t < T_len; ++t) {
      const T* xr = x + b * xv.s[0] + h * xv.s[1] + t * xv.s[2];
      T* yr = y + b * yv.s[0] + h * yv.s[1] + t * yv.s[2];
      const T* cs = co.data() + t * half;
      const T* sn = si.data() + t * half;
      if (layout == rotary_layout::half_split) {
#pragma omp simd
        for (std::int64_t i = 0; i < half; ++i) {
          const T x1 = xr[i], x2 = xr[i + half];
          yr[i] = x1 * cs[i] - x2 * sn[i];  // y = x*cos + rotate_half(x)*sin
          yr[i + half] = x2 * cs[i] + x1 * sn[i];
        }
      } else {
        for (std::int64_t i = 0; i < half; ++i) {
          const T x1 = xr[2 * i], x2 = xr[2 * i + 1];
          yr[2 * i] = x1 * cs[i] - x2 * sn[i];
          yr[2 * i + 1] = x2 * cs[i] + x1 * sn[i];
        }
      }
      for (std::int64_t i = R; i < D; ++i) yr[i] = xr[i];
    }
  }
}

}  // namespace

tensor apply_rotary(const tensor& x, const rope_cache& cache, std::int64_t pos_offset, rotary_layout layout) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(x.dim() == 4, "apply_rotary: x must be (B, H, T, D), got {}", shape_str(x.shape()));
  const std::int64_t T_len = x.size(2), D = x.size(3);
  LMLAB_CHECK_HINT(2 * cache.half <= D, "build the cache from rope_parameters with dim <= head_dim",
                   "apply_rotary: rotary dim {} exceeds head dim {}", 2 * cache.half, D);
  LMLAB_CHECK_HINT(pos_offset >= cache.first && pos_offset + T_len <= cache.n_pos,
                   "build the rope cache for the longest context you evaluate",
                   "apply_rotary: positions [{}, {}) are outside the cache of positions [{}, {})", pos_offset,
                   pos_offset + T_len, cache.first, cache.n_pos);
  const tensor xc = rows_readable(x) ? x : x.contiguous_raw();
  tensor y = tensor::empty(x.shape(), x.type());
  dispatch_float(x.type(), "apply_rotary", [&]<class T>() {
    rotate_kernel<T>(xc.data<T>(), rows_of(xc), y.data<T>(), rows_of(y), D, cache, pos_offset, layout, 1.0);
  });
  if (needs_grad({&x})) {
    // The cache is captured by value: callers may rebuild theirs (dynamic NTK) before backward.
    record("apply_rotary", y, {x}, [cache, pos_offset, layout, D](const tensor& gy) {
      const tensor gc = rows_readable(gy) ? gy : gy.contiguous_raw();
      tensor gx = tensor::empty(gy.shape(), gy.type());
      dispatch_float(gy.type(), "apply_rotary", [&]<class T>() {
        rotate_kernel<T>(gc.data<T>(), rows_of(gc), gx.data<T>(), rows_of(gx), D, cache, pos_offset, layout, -1.0);
      });
      return std::vector<tensor>{gx};
    });
  }
  return y;
}

tensor sinusoidal_table(std::int64_t n_pos, std::int64_t d_model, double base, dtype t) {
  LMLAB_CHECK(n_pos >= 0 && d_model > 0 && d_model % 2 == 0, "sinusoidal_table: need n_pos >= 0 and an even d_model > 0, got {} x {}",
              n_pos, d_model);
  tensor out = tensor::empty({n_pos, d_model}, t);
  dispatch_float(t, "sinusoidal_table", [&]<class T>() {
    T* o = out.data<T>();
    for (std::int64_t p = 0; p < n_pos; ++p)
      for (std::int64_t i = 0; i < d_model / 2; ++i) {
        // ref: Vaswani et al. 2017 sec. 3.5.
        const double a = static_cast<double>(p) / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(d_model));
        o[p * d_model + 2 * i] = static_cast<T>(std::sin(a));
        o[p * d_model + 2 * i + 1] = static_cast<T>(std::cos(a));
      }
  });
  return out;
}

}  // namespace lmlab
