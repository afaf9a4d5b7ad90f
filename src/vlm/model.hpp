// The lab's tiny vision-language model, LLaVA's recipe at toy scale: a ViT patch encoder, a
// projector from its patch features to the LM's width, and the zoo LM (models/lm.hpp) reading
// the projected image tokens as a prefix before the text (lm::forward_embeddings).
//   images (B, 3, S, S) -> vit -> patches (B, N, d_vit) -> projector -> (B, K, d_lm)
//   [image tokens ; embed(text)] -> lm -> logits (B, K + T, V)
// Projectors (K = image tokens per image, the token-budget knob; N = grid^2 patches):
//   linear        W x (LLaVA, Liu et al. 2023 sec. 4.1), after average pooling to K tokens;
//   mlp           W2 gelu(W1 x) (LLaVA-1.5, Liu et al. 2023b sec. 3.2), after average pooling;
//   resampler     K learned queries cross-attend to the patches, then W (one layer of
//                 Flamingo's Perceiver Resampler, Alayrac et al. 2022 sec. 2.1 / BLIP-2's
//                 Q-Former queries, Li et al. 2023; no layer norms, no latent self-attention);
//   pixel_shuffle r x r neighbouring patches concatenated into one token (N / r^2 tokens of
//                 r^2 d_vit), then the MLP (InternVL 1.5, Chen et al. 2024 sec. 3.1; our channel
//                 order within a token differs from theirs, which the MLP's weights absorb).
// CLIP pretraining: the mean of the ViT's patch features and a bag-of-words text tower, each
// projected to d_clip, under the symmetric contrastive loss (clip_loss).
// Each projector is a pure function of its weights (project), so tests check it in f64.
// Not for: training stages and evaluation (runner.cpp), the scenes (scene.hpp).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/lm.hpp"
#include "nn/module.hpp"
#include "tasks/params.hpp"

namespace lmlab::vlm {

// ---- patches ------------------------------------------------------------------------------
// images (B, C, S, S) -> (B, (S/p)^2, C p p): patches in row-major grid order, each flattened
// as (channel, row, column) like a Conv2d(kernel = stride = p) weight.
tensor patchify(const tensor& images, std::int64_t p);

// ---- projectors ---------------------------------------------------------------------------
enum class projector_kind { linear, mlp, resampler, pixel_shuffle };
projector_kind projector_from_name(const std::string& name, const std::string& where);
const char* projector_name(projector_kind k);

struct projector_spec {
  projector_kind kind = projector_kind::mlp;
  std::int64_t d_in = 32, d_out = 32;
  std::int64_t grid = 4;    // patches per side (N = grid^2)
  std::int64_t tokens = 16; // image tokens per image K
  std::int64_t heads = 2;   // resampler
  std::int64_t d_hidden = 0;  // mlp / pixel_shuffle hidden width (0: d_out)
  // Errors read "<where>: image_tokens: ...": K must be a square dividing the grid for pooling and pixel shuffle.
  void validate(const std::string& where) const;
};
// The weights' names and shapes, in the order project() takes them.
std::vector<std::pair<std::string, shape_t>> projector_param_shapes(const projector_spec& s);
// x (B, N, d_in) -> (B, K, d_out); `w` in projector_param_shapes order (f32 or f64, as x).
tensor project(const projector_spec& s, const std::vector<tensor>& w, const tensor& x);
// x (B, g*g, d) -> (B, (g/r)^2, d): mean over r x r blocks of the grid.
tensor grid_pool(const tensor& x, std::int64_t g, std::int64_t r);
// x (B, g*g, d) -> (B, (g/r)^2, r*r*d): each r x r block's features concatenated (row, column, channel).
tensor pixel_shuffle(const tensor& x, std::int64_t g, std::int64_t r);

class projector : public nn::module {
 public:
  projector(const projector_spec& s, std::uint64_t seed, dtype t = dtype::f32);
  tensor forward(const tensor& x) const { return project(spec_, weights_, x); }
  const projector_spec& spec() const { return spec_; }

