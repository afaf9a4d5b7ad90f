// Image -> LLM token counts for the common VLM front ends, each following its reference
// preprocessing code's exact integer rules:
//  - LLaVA-1.6 "anyres" (haotian-liu/LLaVA llava/mm_utils.py select_best_resolution;
//    llava/model/llava_arch.py unpad_image + image_newline)
//  - InternVL dynamic tiling (OpenGVLab InternVL-Chat-V1-5 / InternVL2 dynamic_preprocess,
//    find_closest_aspect_ratio with its tie rule, thumbnail)
//  - Qwen2-VL smart_resize (transformers models/qwen2_vl/image_processing_qwen2_vl.py; Python's
//    round-half-to-even) with the M-RoPE (t, h, w) position ids (modeling_qwen2_vl.py get_rope_index)
//  - plain ViT patching, pixel-shuffle compression, and video (frames × per-frame tokens / temporal merge).
// Not for: resizing pixels or running an encoder.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmlab::plan {

struct vlm_result {
  std::int64_t tokens = 0;         // LLM tokens for the image (or video)
  std::int64_t tiles = 0;          // crops encoded (incl. thumbnail / base image)
  std::int64_t grid_w = 0, grid_h = 0;  // tiling grid (tiles across, down) or patch grid
  std::int64_t resized_w = 0, resized_h = 0;  // what the encoder sees (per tile for tiling schemes)
  std::string detail;              // e.g. "grid 2x2 + base, unpadded 48x36 + 36 newlines"
};

struct llava_options {
  std::vector<std::pair<std::int64_t, std::int64_t>> pinpoints = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
  std::int64_t tile = 336, patch = 14;  // CLIP ViT-L/14-336: 24x24 = 576 features per tile
};
// (width, height) of the best anyres resolution.  ref: llava/mm_utils.py select_best_resolution
std::pair<std::int64_t, std::int64_t> llava_select_best_resolution(std::int64_t w, std::int64_t h,
                                                                   const llava_options& o = {});
vlm_result llava_anyres_tokens(std::int64_t w, std::int64_t h, const llava_options& o = {});

struct internvl_options {
  std::int64_t min_num = 1, max_num = 12, image_size = 448, patch = 14;
  double downsample = 0.5;  // pixel shuffle ratio: 1024 -> 256 tokens per 448 tile
  bool thumbnail = true;
};
std::pair<std::int64_t, std::int64_t> internvl_grid(std::int64_t w, std::int64_t h, const internvl_options& o = {});
vlm_result internvl_tokens(std::int64_t w, std::int64_t h, const internvl_options& o = {});

struct qwen2vl_options {
  std::int64_t patch = 14, merge = 2, temporal_patch = 2;
  std::int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 16384;  // Qwen2-VL-7B-Instruct preprocessor_config.json
};
// (height, width) after smart_resize.  ref: image_processing_qwen2_vl.py smart_resize
std::pair<std::int64_t, std::int64_t> qwen2vl_smart_resize(std::int64_t h, std::int64_t w, std::int64_t factor,
                                                           std::int64_t min_pixels, std::int64_t max_pixels);
vlm_result qwen2vl_tokens(std::int64_t w, std::int64_t h, std::int64_t frames, const qwen2vl_options& o = {});
// M-RoPE (t, h, w) ids of the vision tokens starting after `text_before` text tokens (whose ids
// are 0..text_before-1 on all three axes), and the next text position.  ref: get_rope_index
std::vector<std::array<std::int64_t, 3>> qwen2vl_mrope_ids(std::int64_t grid_t, std::int64_t grid_h, std::int64_t grid_w,
                                                           std::int64_t merge, std::int64_t text_before,
                                                           std::int64_t* next_text_pos);

// Plain ViT: floor(h/p)·floor(w/p) (+1 for a CLS token), optionally pixel-shuffled by r
// (tokens / (1/r)^2, InternVL / Idefics3 style).
vlm_result vit_tokens(std::int64_t w, std::int64_t h, std::int64_t patch, bool cls, double shuffle_ratio);

// Python's round(): half to even (used by smart_resize).
std::int64_t python_round(double x);

}  // namespace lmlab::plan
