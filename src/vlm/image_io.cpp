// PPM, PNG and data URIs: see image_io.hpp.
#include "vlm/image_io.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace lmlab::vlm {

namespace {

// Row-major 8-bit RGB of a (3, H, W) tensor.
std::string rgb_bytes(const tensor& image, std::int64_t& H, std::int64_t& W) {
  LMLAB_CHECK(image.dim() == 3 && image.size(0) == 3, "image: expected (3, H, W), got {}", shape_str(image.shape()));
  H = image.size(1);
  W = image.size(2);
  const std::vector<double> px = image.to_vector();
  std::string out(static_cast<std::size_t>(H * W * 3), '\0');
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t x = 0; x < W; ++x)
      for (std::int64_t c = 0; c < 3; ++c)
        out[static_cast<std::size_t>((y * W + x) * 3 + c)] =
            static_cast<char>(std::lround(255 * std::clamp(px[static_cast<std::size_t>((c * H + y) * W + x)], 0.0, 1.0)));
  return out;
}

void put_u32(std::string& s, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_chunk(std::string& png, const char* type, const std::string& data) {
  put_u32(png, static_cast<std::uint32_t>(data.size()));
  const std::string td = std::string(type, 4) + data;
  png += td;
  put_u32(png, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))));
}

}  // namespace

std::string encode_ppm(const tensor& image) {
  std::int64_t H = 0, W = 0;
  const std::string rgb = rgb_bytes(image, H, W);
  return "P6\n" + std::to_string(W) + " " + std::to_string(H) + "\n255\n" + rgb;
}

std::string encode_png(const tensor& image) {
  std::int64_t H = 0, W = 0;
  const std::string rgb = rgb_bytes(image, H, W);
  std::string raw;  // each scanline: filter type 0 (none), then its bytes
  for (std::int64_t y = 0; y < H; ++y) raw += '\0' + rgb.substr(static_cast<std::size_t>(y * W * 3), static_cast<std::size_t>(W * 3));
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  LMLAB_CHECK(compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                        Z_BEST_COMPRESSION) == Z_OK,
              "png: zlib compress failed");
  z.resize(n);
  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(W));
  put_u32(ihdr, static_cast<std::uint32_t>(H));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", "");
  return png;
}

std::string base64(std::string_view bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto v = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(k[(v >> s) & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.push_back(k[(v >> 18) & 63]);
    out.push_back(k[(v >> 12) & 63]);
    out.push_back(rest == 2 ? k[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string png_data_uri(const tensor& image) { return "data:image/png;base64," + base64(encode_png(image)); }

}  // namespace lmlab::vlm
