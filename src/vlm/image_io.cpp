// PPM, PNG and data URIs: see image_io.hpp.
#include "vlm/image_io.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
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

// ---- decoding -----------------------------------------------------------------------------

std::string base64_decode(std::string_view text) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) throw image_error(fmt::format("base64: length {} is not a multiple of 4", text.size()));
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = value(c);
      if (d < 0 || pad > 0) throw image_error(fmt::format("base64: invalid character at offset {}", i + k));
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xFF));
  }
  return out;
}

std::string decode_data_uri(std::string_view uri) {
  constexpr std::string_view prefix = "data:image/png;base64,";
  if (!uri.starts_with(prefix)) {
    const std::string head(uri.substr(0, std::min<std::size_t>(uri.size(), 32)));
    throw image_error(fmt::format("image_url: expected a '{}...' data URI, got '{}{}'", prefix, head, uri.size() > 32 ? "..." : ""));
  }
  return base64_decode(uri.substr(prefix.size()));
}

namespace {

std::uint32_t get_u32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

constexpr std::string_view k_png_signature = "\x89PNG\r\n\x1a\n";

}  // namespace

png_header read_png_header(std::string_view png) {
  if (png.size() < 8 + 25 || png.substr(0, 8) != k_png_signature) throw image_error("png: not a PNG file (bad signature or too short)");
  if (get_u32(png, 8) != 13 || png.substr(12, 4) != "IHDR") throw image_error("png: the first chunk is not a 13-byte IHDR");
  png_header h;
  h.width = get_u32(png, 16);
  h.height = get_u32(png, 20);
  h.bit_depth = static_cast<unsigned char>(png[24]);
  h.colour_type = static_cast<unsigned char>(png[25]);
  h.interlace = static_cast<unsigned char>(png[28]);
  if (h.width == 0 || h.height == 0 || h.width > (1 << 24) || h.height > (1 << 24))
    throw image_error(fmt::format("png: bad size {}x{}", h.width, h.height));
  return h;
}

tensor decode_png(std::string_view png, std::int64_t max_pixels) {
  const png_header h = read_png_header(png);
  if (h.width * h.height > max_pixels)
    throw image_error(fmt::format("png: {}x{} is {} pixels, more than the {} allowed", h.width, h.height, h.width * h.height, max_pixels));
  int channels = 0;
  switch (h.colour_type) {
    case 0: channels = 1; break;
    case 2: channels = 3; break;
    case 4: channels = 2; break;
    case 6: channels = 4; break;
    default: throw image_error(fmt::format("png: colour type {} is not supported (grey, RGB, grey+alpha or RGBA only)", h.colour_type));
  }
  if (h.bit_depth != 8) throw image_error(fmt::format("png: bit depth {} is not supported (8 only)", h.bit_depth));
  if (h.interlace != 0) throw image_error("png: interlaced images are not supported");
  if (png[26] != 0 || png[27] != 0) throw image_error("png: unknown compression or filter method");
  // Chunks: lengths and CRCs checked; IDATs concatenated; IEND ends the file.
  std::string idat;
  std::size_t at = 8;
  bool end = false;
  while (!end) {
    if (at + 12 > png.size()) throw image_error(fmt::format("png: truncated chunk at byte {}", at));
    const std::uint32_t len = get_u32(png, at);
    if (len > png.size() - at - 12) throw image_error(fmt::format("png: chunk at byte {} runs past the end ({} bytes)", at, len));
    const std::string_view td = png.substr(at + 4, 4 + len);
    const auto crc = static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size())));
    if (crc != get_u32(png, at + 8 + len)) throw image_error(fmt::format("png: CRC mismatch in the '{}' chunk at byte {}", td.substr(0, 4), at));
    const std::string_view type = td.substr(0, 4);
    if (type == "IDAT") idat.append(td.substr(4));
    if (type == "IEND") end = true;
    at += 12 + len;
  }
  // Inflate into exactly the expected size: each row a filter byte and width * channels bytes.
  const auto stride = static_cast<std::size_t>(h.width * channels);
  std::string raw(static_cast<std::size_t>(h.height) * (stride + 1), '\0');
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw image_error("png: zlib inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(idat.data());
  zs.avail_in = static_cast<uInt>(idat.size());
  zs.next_out = reinterpret_cast<Bytef*>(raw.data());
  zs.avail_out = static_cast<uInt>(raw.size());
  const int rc = inflate(&zs, Z_FINISH);
  const std::size_t got = raw.size() - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || got != raw.size())
    throw image_error(fmt::format("png: image data inflates to {} bytes{}, expected {} for {}x{}", got,
                                  rc == Z_STREAM_END ? "" : " or more (or is corrupt)", raw.size(), h.width, h.height));
  // Unfilter (ref: PNG spec sec. 9.2; bpp = channels at bit depth 8).
  const auto bpp = static_cast<std::size_t>(channels);
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  tensor img = tensor::empty({3, h.height, h.width});
  float* px = img.data<float>();
  const std::size_t plane = static_cast<std::size_t>(h.width * h.height);
  for (std::int64_t y = 0; y < h.height; ++y) {
    const auto* row = reinterpret_cast<const unsigned char*>(raw.data()) + static_cast<std::size_t>(y) * (stride + 1);
    const int filter = row[0];
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw image_error(fmt::format("png: row {} has filter type {} (0-4 exist)", y, filter));
      }
      cur[i] = static_cast<unsigned char>(row[1 + i] + pred);
    }
    for (std::int64_t x = 0; x < h.width; ++x)
      for (std::size_t ch = 0; ch < 3; ++ch) {
        const std::size_t src = static_cast<std::size_t>(x) * bpp + (channels >= 3 ? ch : 0);
        px[ch * plane + static_cast<std::size_t>(y * h.width + x)] = static_cast<float>(cur[src]) / 255.0f;
      }
    std::swap(prev, cur);
  }
  return img;
}

}  // namespace lmlab::vlm
