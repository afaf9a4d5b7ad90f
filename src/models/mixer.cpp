// The mixer registry, the attention mixer (all positional encodings, GQA, window, KV cache)
// and the feed-forward parts (GELU MLP, SwiGLU, MoE): see mixer.hpp. The recurrent mixers
// live in mixers_recurrent.cpp.
#include "models/mixer.hpp"

#include <cmath>
#include <limits>

#include "autograd/autograd.hpp"
#include "models/mixer_impl.hpp"
#include "nn/init.hpp"
#include "ops/alibi.hpp"
#include "ops/ops.hpp"
#include "ops/routing.hpp"
#include "ops/scan.hpp"

namespace lmlab::models {

tensor mixer::step(const tensor& x_t, mixer_state*) {
  // Stateless parts: the forward on a sequence of one token.
  const std::int64_t B = x_t.size(0), C = x_t.size(1);
  return reshape(forward(reshape(x_t, {B, 1, C})), {B, C});
}

double mixer::flops_per_token(std::int64_t) const {
  double n = 0;
  for (auto& [name, t] : named_parameters()) n += static_cast<double>(t.numel());
  return 2.0 * n;
}

const char* mixer_module_name(const std::string& kind) {
  if (kind == "A") return "attn";
  if (kind == "M") return "ssm";
  if (kind == "R") return "rglru";
  if (kind == "W") return "time_mix";
  if (kind == "T") return "retention";
  if (kind == "moe") return "moe";
  if (kind == "channel_mix") return "channel_mix";
  return "mlp";
}

const std::map<std::string, mixer_factory>& mixer_registry() {
  static const std::map<std::string, mixer_factory> r = {
      {"A", make_attention},   {"M", make_mamba},     {"R", make_griffin},      {"W", make_rwkv_time_mix},
      {"T", make_retention},   {"gelu", make_mlp},    {"swiglu", make_swiglu},  {"moe", make_moe},
      {"channel_mix", make_rwkv_channel_mix},
  };
  return r;
}

std::unique_ptr<mixer> make_mixer(const std::string& kind, const lm_config& c, std::int64_t layer) {
  const auto& r = mixer_registry();
  auto it = r.find(kind);
  if (it == r.end()) {
    std::string known;
    for (auto& [k, f] : r) known += (known.empty() ? "" : ", ") + k;
    throw error(fmt::format("mixer: unknown kind '{}'", kind), "known kinds: " + known);
  }
  return it->second(c, layer);
}

// ---- attention --------------------------------------------------------------------------

namespace {

struct kv_state : mixer_state {
  // Key/value buffers (B, H_kv, capacity, D) holding `len` cached positions at the front. The
  // capacity doubles when full (a sliding window instead moves its last window-1 entries to
  // the front), so a step appends in O(1) amortised and the attention kernel reads the
  // cached rows in place; growing by concatenation copied the whole cache every token.
  tensor k, v;
  std::int64_t len = 0;
  tensor conv;  // (B, K-1, C): the last inputs of the short conv (attn_conv > 0)
};

class attention_mixer : public mixer {
 public:
  attention_mixer(const lm_config& c, std::int64_t layer)
      : C_(c.d_model), H_(c.n_heads), Hkv_(c.kv_heads()), D_(c.d_head()), window_(c.window), K_(c.attn_conv),
        pos_(c.pos_encoding),
        eps_(c.layer_norm_eps), n_ctx_(c.n_ctx), rope_(c.rope()), use_rope_(c.uses_rope()) {
    (void)layer;
    const bool b = c.bias;
    w_q = register_parameter("w_q", tensor::zeros({H_ * D_, C_}));
    if (b) b_q = register_parameter("b_q", tensor::zeros({H_ * D_}));
    w_k = register_parameter("w_k", tensor::zeros({Hkv_ * D_, C_}));
    if (b) b_k = register_parameter("b_k", tensor::zeros({Hkv_ * D_}));
    w_v = register_parameter("w_v", tensor::zeros({Hkv_ * D_, C_}));
    if (b) b_v = register_parameter("b_v", tensor::zeros({Hkv_ * D_}));
    w_o = register_parameter("w_o", tensor::zeros({C_, H_ * D_}));
    if (b) b_o = register_parameter("b_o", tensor::zeros({C_}));
    if (K_ > 0) {
      // A short causal depthwise conv on the attention input, so each position's q, k and v
      // see its K-1 predecessors: Olsson et al. 2022's "smeared key" (Argument 2) generalised
      // to q and v, and the short convolution of the Zoology MQAR models (Arora et al. 2023).
      // Induction and associative recall then need one attention layer instead of a
      // previous-token head plus an induction head.
      conv_w = register_parameter("conv1d.weight", tensor::zeros({C_, K_}));
      conv_b = register_parameter("conv1d.bias", tensor::zeros({C_}));
    }
    if (pos_ == "fire") {
      // ref: Li et al. 2023 (FIRE) eq. 5: b(i,j) = f_theta(psi(i-j) / psi(max(L, i))), f_theta an
      // MLP 1 -> 32 -> H with ReLU; c and L learnable scalars.
      fire_c = register_parameter("fire_c", tensor::ones({1}));
      fire_L = register_parameter("fire_L", tensor::full({1}, static_cast<double>(c.n_ctx)));
      fire_w1 = register_parameter("fire_w1", tensor::zeros({32, 1}));
      fire_b1 = register_parameter("fire_b1", tensor::zeros({32}));
      fire_w2 = register_parameter("fire_w2", tensor::zeros({H_, 32}));
      fire_b2 = register_parameter("fire_b2", tensor::zeros({H_}));
    }
    if (pos_ == "alibi") slopes_ = alibi_slopes_tensor(H_);
    register_hook_point("hook_q", hook_q);
    register_hook_point("hook_k", hook_k);
    register_hook_point("hook_v", hook_v);
    register_hook_point("hook_pattern", hook_pattern);
    register_hook_point("hook_z", hook_z);
  }

