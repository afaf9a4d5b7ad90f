// Image token counts: see vlm_tokens.hpp. Each function mirrors the integer and floating-point
// steps of the reference code it names, including Python's int() truncation and round-half-even.
#include "plan/vlm_tokens.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace lmlab::plan {

namespace {
void check_size(std::int64_t w, std::int64_t h) {
  LMLAB_CHECK_HINT(w > 0 && h > 0, "give the image as WIDTHxHEIGHT, e.g. 1920x1080", "--image: size {}x{} must be positive",
                   w, h);
}
}  // namespace

std::int64_t python_round(double x) { return static_cast<std::int64_t>(std::nearbyint(x)); }  // FE_TONEAREST: ties to even

std::pair<std::int64_t, std::int64_t> llava_select_best_resolution(std::int64_t ow, std::int64_t oh,
                                                                   const llava_options& o) {
  check_size(ow, oh);
  // ref: llava/mm_utils.py select_best_resolution: maximise the effective (downscaled) resolution,
  // then minimise wasted pixels; ties keep the earlier pinpoint.
  std::pair<std::int64_t, std::int64_t> best{0, 0};
  std::int64_t max_eff = 0;
  double min_waste = std::numeric_limits<double>::infinity();
  for (const auto& [w, h] : o.pinpoints) {
    const double scale = std::min(static_cast<double>(w) / ow, static_cast<double>(h) / oh);
    const auto dw = static_cast<std::int64_t>(ow * scale), dh = static_cast<std::int64_t>(oh * scale);  // int()
    const std::int64_t eff = std::min(dw * dh, ow * oh);
    const double waste = static_cast<double>(w * h - eff);
    if (eff > max_eff || (eff == max_eff && waste < min_waste)) {
      max_eff = eff, min_waste = waste, best = {w, h};
    }
  }
  return best;
}

vlm_result llava_anyres_tokens(std::int64_t ow, std::int64_t oh, const llava_options& o) {
  const auto [bw, bh] = llava_select_best_resolution(ow, oh, o);
  const std::int64_t side = o.tile / o.patch;  // 24 features per tile side
  const std::int64_t gw = bw / o.tile, gh = bh / o.tile;
  std::int64_t cur_w = gw * side, cur_h = gh * side;
  // ref: llava/model/llava_arch.py unpad_image: crop the letterbox padding from the feature map.
  const double orig_ar = static_cast<double>(ow) / oh, cur_ar = static_cast<double>(cur_w) / cur_h;
  if (orig_ar > cur_ar) {
    const double scale = static_cast<double>(cur_w) / ow;
    const auto new_h = static_cast<std::int64_t>(oh * scale);
    const std::int64_t pad = (cur_h - new_h) / 2;
    cur_h = cur_h - 2 * pad;
  } else {
    const double scale = static_cast<double>(cur_h) / oh;
    const auto new_w = static_cast<std::int64_t>(ow * scale);
    const std::int64_t pad = (cur_w - new_w) / 2;
    cur_w = cur_w - 2 * pad;
  }
  vlm_result r;
  // base image (side²) + unpadded grid with one image_newline token per row
  r.tokens = side * side + cur_h * (cur_w + 1);
  r.tiles = gw * gh + 1;
  r.grid_w = gw, r.grid_h = gh;
  r.resized_w = bw, r.resized_h = bh;
  r.detail = fmt::format("best {}x{}, grid {}x{} + base {}, unpadded {}x{} features + {} newlines", bw, bh, gw, gh,
                         side * side, cur_w, cur_h, cur_h);
  return r;
}

