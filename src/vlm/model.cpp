// The tiny VLM: patches, projectors, CLIP loss, ViT, text tower: see model.hpp.
#include "vlm/model.hpp"

#include <cmath>

#include "core/error.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"

namespace lmlab::vlm {

// ---- patches ------------------------------------------------------------------------------

tensor patchify(const tensor& images, std::int64_t p) {
  LMLAB_CHECK(images.dim() == 4 && images.size(2) == images.size(3), "patchify: images must be (B, C, S, S), got {}",
              shape_str(images.shape()));
  const std::int64_t B = images.size(0), C = images.size(1), S = images.size(2);
  LMLAB_CHECK(p >= 1 && S % p == 0, "patchify: patch {} does not divide the image side {}", p, S);
  const std::int64_t g = S / p;
  // (B, C, g, p, g, p) -> (B, g, g, C, p, p) -> (B, g*g, C*p*p)
  tensor x = reshape(contiguous(images), {B, C, g, p, g, p});
  return reshape(permute(x, {0, 2, 4, 1, 3, 5}), {B, g * g, C * p * p});
}

// ---- projectors ---------------------------------------------------------------------------

projector_kind projector_from_name(const std::string& name, const std::string& where) {
  if (name == "linear") return projector_kind::linear;
  if (name == "mlp") return projector_kind::mlp;
  if (name == "resampler") return projector_kind::resampler;
  if (name == "pixel_shuffle") return projector_kind::pixel_shuffle;
  throw error(fmt::format("{}: unknown projector '{}'", where, name), "one of linear, mlp, resampler, pixel_shuffle");
}

const char* projector_name(projector_kind k) {
  switch (k) {
    case projector_kind::linear: return "linear";
    case projector_kind::mlp: return "mlp";
    case projector_kind::resampler: return "resampler";
    default: return "pixel_shuffle";
  }
}

namespace {
// Side of the pooled / shuffled grid for K tokens: sqrt(K), which must divide the grid.
std::int64_t reduce_factor(const projector_spec& s) {
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(s.tokens))));
  return side * side == s.tokens && side >= 1 && s.grid % side == 0 ? s.grid / side : 0;
}
}  // namespace

void projector_spec::validate(const std::string& where) const {
  LMLAB_CHECK(d_in >= 1 && d_out >= 1 && grid >= 1 && tokens >= 1, "{}: dims, grid and tokens must be positive", where);
  if (kind == projector_kind::resampler) {
    LMLAB_CHECK(heads >= 1 && d_in % heads == 0, "{}: resampler_heads: {} does not divide the vision width {}", where, heads, d_in);
    return;
  }
  LMLAB_CHECK_HINT(reduce_factor(*this) > 0, fmt::format("with a {0}x{0} patch grid: 1, 4, ... up to {1}", grid, grid * grid),
                   "{}: image_tokens: {} tokens per image is not a square whose side divides the patch grid ({} per side) for the {} "
                   "projector",
                   where, tokens, grid, projector_name(kind));
}

std::vector<std::pair<std::string, shape_t>> projector_param_shapes(const projector_spec& s) {
  const std::int64_t r = s.kind == projector_kind::resampler ? 1 : reduce_factor(s);
  const std::int64_t hid = s.d_hidden > 0 ? s.d_hidden : s.d_out;
  switch (s.kind) {
    case projector_kind::linear: return {{"weight", {s.d_out, s.d_in}}, {"bias", {s.d_out}}};
    case projector_kind::mlp:
      return {{"fc1.weight", {hid, s.d_in}}, {"fc1.bias", {hid}}, {"fc2.weight", {s.d_out, hid}}, {"fc2.bias", {s.d_out}}};
    case projector_kind::pixel_shuffle:
      return {{"fc1.weight", {hid, s.d_in * r * r}}, {"fc1.bias", {hid}}, {"fc2.weight", {s.d_out, hid}}, {"fc2.bias", {s.d_out}}};
    default:
      return {{"queries", {s.tokens, s.d_in}}, {"w_q", {s.d_in, s.d_in}}, {"w_k", {s.d_in, s.d_in}}, {"w_v", {s.d_in, s.d_in}},
              {"w_o", {s.d_in, s.d_in}},       {"out.weight", {s.d_out, s.d_in}}, {"out.bias", {s.d_out}}};
  }
}

tensor grid_pool(const tensor& x, std::int64_t g, std::int64_t r) {
  const std::int64_t B = x.size(0), d = x.size(2), h = g / r;
  LMLAB_CHECK(x.size(1) == g * g && g % r == 0, "grid_pool: {} patches are not a {}x{} grid divisible by {}", x.size(1), g, g, r);
  if (r == 1) return x;
  // (B, h, r, h, r, d): mean over the two r axes.
  return reshape(mean(reshape(contiguous(x), {B, h, r, h, r, d}), {2, 4}), {B, h * h, d});
}

