// JPEG input (vlm/jpeg.hpp) through libjpeg-turbo: images encoded with the same library
// (vlm::encode_jpeg: quality 100, no chroma subsampling) decode back within JPEG's rounding; the header is read
// without decoding; oversized, CMYK-less, truncated and corrupted files are refused with an
// image_error (every truncation and a flipped byte at each offset: an error or an image, never a
// crash); data URIs of both formats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "vlm/image_io.hpp"
#include "vlm/jpeg.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

// A smooth RGB (or grey) test image: JPEG at quality 100 keeps it within a few levels.
std::vector<unsigned char> gradient(int W, int H, int components) {
  std::vector<unsigned char> px;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < components; ++c) px.push_back(static_cast<unsigned char>((40 + 12 * x + 9 * y + 60 * c) % 256));
  return px;
}

// Interleaved 8-bit pixels -> JPEG through vlm::encode_jpeg (libjpeg-turbo, 4:4:4).
std::string jpeg_of(const std::vector<unsigned char>& px, int W, int H, int components, bool progressive = false) {
  tensor t = tensor::empty({components, H, W});
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < components; ++c)
        t.data<float>()[(c * H + y) * W + x] = static_cast<float>(px[static_cast<std::size_t>((y * W + x) * components + c)]) / 255.0f;
  return vlm::encode_jpeg(t, 100, progressive);
}

TEST(vlm_jpeg, decodes_colour_and_grey_within_rounding) {
  const int W = 16, H = 8;
  for (const int comps : {3, 1})
    for (const bool progressive : {false, true}) {
      const auto px = gradient(W, H, comps);
      const std::string jpg = jpeg_of(px, W, H, comps, progressive);
      ASSERT_TRUE(looks_like_jpeg(jpg));
      const jpeg_header h = read_jpeg_header(jpg);
      EXPECT_EQ(h.width, W);
      EXPECT_EQ(h.height, H);
      EXPECT_EQ(h.components, comps);
      const tensor img = decode_jpeg(jpg, W * H);
      ASSERT_EQ(img.shape(), (shape_t{3, H, W}));
      double worst = 0;
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < 3; ++c) {
            const double want = px[static_cast<std::size_t>((y * W + x) * comps + (comps == 3 ? c : 0))];
            worst = std::max(worst, std::abs(img.at({c, y, x}) * 255 - want));
          }
      EXPECT_LE(worst, 4.0) << "components " << comps << (progressive ? " progressive" : " baseline");
    }
}

TEST(vlm_jpeg, refusals_name_the_reason) {
  const std::string jpg = jpeg_of(gradient(16, 8, 3), 16, 8, 3);
  const auto err = [](const std::string& b, std::int64_t max_pixels = 1 << 20) {
    try {
      decode_jpeg(b, max_pixels);
    } catch (const image_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err("\x89PNG...."), "jpeg: not a JPEG file (no FF D8 FF start-of-image marker)");
  EXPECT_EQ(err(jpg, 127), "jpeg: 16x8 is 128 pixels, more than the 127 allowed");
  EXPECT_NE(err(jpg.substr(0, jpg.size() / 2)).find("jpeg: Premature end of JPEG file"), std::string::npos)
      << err(jpg.substr(0, jpg.size() / 2));
  EXPECT_NE(err(jpg.substr(0, 20)).find("jpeg: "), std::string::npos);
  rng g(3, 4);
  for (std::size_t cut = 0; cut < jpg.size(); ++cut) EXPECT_NE(err(jpg.substr(0, cut)), "no error") << "truncated at " << cut;
  for (std::size_t at = 0; at < jpg.size(); ++at) {
    std::string bad = jpg;
    bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + g.below(255)));
    try {
      const tensor t = decode_jpeg(bad, 1 << 16);
      EXPECT_EQ(t.dim(), 3);
    } catch (const image_error&) {
    }
  }
}

TEST(vlm_jpeg, encoder_refuses_bad_input) {
  EXPECT_THROW(vlm::encode_jpeg(tensor::zeros({2, 4, 4}), 90), image_error);
  EXPECT_THROW(vlm::encode_jpeg(tensor::zeros({3, 4, 4}), 0), image_error);
}

TEST(vlm_jpeg, data_uris_of_both_formats) {
  const std::string jpg = jpeg_of(gradient(4, 4, 3), 4, 4, 3);
  const image_bytes a = decode_image_data_uri("data:image/jpeg;base64," + base64(jpg));
  EXPECT_EQ(a.format, "jpeg");
  EXPECT_EQ(a.bytes, jpg);
  EXPECT_EQ(decode_image_data_uri("data:image/jpg;base64," + base64(jpg)).format, "jpeg");
  EXPECT_EQ(image_size(a), (std::pair<std::int64_t, std::int64_t>{4, 4}));
  EXPECT_EQ(decode_image(a, 16).shape(), (shape_t{3, 4, 4}));
  const tensor red = tensor::from<float>({3, 1, 1}, {1.0f, 0.0f, 0.0f});
  const image_bytes p = decode_image_data_uri(png_data_uri(red));
  EXPECT_EQ(p.format, "png");
  EXPECT_EQ(image_size(p), (std::pair<std::int64_t, std::int64_t>{1, 1}));
  try {
    decode_image_data_uri("data:image/gif;base64,R0lG");
    ADD_FAILURE();
  } catch (const image_error& e) {
    EXPECT_STREQ(
        e.what(),
        "image_url: expected a 'data:image/png;base64,...' or 'data:image/jpeg;base64,...' data URI, got 'data:image/gif;base64,R0lG'");
  }
}

}  // namespace