std::pair<std::int64_t, std::int64_t> internvl_grid(std::int64_t w, std::int64_t h, const internvl_options& o) {
  check_size(w, h);
  LMLAB_CHECK_HINT(o.min_num >= 1 && o.max_num >= o.min_num, "e.g. --max-tiles 12", "--max-tiles: need 1 <= min <= max");
  // Candidates (i, j) with min_num <= i·j <= max_num, ordered by i·j. The reference builds a
  // Python set and sorts it by i·j (stable), so order within equal products follows set
  // iteration; within a product only reciprocal grids can tie, and (1,1) always beats both,
  // so we order by (i·j, i) — checked equal on a dense grid of sizes for max_num 6, 12, 40.
  std::vector<std::pair<std::int64_t, std::int64_t>> cand;
  for (std::int64_t i = 1; i <= o.max_num; ++i)
    for (std::int64_t j = 1; j <= o.max_num; ++j)
      if (i * j <= o.max_num && i * j >= o.min_num) cand.emplace_back(i, j);
  std::stable_sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
    return a.first * a.second != b.first * b.second ? a.first * a.second < b.first * b.second : a.first < b.first;
  });
  // ref: find_closest_aspect_ratio: smallest |ar - i/j|; on a tie take the later (larger) grid
  // only if the image area exceeds half the grid's pixel area.
  const double ar = static_cast<double>(w) / h;
  const double area = static_cast<double>(w) * h;
  double best_diff = std::numeric_limits<double>::infinity();
  std::pair<std::int64_t, std::int64_t> best{1, 1};
  for (const auto& [i, j] : cand) {
    const double diff = std::abs(ar - static_cast<double>(i) / j);
    if (diff < best_diff) {
      best_diff = diff, best = {i, j};
    } else if (diff == best_diff) {
      if (area > 0.5 * o.image_size * o.image_size * i * j) best = {i, j};
    }
  }
  return best;
}

vlm_result internvl_tokens(std::int64_t w, std::int64_t h, const internvl_options& o) {
  const auto [gi, gj] = internvl_grid(w, h, o);
  const std::int64_t blocks = gi * gj;
  const std::int64_t tiles = blocks + ((o.thumbnail && blocks != 1) ? 1 : 0);
  const std::int64_t side = o.image_size / o.patch;  // 32 patches per side
  const auto per_tile = static_cast<std::int64_t>(std::llround(side * side * o.downsample * o.downsample));
  vlm_result r;
  r.tokens = tiles * per_tile;
  r.tiles = tiles;
  r.grid_w = gi, r.grid_h = gj;
  r.resized_w = o.image_size * gi, r.resized_h = o.image_size * gj;
  r.detail = fmt::format("grid {}x{}{} , {} tokens per {}px tile", gi, gj, tiles > blocks ? " + thumbnail" : "", per_tile,
                         o.image_size);
  return r;
}

std::pair<std::int64_t, std::int64_t> qwen2vl_smart_resize(std::int64_t height, std::int64_t width, std::int64_t factor,
                                                           std::int64_t min_pixels, std::int64_t max_pixels) {
  check_size(width, height);
  LMLAB_CHECK_HINT(height >= 10 && width >= 10, "Qwen2-VL rejects images under 10 px a side",
                   "--image: {}x{} is smaller than 10 px (smart_resize raises)", width, height);
  LMLAB_CHECK_HINT(static_cast<double>(std::max(height, width)) / std::min(height, width) <= 200,
                   "Qwen2-VL rejects aspect ratios above 200", "--image: {}x{} has aspect ratio > 200", width, height);
  // ref: transformers image_processing_qwen2_vl.py smart_resize
  auto h_bar = python_round(static_cast<double>(height) / factor) * factor;
  auto w_bar = python_round(static_cast<double>(width) / factor) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt(static_cast<double>(height * width) / static_cast<double>(max_pixels));
    h_bar = static_cast<std::int64_t>(std::floor(height / beta / factor)) * factor;
    w_bar = static_cast<std::int64_t>(std::floor(width / beta / factor)) * factor;
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / static_cast<double>(height * width));
    h_bar = static_cast<std::int64_t>(std::ceil(height * beta / factor)) * factor;
    w_bar = static_cast<std::int64_t>(std::ceil(width * beta / factor)) * factor;
  }
  return {h_bar, w_bar};
}