  const char* kind() const override { return "A"; }

  void init_special(std::uint64_t seed) override {
    if (fire_w1.defined()) nn::init_uniform(fire_w1, 0.0, 1.0, seed, nn::stream_of(fire_w1.name()));
    if (conv_w.defined()) {
      // Identity plus the N(0, init_std) draw: the layer starts as plain attention.
      float* w = conv_w.data<float>();
      for (std::int64_t c = 0; c < C_; ++c) w[c * K_ + K_ - 1] += 1.0f;
    }
  }

  void set_rope_scaling(const rope_scaling_config& s) override {
    lm_config c;
    c.d_model = C_;
    c.n_heads = H_;
    c.n_ctx = n_ctx_;
    c.rope_theta = rope_.theta;
    c.rope_scaling = s;
    c.pos_encoding = pos_;
    rope_ = c.rope();
  }

  tensor forward(const tensor& x) override {
    const std::int64_t B = x.size(0), T = x.size(1);
    tensor q, k, v;
    project(K_ > 0 ? causal_conv1d(x, conv_w, conv_b) : x, 0, q, k, v);
    return out(attend(q, k, v, 0), B, T);
  }

  std::unique_ptr<mixer_state> new_state(std::int64_t B) const override {
    auto s = std::make_unique<kv_state>();
    s->k = tensor::zeros({B, Hkv_, kInitialCache, D_});
    s->v = tensor::zeros({B, Hkv_, kInitialCache, D_});
    if (K_ > 0) s->conv = tensor::zeros({B, K_ - 1, C_});
    return s;
  }

  tensor step(const tensor& x_t, mixer_state* st) override {
    auto& s = static_cast<kv_state&>(*st);
    const std::int64_t B = x_t.size(0);
    tensor q, k, v;
    const tensor xin = K_ > 0 ? causal_conv1d_step(s.conv, x_t, conv_w, conv_b) : x_t;
    project(reshape(xin, {B, 1, C_}), s.pos, q, k, v);
    // A sliding window only ever needs the last `window` keys (FIRE reads absolute positions,
    // so its cache keeps everything).
    const bool windowed = window_ > 0 && pos_ != "fire";
    if (s.k.type() != k.type()) {  // the state was made before the model's dtype was known
      s.k = s.k.to_raw(k.type());
      s.v = s.v.to_raw(v.type());
    }
    if (s.len == s.k.size(2)) {
      const std::int64_t keep = windowed ? std::min(s.len, window_ - 1) : s.len;
      const std::int64_t cap = windowed ? std::max(kInitialCache, 2 * window_) : std::max(kInitialCache, 2 * s.len);
      for (tensor* buf : {&s.k, &s.v}) {
        tensor grown = tensor::zeros({B, Hkv_, cap, D_}, buf->type());
        if (keep > 0) grown.narrow_raw(2, 0, keep).copy_from(buf->narrow_raw(2, s.len - keep, keep));
        *buf = grown;
      }
      s.len = keep;
    }
    s.k.narrow_raw(2, s.len, 1).copy_from(k);
    s.v.narrow_raw(2, s.len, 1).copy_from(v);
    ++s.len;
    const std::int64_t n = windowed ? std::min(s.len, window_) : s.len;
    const std::int64_t q_off = s.pos;
    ++s.pos;
    return reshape(out(attend(q, s.k.narrow_raw(2, s.len - n, n), s.v.narrow_raw(2, s.len - n, n), q_off), B, 1), {B, C_});
  }

