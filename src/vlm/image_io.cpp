// PPM, PNG and data URIs: see image_io.hpp.
#include "vlm/image_io.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.hpp"
#include "vlm/jpeg.hpp"

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

image_bytes decode_image_data_uri(std::string_view uri) {
  for (const auto& [prefix, format] : {std::pair<std::string_view, const char*>{"data:image/png;base64,", "png"},
                                       {"data:image/jpeg;base64,", "jpeg"},
                                       {"data:image/jpg;base64,", "jpeg"}})
    if (uri.starts_with(prefix)) return {format, base64_decode(uri.substr(prefix.size()))};
  const std::string head(uri.substr(0, std::min<std::size_t>(uri.size(), 32)));
  throw image_error(fmt::format("image_url: expected a 'data:image/png;base64,...' or 'data:image/jpeg;base64,...' data URI, got '{}{}'",
                                head, uri.size() > 32 ? "..." : ""));
}

std::pair<std::int64_t, std::int64_t> image_size(const image_bytes& img) {
  if (img.format == "jpeg") {
    const jpeg_header h = read_jpeg_header(img.bytes);
    return {h.width, h.height};
  }
  const png_header h = read_png_header(img.bytes);
  return {h.width, h.height};
}

tensor decode_image(const image_bytes& img, std::int64_t max_pixels) {
  return img.format == "jpeg" ? decode_jpeg(img.bytes, max_pixels) : decode_png(img.bytes, max_pixels);
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

namespace {

// Samples per pixel of a colour type (ref: PNG spec sec. 6.1); 0 for an unknown type.
int png_channels(int colour_type) {
  switch (colour_type) {
    case 0: return 1;  // grey
    case 2: return 3;  // RGB
    case 3: return 1;  // palette index
    case 4: return 2;  // grey + alpha
    case 6: return 4;  // RGBA
    default: return 0;
  }
}

// The chunks a decoder needs: IDATs concatenated, PLTE and tRNS (views into `png`).
// Lengths and CRCs are checked; IEND ends the walk.
struct png_chunks {
  std::string idat;
  std::string_view plte, trns;
};
png_chunks read_png_chunks(std::string_view png) {
  png_chunks out;
  std::size_t at = 8;
  for (bool end = false; !end;) {
    if (at + 12 > png.size()) throw image_error(fmt::format("png: truncated chunk at byte {}", at));
    const std::uint32_t len = get_u32(png, at);
    if (len > png.size() - at - 12) throw image_error(fmt::format("png: chunk at byte {} runs past the end ({} bytes)", at, len));
    const std::string_view td = png.substr(at + 4, 4 + len);
    const auto crc = static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size())));
    if (crc != get_u32(png, at + 8 + len)) throw image_error(fmt::format("png: CRC mismatch in the '{}' chunk at byte {}", td.substr(0, 4), at));
    const std::string_view type = td.substr(0, 4);
    if (type == "IDAT") out.idat.append(td.substr(4));
    if (type == "PLTE") out.plte = td.substr(4);
    if (type == "tRNS") out.trns = td.substr(4);
    if (type == "IEND") end = true;
    at += 12 + len;
  }
  return out;
}

// Inflates into exactly `size` bytes; anything else is an error naming both sizes.
std::string inflate_exact(std::string& z, std::size_t size, const png_header& h) {
  std::string raw(size, '\0');
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw image_error("png: zlib inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(z.data());
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(raw.data());
  zs.avail_out = static_cast<uInt>(raw.size());
  const int rc = inflate(&zs, Z_FINISH);
  const std::size_t got = raw.size() - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || got != raw.size())
    throw image_error(fmt::format("png: image data inflates to {} bytes{}, expected {} for {}x{}", got,
                                  rc == Z_STREAM_END ? "" : " or more (or is corrupt)", raw.size(), h.width, h.height));
  return raw;
}

// Undoes one scanline's filter in place (ref: PNG spec sec. 9.2, Paeth sec. 9.4); `bpp` bytes
// per complete pixel (at least 1), `prev` the previous unfiltered row (zeros for the first).
void unfilter_row(int filter, unsigned char* cur, const unsigned char* prev, std::size_t stride, std::size_t bpp, std::int64_t y) {
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
    cur[i] = static_cast<unsigned char>(cur[i] + pred);
  }
}

