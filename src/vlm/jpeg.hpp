// JPEG input for the VLM lab's server and tools, decoded by Debian's libjpeg-turbo
// (libjpeg62-turbo-dev; the libjpeg 6b API: jpeg_mem_src, jpeg_read_header, read_scanlines).
// Baseline and progressive JPEG in greyscale or YCbCr/RGB (grey is replicated to three
// channels); CMYK and other component counts are refused. Untrusted input: the size is read
// from the header and checked against `max_pixels` before any pixel is decoded, and libjpeg's
// warnings (corrupt or truncated data it would paper over) are errors, like its fatal errors;
// each is an image_error that quotes libjpeg's message.
// Encoding (encode_jpeg) exists for tests and tools: 4:4:4 (no chroma subsampling), so a
// quality-100 image decodes back within a few levels.
// Not for: EXIF orientation, colour management.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/tensor.hpp"

namespace lmlab::vlm {

struct jpeg_header {
  std::int64_t width = 0, height = 0;
  int components = 0;
};
// The header alone (what a server checks before decoding pixels). image_error when `jpeg` is
// not a JPEG stream libjpeg reads.
jpeg_header read_jpeg_header(std::string_view jpeg);
// A JPEG -> f32 (3, H, W) in [0, 1]. Refused (image_error) when width * height > max_pixels.
tensor decode_jpeg(std::string_view jpeg, std::int64_t max_pixels);
// f32 (C, H, W) in [0, 1] (C = 1 grey or 3 RGB; clamped) -> JPEG bytes at `quality` (1-100).
std::string encode_jpeg(const tensor& image, int quality, bool progressive = false);
// True when `bytes` starts with the JPEG start-of-image marker FF D8 FF.
bool looks_like_jpeg(std::string_view bytes);

}  // namespace lmlab::vlm