  std::int64_t state_size(std::int64_t T) const override {
    const std::int64_t S = window_ > 0 && pos_ != "fire" ? std::min(T, window_) : T;
    return (2 * Hkv_ * D_ * S + (K_ > 0 ? (K_ - 1) * C_ : 0)) * 4;  // K and V (and the conv window), f32
  }

  double flops_per_token(std::int64_t T) const override {
    const double S = static_cast<double>(window_ > 0 ? std::min(T, window_) : T);
    // ref: PaLM appendix B: 2 per weight + 2*T*d for QK^T and 2*T*d for AV per token.
    // (mixer::flops_per_token counts 2 per weight, which covers the short conv's taps.)
    return mixer::flops_per_token(T) + 4.0 * S * static_cast<double>(H_ * D_);
  }

  tensor w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o;
  tensor fire_c, fire_L, fire_w1, fire_b1, fire_w2, fire_b2;
  tensor conv_w, conv_b;  // (C, K), (C) when attn_conv > 0
  nn::hook_point hook_q, hook_k, hook_v;  // (B, T, H, D) / (B, T, H_kv, D)
  nn::hook_point hook_pattern;            // (B, H, Tq, Tk)
  nn::hook_point hook_z;                  // (B, T, H, D)

 private:
  // x (B,T,C) -> q (B,H,T,D), k, v (B,H_kv,T,D), rotated for positions pos0 + t.
  void project(const tensor& x, std::int64_t pos0, tensor& q, tensor& k, tensor& v) {
    const std::int64_t B = x.size(0), T = x.size(1);
    q = hook_q(reshape(linear(x, w_q, b_q), {B, T, H_, D_}));
    k = hook_k(reshape(linear(x, w_k, b_k), {B, T, Hkv_, D_}));
    v = hook_v(reshape(linear(x, w_v, b_v), {B, T, Hkv_, D_}));
    // (B, H, T, D) views of the projections: attention and apply_rotary read them in place.
    q = transpose(q, 1, 2);
    k = transpose(k, 1, 2);
    v = transpose(v, 1, 2);
    if (use_rope_) {
      // Dynamic NTK recomputes its base from the total length (HF semantics).
      const rope_cache cache = rope_build_cache(rope_parameters(rope_, pos0 + T), pos0 + T, pos0);
      q = apply_rotary(q, cache, pos0);
      k = apply_rotary(k, cache, pos0);
    }
  }