tensor pixel_shuffle(const tensor& x, std::int64_t g, std::int64_t r) {
  const std::int64_t B = x.size(0), d = x.size(2), h = g / r;
  LMLAB_CHECK(x.size(1) == g * g && g % r == 0, "pixel_shuffle: {} patches are not a {}x{} grid divisible by {}", x.size(1), g, g,
              r);
  if (r == 1) return x;
  // (B, h, r, h, r, d) -> (B, h, h, r, r, d) -> (B, h*h, r*r*d)
  return reshape(permute(reshape(contiguous(x), {B, h, r, h, r, d}), {0, 1, 3, 2, 4, 5}), {B, h * h, r * r * d});
}

namespace {
tensor mlp2(const tensor& x, const std::vector<tensor>& w) { return linear(gelu(linear(x, w[0], w[1])), w[2], w[3]); }

// One cross-attention layer from learned queries to the patches, then the output projection.
tensor resample(const projector_spec& s, const std::vector<tensor>& w, const tensor& x) {
  const std::int64_t B = x.size(0), N = x.size(1), d = s.d_in, H = s.heads, D = d / H, K = s.tokens;
  const auto heads = [&](const tensor& t, std::int64_t n) { return transpose(reshape(t, {B, n, H, D}), 1, 2); };  // (B,H,n,D)
  tensor q0 = expand(unsqueeze(w[0], 0), {B, K, d});                                                             // (B,K,d)
  tensor q = heads(linear(q0, w[1]), K), k = heads(linear(x, w[2]), N), v = heads(linear(x, w[3]), N);
  attention_options opt;
  opt.causal = false;
  tensor o = reshape(transpose(attention(q, k, v, opt), 1, 2), {B, K, d});  // (B,K,d)
  tensor z = add(q0, linear(o, w[4]));                                      // residual on the queries
  return linear(z, w[5], w[6]);
}
}  // namespace

tensor project(const projector_spec& s, const std::vector<tensor>& w, const tensor& x) {
  LMLAB_CHECK(x.dim() == 3 && x.size(2) == s.d_in, "projector ({}): input must be (B, N, {}), got {}", projector_name(s.kind), s.d_in,
              shape_str(x.shape()));
  LMLAB_CHECK(w.size() == projector_param_shapes(s).size(), "projector ({}): {} weights given, {} expected", projector_name(s.kind),
              w.size(), projector_param_shapes(s).size());
  switch (s.kind) {
    case projector_kind::linear: return linear(grid_pool(x, s.grid, reduce_factor(s)), w[0], w[1]);
    case projector_kind::mlp: return mlp2(grid_pool(x, s.grid, reduce_factor(s)), w);
    case projector_kind::pixel_shuffle: return mlp2(pixel_shuffle(x, s.grid, reduce_factor(s)), w);
    default: return resample(s, w, x);
  }
}

projector::projector(const projector_spec& s, std::uint64_t seed, dtype t) : spec_(s) {
  s.validate("projector");
  for (const auto& [name, shape] : projector_param_shapes(s)) {
    tensor p = tensor::zeros(shape, t);
    // Matrices N(0, 1/fan_in) (fan_in = the last dim); the queries N(0, 1); biases 0.
    if (shape.size() == 2) nn::init_normal(p, 0.0, 1.0 / std::sqrt(static_cast<double>(shape[1])), seed, nn::stream_of("proj." + name));
    weights_.push_back(register_parameter(name, p));
  }
}

// ---- CLIP ---------------------------------------------------------------------------------

tensor l2_normalize_rows(const tensor& x) { return div(x, sqrt(sum(mul(x, x), {-1}, true))); }