// Sample `i` of an unfiltered row at bit depth `depth` (1, 2, 4: packed from the high bits).
int sample_at(const unsigned char* row, std::int64_t i, int depth) {
  if (depth == 8) return row[i];
  const std::int64_t bit = i * depth;
  return (row[bit / 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1);
}

void check_png_format(const png_header& h, std::string_view png) {
  if (png_channels(h.colour_type) == 0)
    throw image_error(fmt::format("png: colour type {} is not supported (grey, RGB, palette, grey+alpha or RGBA only)", h.colour_type));
  const bool low_ok = h.colour_type == 0 || h.colour_type == 3;
  if (!(h.bit_depth == 8 || (low_ok && (h.bit_depth == 1 || h.bit_depth == 2 || h.bit_depth == 4))))
    throw image_error(fmt::format("png: bit depth {} is not supported for colour type {} (8; also 1, 2, 4 for grey and palette)",
                                  h.bit_depth, h.colour_type));
  if (h.interlace != 0) throw image_error("png: interlaced images are not supported");
  if (png[26] != 0 || png[27] != 0) throw image_error("png: unknown compression or filter method");
}

}  // namespace

tensor decode_png_rgba(std::string_view png, std::int64_t max_pixels) {
  const png_header h = read_png_header(png);
  if (h.width * h.height > max_pixels)
    throw image_error(fmt::format("png: {}x{} is {} pixels, more than the {} allowed", h.width, h.height, h.width * h.height, max_pixels));
  check_png_format(h, png);
  png_chunks ch = read_png_chunks(png);
  const int channels = png_channels(h.colour_type), depth = h.bit_depth;
  const bool palette = h.colour_type == 3;
  if (palette && (ch.plte.empty() || ch.plte.size() % 3 != 0 || ch.plte.size() > 768))
    throw image_error(fmt::format("png: a palette image needs a PLTE chunk of 1-256 RGB entries (got {} bytes)", ch.plte.size()));
  const auto stride = static_cast<std::size_t>((h.width * channels * depth + 7) / 8);
  std::string raw = inflate_exact(ch.idat, static_cast<std::size_t>(h.height) * (stride + 1), h);
  const std::size_t bpp = std::max<std::size_t>(1, static_cast<std::size_t>(channels * depth / 8));
  const std::vector<unsigned char> zeros(stride, 0);
  tensor img = tensor::empty({4, h.height, h.width});
  float* px = img.data<float>();
  const auto plane = static_cast<std::size_t>(h.width * h.height);
  const float scale = 1.0f / static_cast<float>((1 << depth) - 1);
  auto* base = reinterpret_cast<unsigned char*>(raw.data());
  for (std::int64_t y = 0; y < h.height; ++y) {
    unsigned char* row = base + static_cast<std::size_t>(y) * (stride + 1);
    unfilter_row(row[0], row + 1, y > 0 ? row + 1 - (stride + 1) : zeros.data(), stride, bpp, y);
    for (std::int64_t x = 0; x < h.width; ++x) {
      float rgba[4] = {0, 0, 0, 1};
      if (palette) {
        const int k = sample_at(row + 1, x, depth);
        if (static_cast<std::size_t>(3 * k + 2) >= ch.plte.size())
          throw image_error(fmt::format("png: pixel ({}, {}) has palette index {}, past the {} PLTE entries", x, y, k, ch.plte.size() / 3));
        for (int c = 0; c < 3; ++c) rgba[c] = static_cast<float>(static_cast<unsigned char>(ch.plte[static_cast<std::size_t>(3 * k + c)])) / 255.0f;
        if (static_cast<std::size_t>(k) < ch.trns.size()) rgba[3] = static_cast<float>(static_cast<unsigned char>(ch.trns[static_cast<std::size_t>(k)])) / 255.0f;
      } else {
        for (int c = 0; c < channels; ++c) {
          const float v = static_cast<float>(sample_at(row + 1, x * channels + c, depth)) * scale;
          if (channels <= 2) rgba[c == 0 ? 0 : 3] = v;
          else rgba[c] = v;
        }
        if (channels <= 2) rgba[1] = rgba[2] = rgba[0];
      }
      for (std::size_t c = 0; c < 4; ++c) px[c * plane + static_cast<std::size_t>(y * h.width + x)] = rgba[c];
    }
  }
  return img;
}

tensor decode_png(std::string_view png, std::int64_t max_pixels) {
  return decode_png_rgba(png, max_pixels).narrow_raw(0, 0, 3).clone_raw();
}

}  // namespace lmlab::vlm