  // q (B,H,T,D), k, v (B,H_kv,S,D); queries are positions q_off..q_off+T-1 (q_off = S - T
  // unless the cache was trimmed) -> z (B,H,T,D).
  tensor attend(const tensor& q, const tensor& k, const tensor& v, std::int64_t q_off) {
    const std::int64_t B = q.size(0), T = q.size(2), S = k.size(2);
    if (!hook_pattern.active() && pos_ != "fire") {
      attention_options opt;
      opt.window = window_;
      if (pos_ == "alibi") opt.alibi_slopes = slopes_.type() == q.type() ? slopes_ : slopes_.to_raw(q.type());
      return attention(q, k, v, opt);
    }
    // Materialised path (hooks on the pattern, FIRE's learned bias):
    // pattern = softmax(q k^T / sqrt(D) + bias + mask), z = pattern v.
    tensor kx = k, vx = v;
    if (Hkv_ != H_) {
      const std::int64_t g = H_ / Hkv_;
      kx = reshape(expand(unsqueeze(k, 2), {B, Hkv_, g, S, D_}), {B, H_, S, D_});
      vx = reshape(expand(unsqueeze(v, 2), {B, Hkv_, g, S, D_}), {B, H_, S, D_});
    }
    const std::int64_t off = S - T;  // key index of query row 0
    tensor mask = tensor::zeros({H_, T, S});
    float* m = mask.data<float>();
    for (std::int64_t h = 0; h < H_; ++h)
      for (std::int64_t i = 0; i < T; ++i)
        for (std::int64_t j = 0; j < S; ++j) {
          const std::int64_t dist = i + off - j;
          float& e = m[(h * T + i) * S + j];
          if (dist < 0 || (window_ > 0 && dist >= window_)) e = -std::numeric_limits<float>::infinity();
          else if (pos_ == "alibi") e = static_cast<float>(-slopes_.data<float>()[h] * static_cast<double>(dist));
        }
    if (q.type() != dtype::f32) mask = mask.to_raw(q.type());
    tensor scores = add(mul_scalar(matmul(q, contiguous(transpose(kx, 2, 3))), 1.0 / std::sqrt(static_cast<double>(D_))), mask);
    if (pos_ == "fire") {
      // The cache holds keys q_off - off .. ; FIRE's distance table covers absolute keys 0..q_off+T-1.
      tensor dist = fire_distance(fire_c, fire_L, T, q_off);               // (T, q_off+T)
      dist = narrow(dist, 1, q_off + T - S, S);                             // the cached keys
      tensor hdn = relu(linear(unsqueeze(dist, -1), fire_w1, fire_b1));     // (T,S,32)
      tensor bias = permute(linear(hdn, fire_w2, fire_b2), {2, 0, 1});      // (H,T,S)
      scores = add(scores, bias);
    }
    tensor pattern = hook_pattern(softmax(scores, -1));  // (B,H,T,S)
    return matmul(pattern, vx);
  }

  tensor out(const tensor& z, std::int64_t B, std::int64_t T) {
    tensor zz = hook_z(transpose(z, 1, 2));  // (B,T,H,D)
    return linear(reshape(zz, {B, T, H_ * D_}), w_o, b_o);
  }

  static constexpr std::int64_t kInitialCache = 8;  // positions; small so tests cross a regrowth
  std::int64_t C_, H_, Hkv_, D_, window_, K_;
  std::string pos_;
  double eps_;
  std::int64_t n_ctx_;
  rope_config rope_;
  bool use_rope_;
  tensor slopes_;
};

// ---- feed-forward -----------------------------------------------------------------------

class mlp_mixer : public mixer {
 public:
  mlp_mixer(std::int64_t C, std::int64_t M, bool bias) {
    w_in = register_parameter("w_in", tensor::zeros({M, C}));
    if (bias) b_in = register_parameter("b_in", tensor::zeros({M}));
    w_out = register_parameter("w_out", tensor::zeros({C, M}));
    if (bias) b_out = register_parameter("b_out", tensor::zeros({C}));
    register_hook_point("hook_pre", hook_pre);
    register_hook_point("hook_post", hook_post);
  }
  const char* kind() const override { return "gelu"; }
  tensor forward(const tensor& x) override {
    tensor pre = hook_pre(linear(x, w_in, b_in));  // (B,T,M)
    tensor post = hook_post(gelu(pre));            // (B,T,M)
    return linear(post, w_out, b_out);             // (B,T,C)
  }
  tensor w_in, b_in, w_out, b_out;
  nn::hook_point hook_pre, hook_post;
};

// ref: Shazeer 2020, "GLU Variants Improve Transformer", eq. 6 (FFN_SwiGLU without biases).
class swiglu_mixer : public mixer {
 public:
  swiglu_mixer(std::int64_t C, std::int64_t M) {
    w_gate = register_parameter("w_gate", tensor::zeros({M, C}));
    w_in = register_parameter("w_in", tensor::zeros({M, C}));
    w_out = register_parameter("w_out", tensor::zeros({C, M}));
    register_hook_point("hook_pre", hook_pre);
    register_hook_point("hook_post", hook_post);
  }
  const char* kind() const override { return "swiglu"; }
  tensor forward(const tensor& x) override {
    tensor pre = hook_pre(linear(x, w_in));                           // (B,T,M)
    tensor post = hook_post(mul(silu(linear(x, w_gate)), pre));       // (B,T,M)
    return linear(post, w_out);
  }
  tensor w_gate, w_in, w_out;
  nn::hook_point hook_pre, hook_post;
};

class moe_mixer : public mixer {
 public:
  moe_mixer(const lm_config& c) : E_(c.n_experts), capacity_factor_(c.capacity_factor) {
    opt_.k = c.top_k;
    opt_.renormalize = true;
    router = register_parameter("router", tensor::zeros({E_, c.d_model}));
    for (std::int64_t e = 0; e < E_; ++e) experts.push_back(std::make_unique<mlp_mixer>(c.d_model, c.mlp_width(), c.bias));
    register_module("experts", experts);
    register_hook_point("hook_router_probs", hook_router_probs);
  }
  const char* kind() const override { return "moe"; }

