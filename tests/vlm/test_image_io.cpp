// PPM / PNG / base64 / data URIs of scene images: RFC 4648's base64 test vectors; a 1x1 red
// PNG byte for byte against one written by Python's zlib and struct (the data URI of
// tests/probe/fixtures/chat_image_request.json); and a scene's PNG decoded back (chunk CRCs,
// IHDR, inflated scanlines) to the PPM's pixels.
#include <gtest/gtest.h>
#include <zlib.h>

#include "core/fs.hpp"
#include "vlm/image_io.hpp"
#include "vlm/scene.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

std::uint32_t u32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
  return v;
}

TEST(vlm_image_io, base64_rfc4648_vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(vlm_image_io, one_red_pixel_matches_python) {
  const tensor red = tensor::from<float>({3, 1, 1}, {1.0f, 0.0f, 0.0f});
  EXPECT_EQ(png_data_uri(red),
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mP4z8AAAAMBAQD3A0FDAAAAAElFTkSuQmCC");
}

TEST(vlm_image_io, a_scene_png_decodes_to_the_ppm_pixels) {
  const scene s = make_scene(scene_config{}, 1, 3);
  const std::string png = encode_png(s.image), ppm = encode_ppm(s.image);
  const std::string header = "P6\n16 16\n255\n";
  ASSERT_EQ(ppm.substr(0, header.size()), header);
  ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  std::size_t at = 8;
  std::string idat, types;
  while (at < png.size()) {
    const std::uint32_t len = u32(png, at);
    const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, len);
    const std::string td = type + data;
    EXPECT_EQ(u32(png, at + 8 + len), static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))))
        << type;
    if (type == "IHDR") {
      EXPECT_EQ(u32(data, 0), 16u);
      EXPECT_EQ(u32(data, 4), 16u);
      EXPECT_EQ(data.substr(8), std::string("\x08\x02\x00\x00\x00", 5));
    }
    if (type == "IDAT") idat += data;
    types += type + " ";
    at += 12 + len;
  }
  EXPECT_EQ(types, "IHDR IDAT IEND ");
  std::string raw(16 * (1 + 16 * 3), '\0');
  uLongf n = static_cast<uLongf>(raw.size());
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &n, reinterpret_cast<const Bytef*>(idat.data()), static_cast<uLong>(idat.size())), Z_OK);
  ASSERT_EQ(n, raw.size());
  for (std::size_t y = 0; y < 16; ++y) {
    EXPECT_EQ(raw[y * 49], '\0');  // filter type 0
    EXPECT_EQ(raw.substr(y * 49 + 1, 48), ppm.substr(header.size() + y * 48, 48)) << "row " << y;
  }
}

}  // namespace
