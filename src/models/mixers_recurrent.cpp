// The recurrent mixers of the zoo, each with a parallel/scan forward and a recurrent step:
// Mamba (Gu & Dao 2023), Griffin's recurrent block with RG-LRU (De et al. 2024), RWKV-4
// time-mix and channel-mix (Peng et al. 2023), RetNet multi-scale retention (Sun et al. 2023).
// Kernels: ops/scan.hpp, ops/rglru.hpp, ops/wkv.hpp, ops/retention.hpp (their calling
// conventions are followed here: A = -exp(A_log), delta = softplus(.), w = -exp(time_decay),
// r and i already sigmoid-ed, q/k scaled and rotated before retention, GroupNorm after).
// Not for: attention and the FFNs (mixer.cpp), the stack (lm.cpp).
#include <cmath>

#include "autograd/autograd.hpp"
#include "models/mixer_impl.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"
#include "ops/retention.hpp"
#include "ops/rglru.hpp"
#include "ops/rope.hpp"
#include "ops/scan.hpp"
#include "ops/wkv.hpp"

namespace lmlab::models {

namespace {

tensor col(const tensor& x, std::int64_t start, std::int64_t len) {  // last-dim slice, contiguous
  return contiguous(narrow(x, x.dim() - 1, start, len));
}

// Previous token's x (zeros before the first): RWKV's token shift. x (B,T,C) -> (B,T,C).
tensor token_shift(const tensor& x) {
  const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  tensor z = tensor::zeros({B, 1, C}, x.type());
  if (T == 1) return z;
  return cat({z, narrow(x, 1, 0, T - 1)}, 1);
}

// x*mix + prev*(1-mix)
tensor lerp_mix(const tensor& x, const tensor& prev, const tensor& mix) {
  return add(mul(x, mix), mul(prev, add_scalar(neg(mix), 1.0)));
}

// ---- Mamba ------------------------------------------------------------------------------

struct mamba_state : mixer_state {
  tensor conv, ssm;  // (B, K-1, Di), (B, Di, N)
};

// ref: Gu & Dao 2023 (Mamba) sec. 3.4 and fig. 3: in_proj -> (x, z); x -> causal depthwise
// conv1d -> SiLU -> selective SSM (Alg. 2: delta = softplus(dt_proj(x_proj(x))), B, C from
// x_proj, A = -exp(A_log)) with D skip; y * SiLU(z) -> out_proj.
class mamba_mixer : public mixer {
 public:
  explicit mamba_mixer(const lm_config& c)
      : C_(c.d_model), Di_(c.mamba_inner()), N_(c.d_state), K_(c.d_conv), R_(c.mamba_dt_rank()) {
    in_proj = register_parameter("in_proj.weight", tensor::zeros({2 * Di_, C_}));
    conv_w = register_parameter("conv1d.weight", tensor::zeros({Di_, K_}));
    conv_b = register_parameter("conv1d.bias", tensor::zeros({Di_}));
    x_proj = register_parameter("x_proj.weight", tensor::zeros({R_ + 2 * N_, Di_}));
    dt_w = register_parameter("dt_proj.weight", tensor::zeros({Di_, R_}));
    dt_b = register_parameter("dt_proj.bias", tensor::zeros({Di_}));
    A_log = register_parameter("A_log", tensor::zeros({Di_, N_}), nn::weight_decay::never);  // as the reference
    Dskip = register_parameter("D", tensor::ones({Di_}), nn::weight_decay::never);
    out_proj = register_parameter("out_proj.weight", tensor::zeros({C_, Di_}));
    register_hook_point("hook_dt", hook_dt);
    register_hook_point("hook_state", hook_state);
  }
  const char* kind() const override { return "M"; }

