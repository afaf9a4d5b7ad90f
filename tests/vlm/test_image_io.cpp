// PPM / PNG / base64 / data URIs of scene images: RFC 4648's base64 test vectors; a 1x1 red
// PNG byte for byte against one written by Python's zlib and struct (the data URI of
// tests/probe/fixtures/chat_image_request.json); and a scene's PNG decoded back (chunk CRCs,
// IHDR, inflated scanlines) to the PPM's pixels.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>

#include "core/fs.hpp"
#include "core/rng.hpp"
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

// ---- decoding ----

TEST(vlm_image_io, base64_decodes_rfc4648_vectors_and_refuses_bad_text) {
  for (const std::string& x : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\xfe\x00", 3)})
    EXPECT_EQ(base64_decode(base64(x)), x);
  const auto err = [](const std::string& t) {
    try {
      base64_decode(t);
    } catch (const image_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err("Zm9"), "base64: length 3 is not a multiple of 4");
  EXPECT_EQ(err("Zm9v!A=="), "base64: invalid character at offset 4");
  EXPECT_EQ(err("Zg==Zm9v"), "base64: invalid character at offset 2");  // padding only at the end
  EXPECT_EQ(err("Z==="), "base64: invalid character at offset 1");
  EXPECT_EQ(err("Zm 9"), "base64: invalid character at offset 2");
  EXPECT_THROW(decode_data_uri("data:image/jpeg;base64,Zm9v"), image_error);
  EXPECT_EQ(decode_data_uri("data:image/png;base64,Zm9v"), "foo");
}

TEST(vlm_image_io, png_round_trips_to_the_8_bit_pixels) {
  const scene s = make_scene(scene_config{}, 2, 5);
  const tensor back = decode_png(encode_png(s.image), 1 << 20);
  ASSERT_EQ(back.shape(), s.image.shape());
  const std::string ppm = encode_ppm(s.image), header = "P6\n16 16\n255\n";
  for (std::int64_t y = 0; y < 16; ++y)
    for (std::int64_t x = 0; x < 16; ++x)
      for (std::int64_t c = 0; c < 3; ++c)
        EXPECT_EQ(std::lround(back.at({c, y, x}) * 255.0), static_cast<long>(static_cast<unsigned char>(ppm[header.size() + static_cast<std::size_t>((y * 16 + x) * 3 + c)])));
}

std::string chunk(const std::string& type, const std::string& data) {
  std::string out;
  const auto put = [&](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put(static_cast<std::uint32_t>(data.size()));
  const std::string td = type + data;
  out += td;
  put(static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))));
  return out;
}

// A PNG of `channels` 8-bit samples per pixel (colour type `ct`) whose row y uses filter y % 5,
// filtered here by the specification's definitions (sec. 9.2; Paeth sec. 9.4).
std::string filtered_png(const std::vector<unsigned char>& px, int W, int H, int channels, int ct) {
  const int stride = W * channels;
  std::string raw;
  for (int y = 0; y < H; ++y) {
    const int f = y % 5;
    raw.push_back(static_cast<char>(f));
    for (int i = 0; i < stride; ++i) {
      const int cur = px[static_cast<std::size_t>(y * stride + i)];
      const int a = i >= channels ? px[static_cast<std::size_t>(y * stride + i - channels)] : 0;
      const int b = y > 0 ? px[static_cast<std::size_t>((y - 1) * stride + i)] : 0;
      const int c = y > 0 && i >= channels ? px[static_cast<std::size_t>((y - 1) * stride + i - channels)] : 0;
      const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
      const int paeth = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
      const int pred[5] = {0, a, b, (a + b) / 2, paeth};
      raw.push_back(static_cast<char>((cur - pred[f]) & 0xFF));
    }
  }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  z.resize(n);
  std::string ihdr;
  for (const int v : {W, H})
    for (int i = 3; i >= 0; --i) ihdr.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  ihdr += std::string{'\x08', static_cast<char>(ct), '\0', '\0', '\0'};
  // Two IDAT chunks: decoders must concatenate them.
  return std::string("\x89PNG\r\n\x1a\n") + chunk("IHDR", ihdr) + chunk("IDAT", z.substr(0, z.size() / 2)) +
         chunk("tEXt", std::string("Comment\0x", 9)) + chunk("IDAT", z.substr(z.size() / 2)) + chunk("IEND", "");
}

TEST(vlm_image_io, png_decoder_undoes_every_filter_in_grey_rgb_and_alpha_forms) {
  const int W = 7, H = 11;
  rng g(5, 6);
  for (const auto& [channels, ct] : {std::pair{1, 0}, std::pair{2, 4}, std::pair{3, 2}, std::pair{4, 6}}) {
    std::vector<unsigned char> px(static_cast<std::size_t>(W * H * channels));
    for (auto& v : px) v = static_cast<unsigned char>(g.below(256));
    const tensor img = decode_png(filtered_png(px, W, H, channels, ct), 1000);
    ASSERT_EQ(img.shape(), (shape_t{3, H, W}));
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) {
          const int src = channels >= 3 ? c : 0;  // grey feeds all three; alpha is dropped
          EXPECT_EQ(std::lround(img.at({c, y, x}) * 255), px[static_cast<std::size_t>((y * W + x) * channels + src)])
              << "type " << ct << " at " << x << "," << y << " channel " << c;
        }
  }
}

TEST(vlm_image_io, png_decoder_refuses_bad_files_with_a_reason) {
  const std::string png = encode_png(make_scene(scene_config{}, 1, 0).image);
  const auto err = [](const std::string& bytes, std::int64_t max_pixels = 1 << 20) {
    try {
      decode_png(bytes, max_pixels);
    } catch (const image_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err("GIF89a........................................"), "png: not a PNG file (bad signature or too short)");
  EXPECT_EQ(err(png, 255), "png: 16x16 is 256 pixels, more than the 255 allowed");
  std::string crc = png;
  crc[30] ^= 1;  // a byte of IHDR's CRC
  EXPECT_NE(err(crc).find("CRC mismatch in the 'IHDR' chunk"), std::string::npos) << err(crc);
  EXPECT_NE(err(png.substr(0, png.size() - 30)).find("runs past the end"), std::string::npos);
  EXPECT_NE(err(png.substr(0, png.size() - 12)).find("truncated chunk"), std::string::npos);  // no IEND
  std::string deep = png;
  deep[24] = 16;  // bit depth 16
  EXPECT_EQ(err(deep), "png: bit depth 16 is not supported for colour type 2 (8; also 1, 2, 4 for grey and palette)");  // before the CRC
  std::string low = png;
  low[24] = 4;  // 4-bit RGB does not exist
  EXPECT_EQ(err(low), "png: bit depth 4 is not supported for colour type 2 (8; also 1, 2, 4 for grey and palette)");
  std::string odd = png;
  odd[25] = 5;
  EXPECT_EQ(err(odd), "png: colour type 5 is not supported (grey, RGB, palette, grey+alpha or RGBA only)");
  std::string zero = png;
  zero[16] = zero[17] = zero[18] = zero[19] = 0;
  EXPECT_EQ(err(zero), "png: bad size 0x16");
  EXPECT_EQ(read_png_header(png).width, 16);
}

}  // namespace