vlm_result qwen2vl_tokens(std::int64_t w, std::int64_t h, std::int64_t frames, const qwen2vl_options& o) {
  LMLAB_CHECK_HINT(frames >= 1, "an image is one frame", "--frames: {} must be >= 1", frames);
  const auto [rh, rw] = qwen2vl_smart_resize(h, w, o.patch * o.merge, o.min_pixels, o.max_pixels);
  // An image is repeated to temporal_patch_size frames; a video of F frames gives F / 2 groups
  // (the video path pads F up to a multiple of temporal_patch_size).
  const std::int64_t grid_t = (frames + o.temporal_patch - 1) / o.temporal_patch;
  const std::int64_t gh = rh / o.patch, gw = rw / o.patch;
  vlm_result r;
  r.tokens = grid_t * gh * gw / (o.merge * o.merge);
  r.tiles = grid_t;
  r.grid_w = gw, r.grid_h = gh;
  r.resized_w = rw, r.resized_h = rh;
  r.detail = fmt::format("resized {}x{}, grid_thw ({}, {}, {}), {}x{} merge", rw, rh, grid_t, gh, gw, o.merge, o.merge);
  return r;
}

std::vector<std::array<std::int64_t, 3>> qwen2vl_mrope_ids(std::int64_t grid_t, std::int64_t grid_h, std::int64_t grid_w,
                                                           std::int64_t merge, std::int64_t text_before,
                                                           std::int64_t* next_text_pos) {
  // ref: transformers modeling_qwen2_vl.py get_rope_index: vision tokens get
  // (t, h, w) = (start + t, start + row, start + col) on the merged grid; the following text
  // continues from max(all ids) + 1.
  const std::int64_t lh = grid_h / merge, lw = grid_w / merge;
  std::vector<std::array<std::int64_t, 3>> ids;
  ids.reserve(static_cast<std::size_t>(grid_t * lh * lw));
  for (std::int64_t t = 0; t < grid_t; ++t)
    for (std::int64_t y = 0; y < lh; ++y)
      for (std::int64_t x = 0; x < lw; ++x) ids.push_back({text_before + t, text_before + y, text_before + x});
  if (next_text_pos) *next_text_pos = text_before + std::max({grid_t, lh, lw});
  return ids;
}

vlm_result vit_tokens(std::int64_t w, std::int64_t h, std::int64_t patch, bool cls, double shuffle_ratio) {
  check_size(w, h);
  LMLAB_CHECK_HINT(patch > 0, "e.g. --patch 14", "--patch: {} must be > 0", patch);
  LMLAB_CHECK_HINT(shuffle_ratio > 0 && shuffle_ratio <= 1, "pixel shuffle ratio such as 0.5 (4x fewer tokens)",
                   "--shuffle: {} must be in (0, 1]", shuffle_ratio);
  const std::int64_t gw = w / patch, gh = h / patch;
  const auto merge = static_cast<std::int64_t>(std::llround(1.0 / shuffle_ratio));
  LMLAB_CHECK_HINT(gw % merge == 0 && gh % merge == 0, "choose a size whose patch grid divides by 1/ratio",
                   "--shuffle: patch grid {}x{} is not divisible by {}", gw, gh, merge);
  vlm_result r;
  r.tokens = gw * gh / (merge * merge) + (cls ? 1 : 0);
  r.tiles = 1;
  r.grid_w = gw, r.grid_h = gh;
  r.resized_w = gw * patch, r.resized_h = gh * patch;
  r.detail = fmt::format("{}x{} patches of {}px{}{}", gw, gh, patch, merge > 1 ? fmt::format(", {}x{} shuffle", merge, merge) : "",
                         cls ? " + CLS" : "");
  return r;
}

}  // namespace lmlab::plan