  void init_special(std::uint64_t seed) override {
    // ref: the Mamba reference code (mamba_simple.py): A_log[d, n] = log(n + 1) (S4D-real);
    // dt bias = softplus^-1(dt), dt log-uniform in [1e-3, 1e-1]; conv like nn.Conv1d's default.
    float* a = A_log.data<float>();
    for (std::int64_t d = 0; d < Di_; ++d)
      for (std::int64_t n = 0; n < N_; ++n) a[d * N_ + n] = static_cast<float>(std::log(static_cast<double>(n + 1)));
    nn::init_uniform(dt_b, 0.0, 1.0, seed, nn::stream_of(dt_b.name()));
    float* b = dt_b.data<float>();
    for (std::int64_t d = 0; d < Di_; ++d) {
      const double dt = std::max(1e-4, std::exp(b[d] * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)));
      b[d] = static_cast<float>(dt + std::log(-std::expm1(-dt)));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(K_));
    nn::init_uniform(conv_w, -bound, bound, seed, nn::stream_of(conv_w.name()));
  }

  tensor forward(const tensor& x) override {
    // The kernels read their inputs through contiguous_raw (one copy, no autograd node), so
    // the column slices of xz and dbc go to them as views (col's contiguous node saved).
    auto view = [](const tensor& t, std::int64_t start, std::int64_t len) { return narrow(t, t.dim() - 1, start, len); };
    tensor xz = linear(x, in_proj);                                        // (B,T,2Di)
    tensor xc = silu(causal_conv1d(view(xz, 0, Di_), conv_w, conv_b));     // (B,T,Di)
    tensor z = view(xz, Di_, Di_);
    tensor dbc = linear(xc, x_proj);                                       // (B,T,R+2N)
    tensor dt_raw = linear(col(dbc, 0, R_), dt_w, dt_b);                   // (B,T,Di) before softplus
    tensor A = neg(exp(A_log));
    tensor last;
    tensor* lastp = hook_state.active() ? &last : nullptr;
    tensor y;
    if (hook_dt.active()) {  // the hook sees (and may replace) delta: the composed ops
      tensor delta = hook_dt(softplus(dt_raw));
      y = mul(selective_scan(xc, delta, A, view(dbc, R_, N_), view(dbc, R_ + N_, N_), Dskip, lastp), silu(z));
    } else {  // softplus, scan and the SiLU(z) gate in one op, the same formulas (ops/scan.hpp)
      y = selective_scan_gated(xc, dt_raw, A, view(dbc, R_, N_), view(dbc, R_ + N_, N_), Dskip, z, lastp);
    }
    if (hook_state.active()) hook_state(last);  // (B, Di, N) state after the last token
    return linear(y, out_proj);
  }

  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<mamba_state>();
    s->conv = tensor::zeros({B, K_ - 1, Di_});
    s->ssm = tensor::zeros({B, Di_, N_});
    return s;
  }

  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<mamba_state&>(*st);
    tensor xz = linear(x_t, in_proj);  // (B,2Di)
    tensor xc = silu(causal_conv1d_step(s.conv, col(xz, 0, Di_), conv_w, conv_b));
    tensor z = col(xz, Di_, Di_);
    tensor dbc = linear(xc, x_proj);
    const std::int64_t B = x_t.size(0);
    tensor delta = reshape(hook_dt(reshape(softplus(linear(col(dbc, 0, R_), dt_w, dt_b)), {B, 1, Di_})), {B, Di_});
    tensor y = selective_scan_step(s.ssm, xc, delta, neg(exp(A_log)), col(dbc, R_, N_), col(dbc, R_ + N_, N_), Dskip);
    // (B, Di, N) after this token, observed as in forward; a copy, as the step updates s.ssm in place.
    if (hook_state.active()) hook_state(s.ssm.clone_raw());
    ++s.pos;
    return linear(mul(y, silu(z)), out_proj);
  }

  std::int64_t state_size(std::int64_t) const override { return ((K_ - 1) * Di_ + Di_ * N_) * 4; }
  double flops_per_token(std::int64_t T) const override {
    // Weights, plus the conv (2K per channel) and the scan (exp, two multiply-adds for the
    // state, one for the readout: ~7 per (d, n)).
    return mixer::flops_per_token(T) + 2.0 * static_cast<double>(K_ * Di_) + 7.0 * static_cast<double>(Di_ * N_);
  }

  tensor in_proj, conv_w, conv_b, x_proj, dt_w, dt_b, A_log, Dskip, out_proj;
  nn::hook_point hook_dt;     // (B, T, Di) delta after softplus
  nn::hook_point hook_state;  // (B, Di, N) SSM state after the last token

 private:
  std::int64_t C_, Di_, N_, K_, R_;
};