tensor clip_loss(const tensor& img, const tensor& txt, const tensor& log_scale) {
  LMLAB_CHECK(img.dim() == 2 && img.shape() == txt.shape(), "clip_loss: image and text embeddings must both be (N, d), got {} and {}",
              shape_str(img.shape()), shape_str(txt.shape()));
  const std::int64_t N = img.size(0);
  // ref: Radford et al. 2021 (CLIP) Figure 3: logits = np.dot(I_e, T_e.T) * np.exp(t).
  tensor logits = mul(matmul(l2_normalize_rows(img), contiguous(transpose(l2_normalize_rows(txt), 0, 1))), exp(log_scale));
  std::vector<std::int32_t> lab(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) lab[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
  const tensor labels = tensor::from<std::int32_t>({N}, std::span<const std::int32_t>(lab));
  tensor li = cross_entropy(logits, labels), lt = cross_entropy(contiguous(transpose(logits, 0, 1)), labels);
  return mul_scalar(add(li, lt), 0.5);
}

// ---- ViT ------------------------------------------------------------------------------------

vit_block::vit_block(std::int64_t d, std::int64_t h, std::int64_t d_mlp)
    : ln1(d), ln2(d), w_q(d, d), w_k(d, d), w_v(d, d), w_o(d, d), fc1(d, d_mlp), fc2(d_mlp, d), heads(h) {
  register_module("ln1", ln1);
  register_module("w_q", w_q);
  register_module("w_k", w_k);
  register_module("w_v", w_v);
  register_module("w_o", w_o);
  register_module("ln2", ln2);
  register_module("fc1", fc1);
  register_module("fc2", fc2);
}

tensor vit_block::forward(const tensor& x) const {
  const std::int64_t B = x.size(0), N = x.size(1), d = x.size(2), D = d / heads;
  tensor h = ln1.forward(x);
  const auto split = [&](const tensor& t) { return transpose(reshape(t, {B, N, heads, D}), 1, 2); };  // (B,H,N,D)
  attention_options opt;
  opt.causal = false;
  tensor a = attention(split(w_q.forward(h)), split(w_k.forward(h)), split(w_v.forward(h)), opt);
  tensor y = add(x, w_o.forward(reshape(transpose(a, 1, 2), {B, N, d})));
  return add(y, fc2.forward(gelu(fc1.forward(ln2.forward(y)))));
}

vit::vit(const vit_config& c, std::int64_t canvas)
    : cfg(c), patch_embed(3 * c.patch * c.patch, c.d_model), ln_post(c.d_model), grid_(canvas / c.patch) {
  LMLAB_CHECK(c.patch >= 1 && canvas % c.patch == 0, "vit.patch: {} does not divide the canvas {}", c.patch, canvas);
  LMLAB_CHECK(c.n_heads >= 1 && c.d_model % c.n_heads == 0, "vit.n_heads: {} does not divide d_model {}", c.n_heads, c.d_model);
  register_module("patch_embed", patch_embed);
  pos = register_parameter("pos", tensor::zeros({grid_ * grid_, c.d_model}));
  for (std::int64_t i = 0; i < c.n_layers; ++i) blocks.push_back(std::make_unique<vit_block>(c.d_model, c.n_heads, c.d_mlp));
  register_module("blocks", blocks);
  register_module("ln_post", ln_post);
}

tensor vit::forward(const tensor& images) const {
  tensor x = add(patch_embed.forward(patchify(images, cfg.patch)), pos);  // (B, N, d)
  for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i].forward(x);
  return ln_post.forward(x);
}

text_tower::text_tower(std::int64_t vocab, std::int64_t d) : emb(vocab, d) { register_module("emb", emb); }

tensor text_tower::forward(const tensor& ids) const {
  const std::int64_t B = ids.size(0), T = ids.size(1);
  const std::vector<std::int32_t> v = ids.contiguous_raw().values<std::int32_t>();
  std::vector<float> m(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) m[i] = v[i] != 0 ? 1.0f : 0.0f;  // 0 = <pad>
  tensor mask = tensor::from<float>({B, T, 1}, std::span<const float>(m)).to_raw(emb.weight.type());
  tensor count = add_scalar(sum(mask, {1}), 1e-6);                        // (B, 1)
  return div(sum(mul(emb.forward(ids), mask), {1}), count);               // (B, d)
}

// ---- the model ----------------------------------------------------------------------------

vlm_model::vlm_model(vlm_config c, std::uint64_t seed)
    : cfg([&] {
        c.proj.d_in = c.vision.d_model;
        c.proj.d_out = c.lm.d_model;
        c.proj.grid = c.canvas / c.vision.patch;
        return c;
      }()),
      vision(cfg.vision, cfg.canvas),
      clip_image_head(cfg.vision.d_model, cfg.d_clip, false),
      text(cfg.lm.vocab_size, cfg.d_clip),
      clip_text_head(cfg.d_clip, cfg.d_clip, false),
      proj(cfg.proj, seed) {
  register_module("vision", vision);
  register_module("clip_image_head", clip_image_head);
  register_module("text", text);
  register_module("clip_text_head", clip_text_head);
  // ref: Radford et al. 2021 sec. 2.5: the temperature starts at 0.07 (log scale log(1/0.07)).
  log_scale = register_parameter("log_scale", tensor::full({}, std::log(1 / 0.07)));
  register_module("proj", proj);
  lm = models::make_model(cfg.lm, seed);
  register_module("lm", *lm);
  finalize_names();
  for (auto& [name, t] : named_parameters()) {
    if (t.dim() < 2 || name.rfind("lm.", 0) == 0 || name.rfind("proj.", 0) == 0) continue;  // lm and proj init themselves
    const double std = name == "vision.pos" || name == "text.emb.weight" ? 0.02 * 25 : 1.0 / std::sqrt(static_cast<double>(t.size(1)));
    nn::init_normal(t, 0.0, std, seed, nn::stream_of(name));
  }
}

tensor vlm_model::image_embedding(const tensor& patches) const {
  return clip_image_head.forward(mean(patches, {1}));  // (B, d_vit) -> (B, d_clip)
}

tensor vlm_model::logits(const tensor& patches, const tensor& ids) {
  tensor prefix = proj.forward(patches);  // (B, K, d_lm)
  return lm->forward_embeddings(cat({prefix, lm->embed(ids)}, 1));
}

}  // namespace lmlab::vlm
