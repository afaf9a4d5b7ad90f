// Image-token counts. Expected values come from running the reference algorithms' exact rules
// (llava/mm_utils.py select_best_resolution + llava_arch.py unpad_image; InternVL
// dynamic_preprocess / find_closest_aspect_ratio; transformers image_processing_qwen2_vl.py
// smart_resize) by hand in Python on the same sizes.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "plan/vlm_tokens.hpp"

using namespace lmlab::plan;

namespace {
struct sz { std::int64_t w, h; };
const sz kSizes[] = {{1920, 1080}, {1024, 1024}, {336, 336}, {640, 480}, {800, 1280},
                     {4032, 3024}, {70, 42},     {1000, 250}, {98, 70},  {3840, 2160}};
}  // namespace

TEST(vlm_tokens, llava_anyres) {
  const std::int64_t want[] = {1948, 2928, 1176, 2340, 2064, 2340, 926, 1890, 1026, 1948};
  for (std::size_t i = 0; i < std::size(kSizes); ++i)
    EXPECT_EQ(llava_anyres_tokens(kSizes[i].w, kSizes[i].h).tokens, want[i]) << kSizes[i].w << "x" << kSizes[i].h;
  EXPECT_EQ(llava_select_best_resolution(1000, 250), (std::pair<std::int64_t, std::int64_t>{1008, 336}));
  EXPECT_EQ(llava_select_best_resolution(336, 336), (std::pair<std::int64_t, std::int64_t>{336, 672}));  // first of ties
}

TEST(vlm_tokens, internvl_dynamic_tiling) {
  const std::int64_t want[] = {2304, 2560, 256, 3328, 1792, 3328, 1792, 1280, 3328, 2304};
  const std::pair<std::int64_t, std::int64_t> grids[] = {{4, 2}, {3, 3}, {1, 1}, {4, 3}, {2, 3},
                                                         {4, 3}, {3, 2}, {4, 1}, {4, 3}, {4, 2}};
  for (std::size_t i = 0; i < std::size(kSizes); ++i) {
    EXPECT_EQ(internvl_tokens(kSizes[i].w, kSizes[i].h).tokens, want[i]) << kSizes[i].w << "x" << kSizes[i].h;
    EXPECT_EQ(internvl_grid(kSizes[i].w, kSizes[i].h), grids[i]);
  }
  // Tie rule: aspect 1 ties (1,1), (2,2), (3,3); a large image takes the later grid only when
  // its area exceeds half the grid's pixel area.
  EXPECT_EQ(internvl_grid(448, 448), (std::pair<std::int64_t, std::int64_t>{1, 1}));
  EXPECT_EQ(internvl_grid(700, 700), (std::pair<std::int64_t, std::int64_t>{2, 2}));
  EXPECT_EQ(internvl_grid(2000, 2000), (std::pair<std::int64_t, std::int64_t>{3, 3}));
  internvl_options o;
  o.thumbnail = false;
  EXPECT_EQ(internvl_tokens(1920, 1080, o).tokens, 2048);
}

TEST(vlm_tokens, qwen2vl_smart_resize_round_half_even) {
  const std::int64_t want[] = {2691, 1369, 144, 391, 1334, 15552, 4, 324, 8, 10549};
  for (std::size_t i = 0; i < std::size(kSizes); ++i)
    EXPECT_EQ(qwen2vl_tokens(kSizes[i].w, kSizes[i].h, 1).tokens, want[i]) << kSizes[i].w << "x" << kSizes[i].h;
  // 70/28 = 2.5 rounds to 2 and 98/28 = 3.5 to 4 (Python round), not 3 and 4.
  EXPECT_EQ(qwen2vl_smart_resize(70, 98, 28, 0, 1 << 30), (std::pair<std::int64_t, std::int64_t>{56, 112}));
  EXPECT_EQ(python_round(2.5), 2);
  EXPECT_EQ(python_round(3.5), 4);
  EXPECT_EQ(python_round(-0.5), 0);
  // Default HF processor cap (28·28·1280): 1920x1080 -> 1316x728, 1222 tokens.
  qwen2vl_options o;
  o.max_pixels = 28 * 28 * 1280;
  const auto r = qwen2vl_tokens(1920, 1080, 1, o);
  EXPECT_EQ(r.tokens, 1222);
  EXPECT_EQ(r.resized_w, 1316);
  EXPECT_EQ(r.resized_h, 728);
  // Video: 16 frames -> 8 temporal groups.
  EXPECT_EQ(qwen2vl_tokens(640, 480, 16, o).tokens, 8 * 391);
  EXPECT_THROW(qwen2vl_smart_resize(5, 500, 28, 3136, 1 << 24), lmlab::error);
}

TEST(vlm_tokens, mrope_position_ids) {
  // ref: modeling_qwen2_vl.py get_rope_index: 4x6 patch grid, merge 2 -> 2x3 tokens.
  std::int64_t next = 0;
  const auto ids = qwen2vl_mrope_ids(1, 4, 6, 2, 5, &next);
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids[0], (std::array<std::int64_t, 3>{5, 5, 5}));
  EXPECT_EQ(ids[4], (std::array<std::int64_t, 3>{5, 6, 6}));
  EXPECT_EQ(next, 8);  // 5 + max(1, 2, 3)
}

TEST(vlm_tokens, vit_and_pixel_shuffle) {
  // The seed notes' 1024x1024 at patch 14: 73x73 = 5329 (floor; the image is cropped to 1022).
  EXPECT_EQ(vit_tokens(1024, 1024, 14, false, 1.0).tokens, 5329);
  EXPECT_EQ(vit_tokens(224, 224, 16, true, 1.0).tokens, 197);
  EXPECT_EQ(vit_tokens(448, 448, 14, false, 0.5).tokens, 256);  // InternVL: 1024 -> 256
  EXPECT_EQ(vit_tokens(336, 336, 14, false, 1.0).tokens, 576);
  EXPECT_EQ(vit_tokens(384, 384, 14, false, 1.0).tokens, 729);  // SigLIP-so400m/14 @384
  EXPECT_EQ(vit_tokens(640, 480, 16, false, 0.5).tokens, 300);
  EXPECT_THROW(vit_tokens(1024, 1024, 14, false, 0.5), lmlab::error);  // 73 not divisible by 2
  EXPECT_THROW(vit_tokens(0, 10, 14, false, 1.0), lmlab::error);
}