// ---- Griffin recurrent block ------------------------------------------------------------

struct griffin_state : mixer_state {
  tensor conv, h;  // (B, K-1, Dr), (B, Dr)
};

// ref: De et al. 2024 (Griffin) fig. 2 (recurrent block): GeLU(W_y x) * RG-LRU(conv(W_x x))
// -> W_out; RG-LRU gates r = sigma(W_a x + b_a), i = sigma(W_x' x + b_x') (eq. 1-2).
class griffin_mixer : public mixer {
 public:
  explicit griffin_mixer(const lm_config& c) : C_(c.d_model), Dr_(c.lru_dim()), K_(c.d_conv) {
    w_y = register_parameter("w_y", tensor::zeros({Dr_, C_}));
    b_y = register_parameter("b_y", tensor::zeros({Dr_}));
    w_x = register_parameter("w_x", tensor::zeros({Dr_, C_}));
    b_x = register_parameter("b_x", tensor::zeros({Dr_}));
    conv_w = register_parameter("conv_w", tensor::zeros({Dr_, K_}));
    conv_b = register_parameter("conv_b", tensor::zeros({Dr_}));
    w_a = register_parameter("w_a", tensor::zeros({Dr_, Dr_}));
    b_a = register_parameter("b_a", tensor::zeros({Dr_}));
    w_i = register_parameter("w_i", tensor::zeros({Dr_, Dr_}));
    b_i = register_parameter("b_i", tensor::zeros({Dr_}));
    lambda = register_parameter("lambda", tensor::zeros({Dr_}));
    w_out = register_parameter("w_out", tensor::zeros({C_, Dr_}));
    b_out = register_parameter("b_out", tensor::zeros({C_}));
    register_hook_point("hook_gate_r", hook_gate_r);
    register_hook_point("hook_gate_i", hook_gate_i);
    register_hook_point("hook_h", hook_h);
  }
  const char* kind() const override { return "R"; }

  void init_special(std::uint64_t seed) override {
    // ref: Griffin sec. 2.4: Lambda such that a^c is uniform in [0.9, 0.999], c = 8.
    nn::init_uniform(lambda, 0.9, 0.999, seed, nn::stream_of(lambda.name()));
    float* l = lambda.data<float>();
    for (std::int64_t d = 0; d < Dr_; ++d) {
      const double a = std::pow(static_cast<double>(l[d]), 1.0 / 8.0);
      l[d] = static_cast<float>(std::log(a / (1 - a)));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(K_));
    nn::init_uniform(conv_w, -bound, bound, seed, nn::stream_of(conv_w.name()));
  }

  tensor forward(const tensor& x) override {
    tensor y = gelu(linear(x, w_y, b_y), gelu_approx::tanh);               // (B,T,Dr)
    tensor xb = causal_conv1d(linear(x, w_x, b_x), conv_w, conv_b);         // (B,T,Dr)
    tensor r = hook_gate_r(sigmoid(linear(xb, w_a, b_a)));
    tensor i = hook_gate_i(sigmoid(linear(xb, w_i, b_i)));
    tensor h = hook_h(rglru(xb, r, i, lambda));                             // (B,T,Dr)
    return linear(mul(h, y), w_out, b_out);
  }

  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<griffin_state>();
    s->conv = tensor::zeros({B, K_ - 1, Dr_});
    s->h = tensor::zeros({B, Dr_});
    return s;
  }

  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<griffin_state&>(*st);
    tensor y = gelu(linear(x_t, w_y, b_y), gelu_approx::tanh);
    tensor xb = causal_conv1d_step(s.conv, linear(x_t, w_x, b_x), conv_w, conv_b);
    // Hooks see the forward's shapes with T = 1; as there, a patched h changes the output only.
    const std::int64_t B = x_t.size(0);
    const auto seq = [&](const tensor& t) { return reshape(t, {B, 1, Dr_}); };
    const auto rows = [&](const tensor& t) { return reshape(t, {B, Dr_}); };
    tensor r = rows(hook_gate_r(seq(sigmoid(linear(xb, w_a, b_a)))));
    tensor i = rows(hook_gate_i(seq(sigmoid(linear(xb, w_i, b_i)))));
    tensor h = rows(hook_h(seq(rglru_step(s.h, xb, r, i, lambda))));
    ++s.pos;
    return linear(mul(h, y), w_out, b_out);
  }

  std::int64_t state_size(std::int64_t) const override { return ((K_ - 1) * Dr_ + Dr_) * 4; }
  double flops_per_token(std::int64_t T) const override {
    return mixer::flops_per_token(T) + 2.0 * static_cast<double>(K_ * Dr_) + 8.0 * static_cast<double>(Dr_);
  }

  tensor w_y, b_y, w_x, b_x, conv_w, conv_b, w_a, b_a, w_i, b_i, lambda, w_out, b_out;
  nn::hook_point hook_gate_r, hook_gate_i;  // (B, T, Dr) after the sigmoid
  nn::hook_point hook_h;                    // (B, T, Dr) RG-LRU output

 private:
  std::int64_t C_, Dr_, K_;
};