  // Capacity (token dropping) is a training device: it bounds the expert buffers of a batch.
  // Evaluation forwards and step mode route every token to its top-k experts, as Switch and
  // Mixtral-style inference do, so step mode equals the evaluation forward for any
  // capacity_factor, and a token's output does not depend on the other tokens of the batch.
  tensor forward(const tensor& x) override { return route(x, training() ? capacity_factor_ : 0.0); }
  tensor step(const tensor& x_t, mixer_state*) override {
    const std::int64_t B = x_t.size(0), C = x_t.size(1);
    return reshape(route(reshape(x_t, {B, 1, C}), 0.0), {B, C});
  }

  double flops_per_token(std::int64_t T) const override {
    // Router plus the k experts a token visits.
    return 2.0 * static_cast<double>(router.numel()) +
           static_cast<double>(opt_.k) * experts[0].flops_per_token(T);
  }
  nlohmann::json last_metrics() const override { return metrics_; }
  tensor aux_loss() const override { return aux_; }

  tensor router;
  nn::module_list<mlp_mixer> experts;
  nn::hook_point hook_router_probs;  // (N, E) softmax of the router logits, N = B*T

 private:
  // x (B, T, C) -> (B, T, C) with capacity_factor cf (0 = unlimited).
  tensor route(const tensor& x, double cf) {
    const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2), N = B * T, k = opt_.k;
    tensor xf = reshape(x, {N, C});
    moe_route_options opt = opt_;
    opt.capacity_factor = cf;
    // ref: Fedus et al. 2021 (Switch) sec. 2.1; top-k with renormalised gates (Mixtral).
    moe_routing r = moe_route(linear(xf, router), opt);
    hook_router_probs(r.probs);  // (N, E), observed (the routing is already decided)
    tensor gates = reshape(r.gates, {N * k, 1});
    tensor out = tensor::zeros({N, C}, x.type());
    for (std::int64_t e = 0; e < E_; ++e) {
      const auto& toks = r.expert_tokens[static_cast<std::size_t>(e)];
      if (toks.empty()) continue;
      tensor ye = experts[static_cast<std::size_t>(e)].forward(index_rows(xf, toks));
      tensor g = index_rows(gates, r.expert_choices[static_cast<std::size_t>(e)]);  // (n_e, 1)
      out = index_add_rows(out, toks, mul(ye, g));
    }
    aux_ = r.aux_loss;
    metrics_ = {{"moe_aux_loss", r.aux_loss.item()}, {"moe_dropped_tokens", r.dropped_tokens},
                {"moe_dropped_choices", r.dropped_choices}, {"moe_tokens", N}};
    return reshape(out, {B, T, C});
  }

  std::int64_t E_;
  double capacity_factor_;
  moe_route_options opt_;
  tensor aux_;
  nlohmann::json metrics_ = nlohmann::json::object();
};

}  // namespace

std::unique_ptr<mixer> make_attention(const lm_config& c, std::int64_t layer) {
  return std::make_unique<attention_mixer>(c, layer);
}
std::unique_ptr<mixer> make_mlp(const lm_config& c, std::int64_t) {
  return std::make_unique<mlp_mixer>(c.d_model, c.mlp_width(), c.bias);
}
std::unique_ptr<mixer> make_swiglu(const lm_config& c, std::int64_t) {
  return std::make_unique<swiglu_mixer>(c.d_model, c.mlp_width());
}
std::unique_ptr<mixer> make_moe(const lm_config& c, std::int64_t) { return std::make_unique<moe_mixer>(c); }

}  // namespace lmlab::models