 private:
  projector_spec spec_;
  std::vector<tensor> weights_;
};

// ---- CLIP ---------------------------------------------------------------------------------
// Symmetric InfoNCE over a batch of N matched pairs, ref: Radford et al. 2021 (CLIP) Figure 3:
//   I = img / |img|, T = txt / |txt| (rows), logits = exp(log_scale) I T^T,
//   loss = (CE(logits, arange N) + CE(logits^T, arange N)) / 2.
// img, txt (N, d); log_scale a scalar (CLIP learns it, initialised at log(1/0.07)).
tensor clip_loss(const tensor& img, const tensor& txt, const tensor& log_scale);
// Rows divided by their 2-norm: x (N, d) -> (N, d).
tensor l2_normalize_rows(const tensor& x);

// ---- the model ----------------------------------------------------------------------------
struct vit_config {
  std::int64_t patch = 4, d_model = 32, n_layers = 1, n_heads = 2, d_mlp = 64;
};
// The ViT's [task] keys of vlm_pope and vlm_clip_real (patch, vit_d, vit_layers, vit_heads;
// their defaults differ, so each config declares the members): the table rows, with vit_d's
// help `width_help`, and the vit_config (d_mlp = 2 * vit_d).
template <class C>
void add_vit_keys(tasks::param_table<C>& p, const char* width_help) {
  p.add("patch", &C::patch, "ViT patch side", 1, 64)
      .add("vit_d", &C::vit_d, width_help, 4, 4096)
      .add("vit_layers", &C::vit_layers, "ViT blocks", 0, 64)
      .add("vit_heads", &C::vit_heads, "ViT heads", 1, 64);
}
template <class C>
vit_config vit_of(const C& t) {
  return {t.patch, t.vit_d, t.vit_layers, t.vit_heads, 2 * t.vit_d};
}

class vit_block : public nn::module {
 public:
  vit_block(std::int64_t d, std::int64_t heads, std::int64_t d_mlp);
  tensor forward(const tensor& x) const;  // (B, N, d) -> (B, N, d), bidirectional attention
  nn::layer_norm ln1, ln2;
  nn::linear w_q, w_k, w_v, w_o, fc1, fc2;
  std::int64_t heads;
};

// Patch embedding, learned positions, pre-norm blocks, final norm (Dosovitskiy et al. 2021).
class vit : public nn::module {
 public:
  vit(const vit_config& c, std::int64_t canvas);
  tensor forward(const tensor& images) const;  // (B, 3, S, S) -> (B, N, d)
  std::int64_t grid() const { return grid_; }
  vit_config cfg;
  nn::linear patch_embed;
  tensor pos;  // (N, d)
  nn::module_list<vit_block> blocks;
  nn::layer_norm ln_post;

 private:
  std::int64_t grid_;
};

// Bag-of-words text tower: mean of the word embeddings of non-pad tokens. ids (B, T) -> (B, d).
class text_tower : public nn::module {
 public:
  text_tower(std::int64_t vocab, std::int64_t d);
  tensor forward(const tensor& ids) const;
  nn::embedding emb;
};

struct vlm_config {
  vit_config vision;
  projector_spec proj;           // d_in, d_out and grid are filled from vision and lm
  models::lm_config lm;          // n_ctx must cover image tokens + text
  std::int64_t d_clip = 32;
  std::int64_t canvas = 16;
};

class vlm_model : public nn::module {
 public:
  vlm_model(vlm_config c, std::uint64_t seed);
  // CLIP embeddings: images (B, 3, S, S) -> (B, d_clip); captions (B, T) -> (B, d_clip).
  tensor image_embedding(const tensor& patches) const;
  tensor text_embedding(const tensor& ids) const { return clip_text_head.forward(text.forward(ids)); }
  // patches (B, N, d_vit), ids (B, T) -> logits (B, K + T, V).
  tensor logits(const tensor& patches, const tensor& ids);
  std::int64_t image_tokens() const { return cfg.proj.tokens; }

  vlm_config cfg;
  vit vision;
  nn::linear clip_image_head;
  text_tower text;
  nn::linear clip_text_head;
  tensor log_scale;
  projector proj;
  std::unique_ptr<models::lm> lm;
};

}  // namespace lmlab::vlm