// ---- RWKV-4 -----------------------------------------------------------------------------

struct shift_state : mixer_state {
  tensor last;  // (B, C) previous token's input
  tensor wkv;   // (B, 3, C) time-mix only
};

// RWKV-4's initialisation (RWKV-LM, RWKV-v4 model.py): ratio_0_to_1 = layer/(L-1),
// ratio_1_to_almost0 = 1 - layer/L; mixes x^ratio with x = i/C.
double ratio01(std::int64_t layer, std::int64_t L) { return L > 1 ? static_cast<double>(layer) / (L - 1) : 0.0; }
double ratio10(std::int64_t layer, std::int64_t L) { return 1.0 - static_cast<double>(layer) / L; }

// ref: Peng et al. 2023 (RWKV) eq. 11-13 (token-shift mixes), eq. 14-16 (WKV), out = W_o(sigma(r) * wkv).
class rwkv_time_mix : public mixer {
 public:
  rwkv_time_mix(const lm_config& c, std::int64_t layer) : C_(c.d_model), layer_(layer), L_(c.n_layers) {
    time_decay = register_parameter("time_decay", tensor::zeros({C_}));
    time_first = register_parameter("time_first", tensor::zeros({C_}));
    mix_k = register_parameter("time_mix_k", tensor::zeros({C_}));
    mix_v = register_parameter("time_mix_v", tensor::zeros({C_}));
    mix_r = register_parameter("time_mix_r", tensor::zeros({C_}));
    key = register_parameter("key.weight", tensor::zeros({C_, C_}));
    value = register_parameter("value.weight", tensor::zeros({C_, C_}));
    receptance = register_parameter("receptance.weight", tensor::zeros({C_, C_}));
    output = register_parameter("output.weight", tensor::zeros({C_, C_}));
    register_hook_point("hook_wkv", hook_wkv);
  }
  const char* kind() const override { return "W"; }

  void init_special(std::uint64_t) override {
    const double r01 = ratio01(layer_, L_), r10 = ratio10(layer_, L_);
    for (std::int64_t i = 0; i < C_; ++i) {
      const double x = static_cast<double>(i) / C_;
      time_decay.data<float>()[i] =
          static_cast<float>(-5 + 8 * std::pow(static_cast<double>(i) / std::max<std::int64_t>(1, C_ - 1), 0.7 + 1.3 * r01));
      time_first.data<float>()[i] = static_cast<float>(std::log(0.3) + ((i + 1) % 3 - 1) * 0.5);
      mix_k.data<float>()[i] = static_cast<float>(std::pow(x, r10));
      mix_v.data<float>()[i] = static_cast<float>(std::pow(x, r10) + 0.3 * r01);
      mix_r.data<float>()[i] = static_cast<float>(std::pow(x, 0.5 * r10));
    }
  }

