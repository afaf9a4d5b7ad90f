// Image files and data URIs for the VLM lab's scenes: an RGB tensor (3, H, W) with values in
// [0, 1] (clamped) as 8-bit PPM or PNG, and PNG as a base64 data URI, the form OpenAI-style
// chat requests carry images in (`image_url` parts; probe/client.hpp).
// PNG: ref: the PNG specification (W3C / ISO 15948): signature, IHDR (8-bit truecolour, no
// interlace), one IDAT of zlib-compressed scanlines each led by filter byte 0, IEND; CRC-32 over
// each chunk's type and data. Base64: ref: RFC 4648 sec. 4 (with '=' padding).
// Decoding (what `lmlab serve` reads from requests): base64 (strict: the RFC 4648 alphabet with
// '=' padding, no whitespace), `data:image/png;base64,` URIs, and PNG of bit depth 8 in colour
// types 0 (grey), 2 (RGB), 4 (grey + alpha), 6 (RGBA), and 3 (palette, with PLTE and an optional
// tRNS) and grey at bit depths 1, 2, 4 too (Noto Color Emoji's bitmaps are palette PNGs), with
// the five scanline filters (ref: the PNG specification sec. 9.2, Paeth's predictor sec. 9.4);
// decode_png drops alpha; interlaced and 16-bit images are refused. Untrusted input: every length, CRC and the inflated size are
// checked, and the pixel count is bounded before anything is inflated.
// Not for: other pixel formats, resizing (the server's adapter).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace lmlab::vlm {

std::string encode_ppm(const tensor& image);   // binary P6
std::string encode_png(const tensor& image);
std::string base64(std::string_view bytes);
std::string png_data_uri(const tensor& image);  // "data:image/png;base64,..."

// Errors are image_error (an lmlab::error) with a message naming what is wrong.
class image_error : public error {
 public:
  using error::error;
};
// The bytes of base64 text; image_error at the first bad character (its offset) or bad length.
std::string base64_decode(std::string_view text);
// The decoded bytes of a "data:image/png;base64,..." URI; image_error for another scheme,
// media type or encoding.
std::string decode_data_uri(std::string_view uri);
// A PNG or JPEG data URI ("data:image/png;base64,...", "data:image/jpeg;base64,..."; image/jpg
// too): the media type ("png" or "jpeg") and the decoded bytes; image_error otherwise.
struct image_bytes {
  std::string format;  // "png" | "jpeg"
  std::string bytes;
};
image_bytes decode_image_data_uri(std::string_view uri);
// Width and height from the header alone (PNG IHDR; JPEG via libjpeg, jpeg.hpp).
std::pair<std::int64_t, std::int64_t> image_size(const image_bytes& img);
// The image as f32 (3, H, W) in [0, 1] (decode_png or decode_jpeg), refused over max_pixels.
tensor decode_image(const image_bytes& img, std::int64_t max_pixels);
struct png_header {
  std::int64_t width = 0, height = 0;
  int bit_depth = 0, colour_type = 0, interlace = 0;
};
// The signature and IHDR alone (what a server checks before inflating anything).
png_header read_png_header(std::string_view png);
// A PNG -> f32 (3, H, W) in [0, 1]. Refused (image_error) when width * height > max_pixels.
tensor decode_png(std::string_view png, std::int64_t max_pixels);
// The same with alpha: f32 (4, H, W), RGBA in [0, 1] (alpha 1 where the file has none).
tensor decode_png_rgba(std::string_view png, std::int64_t max_pixels);

}  // namespace lmlab::vlm