  tensor forward(const tensor& x) override {
    tensor prev = token_shift(x);
    tensor k = linear(lerp_mix(x, prev, mix_k), key);
    tensor v = linear(lerp_mix(x, prev, mix_v), value);
    tensor r = sigmoid(linear(lerp_mix(x, prev, mix_r), receptance));
    tensor w = hook_wkv(wkv(neg(exp(time_decay)), time_first, k, v));  // (B,T,C)
    return linear(mul(r, w), output);
  }

  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<shift_state>();
    s->last = tensor::zeros({B, C_});
    s->wkv = wkv_initial_state(B, C_);
    return s;
  }

  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<shift_state&>(*st);
    tensor k = linear(lerp_mix(x_t, s.last, mix_k), key);
    tensor v = linear(lerp_mix(x_t, s.last, mix_v), value);
    tensor r = sigmoid(linear(lerp_mix(x_t, s.last, mix_r), receptance));
    const std::int64_t B = x_t.size(0);
    tensor w = reshape(hook_wkv(reshape(wkv_step(s.wkv, neg(exp(time_decay)), time_first, k, v), {B, 1, C_})), {B, C_});
    s.last = x_t.contiguous_raw().clone_raw();
    ++s.pos;
    return linear(mul(r, w), output);
  }

  std::int64_t state_size(std::int64_t) const override { return (C_ + 3 * C_) * 4; }
  double flops_per_token(std::int64_t T) const override { return mixer::flops_per_token(T) + 12.0 * C_; }

  tensor time_decay, time_first, mix_k, mix_v, mix_r, key, value, receptance, output;
  nn::hook_point hook_wkv;  // (B, T, C) WKV output before the receptance gate

 private:
  std::int64_t C_, layer_, L_;
};

// ref: Peng et al. 2023 (RWKV) eq. 17-18: r = sigma(W_r x_r), k = relu(W_k x_k)^2, out = r * W_v k.
class rwkv_channel_mix : public mixer {
 public:
  rwkv_channel_mix(const lm_config& c, std::int64_t layer) : C_(c.d_model), layer_(layer), L_(c.n_layers) {
    mix_k = register_parameter("time_mix_k", tensor::zeros({C_}));
    mix_r = register_parameter("time_mix_r", tensor::zeros({C_}));
    key = register_parameter("key.weight", tensor::zeros({c.mlp_width(), C_}));
    receptance = register_parameter("receptance.weight", tensor::zeros({C_, C_}));
    value = register_parameter("value.weight", tensor::zeros({C_, c.mlp_width()}));
  }
  const char* kind() const override { return "channel_mix"; }
  void init_special(std::uint64_t) override {
    const double r10 = ratio10(layer_, L_);
    for (std::int64_t i = 0; i < C_; ++i) {
      const double x = static_cast<double>(i) / C_;
      mix_k.data<float>()[i] = static_cast<float>(std::pow(x, r10));
      mix_r.data<float>()[i] = static_cast<float>(std::pow(x, r10));
    }
  }
  tensor mixed(const tensor& x, const tensor& prev) {
    tensor r = sigmoid(linear(lerp_mix(x, prev, mix_r), receptance));
    tensor k = relu(linear(lerp_mix(x, prev, mix_k), key));
    return mul(r, linear(mul(k, k), value));
  }
  tensor forward(const tensor& x) override { return mixed(x, token_shift(x)); }
  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<shift_state>();
    s->last = tensor::zeros({B, C_});
    return s;
  }
  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<shift_state&>(*st);
    tensor y = mixed(x_t, s.last);
    s.last = x_t.contiguous_raw().clone_raw();
    ++s.pos;
    return y;
  }
  std::int64_t state_size(std::int64_t) const override { return C_ * 4; }

  tensor mix_k, mix_r, key, receptance, value;

 private:
  std::int64_t C_, layer_, L_;
};

// ---- RetNet -----------------------------------------------------------------------------

struct retention_state : mixer_state {
  tensor S;  // (B, H, D, D)
};

// ref: Sun et al. 2023 (RetNet) eq. 8-9: Q = (X W_Q) rotated, K = (X W_K) rotated * d^-1/2,
// V = X W_V; per-head retention with gamma_h = 1 - 2^(-5-h); GroupNorm per head;
// out = W_O(swish(X W_G) * Y). (Rotary stands in for xPos; value heads have size d_model/H.)
class retention_mixer : public mixer {
 public:
  explicit retention_mixer(const lm_config& c)
      : C_(c.d_model), H_(c.n_heads), D_(c.d_head()), eps_(c.layer_norm_eps), gammas_(retnet_gammas(c.n_heads)) {
    w_q = register_parameter("w_q", tensor::zeros({C_, C_}));
    w_k = register_parameter("w_k", tensor::zeros({C_, C_}));
    w_v = register_parameter("w_v", tensor::zeros({C_, C_}));
    w_g = register_parameter("w_g", tensor::zeros({C_, C_}));
    w_o = register_parameter("w_o", tensor::zeros({C_, C_}));
    rope_.dim = D_ - D_ % 2;
    register_hook_point("hook_out", hook_out);
  }
  const char* kind() const override { return "T"; }

  // x (B,T,C) -> q, k (B,H,T,D) rotated for positions pos0.., k scaled; v (B,H,T,D).
  void project(const tensor& x, std::int64_t pos0, tensor& q, tensor& k, tensor& v) {
    const std::int64_t B = x.size(0), T = x.size(1);
    q = contiguous(transpose(reshape(linear(x, w_q), {B, T, H_, D_}), 1, 2));
    k = contiguous(transpose(reshape(linear(x, w_k), {B, T, H_, D_}), 1, 2));
    v = contiguous(transpose(reshape(linear(x, w_v), {B, T, H_, D_}), 1, 2));
    if (rope_.dim > 0) {
      const rope_cache cache = rope_build_cache(rope_parameters(rope_), pos0 + T, pos0);
      q = apply_rotary(q, cache, pos0);
      k = apply_rotary(k, cache, pos0);
    }
    k = mul_scalar(k, 1.0 / std::sqrt(static_cast<double>(D_)));
  }
  // o (B,H,T,D) -> GroupNorm per head, gate, project -> (B,T,C).
  tensor finish(const tensor& x, const tensor& o) {
    const std::int64_t B = x.size(0), T = x.size(1);
    tensor y = layer_norm(contiguous(transpose(o, 1, 2)), {}, {}, eps_);  // (B,T,H,D), per-head norm
    y = hook_out(reshape(y, {B, T, C_}));
    return linear(mul(silu(linear(x, w_g)), y), w_o);
  }

  tensor forward(const tensor& x) override {
    tensor q, k, v;
    project(x, 0, q, k, v);
    return finish(x, retention_parallel(q, k, v, gammas_));
  }
  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<retention_state>();
    s->S = tensor::zeros({B, H_, D_, D_});
    return s;
  }
  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<retention_state&>(*st);
    const std::int64_t B = x_t.size(0);
    tensor x = reshape(x_t, {B, 1, C_});
    tensor q, k, v;
    project(x, s.pos, q, k, v);
    tensor o = retention_step(s.S, reshape(q, {B, H_, D_}), reshape(k, {B, H_, D_}), reshape(v, {B, H_, D_}), gammas_);
    ++s.pos;
    return reshape(finish(x, reshape(o, {B, H_, 1, D_})), {B, C_});
  }
  std::int64_t state_size(std::int64_t) const override { return H_ * D_ * D_ * 4; }
  double flops_per_token(std::int64_t T) const override {
    // Recurrent form: S update (2 per element) and readout (2 per element).
    return mixer::flops_per_token(T) + 4.0 * static_cast<double>(H_ * D_ * D_);
  }

  tensor w_q, w_k, w_v, w_g, w_o;
  nn::hook_point hook_out;  // (B, T, C) retention output after GroupNorm, before the gate

 private:
  std::int64_t C_, H_, D_;
  double eps_;
  std::vector<double> gammas_;
  rope_config rope_;
};

}  // namespace

std::unique_ptr<mixer> make_mamba(const lm_config& c, std::int64_t) { return std::make_unique<mamba_mixer>(c); }
std::unique_ptr<mixer> make_griffin(const lm_config& c, std::int64_t) { return std::make_unique<griffin_mixer>(c); }
std::unique_ptr<mixer> make_rwkv_time_mix(const lm_config& c, std::int64_t layer) {
  return std::make_unique<rwkv_time_mix>(c, layer);
}
std::unique_ptr<mixer> make_rwkv_channel_mix(const lm_config& c, std::int64_t layer) {
  return std::make_unique<rwkv_channel_mix>(c, layer);
}
std::unique_ptr<mixer> make_retention(const lm_config& c, std::int64_t) { return std::make_unique<retention_mixer>(c); }

}  // namespace lmlab::models
