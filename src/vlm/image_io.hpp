// Image files and data URIs for the VLM lab's scenes: an RGB tensor (3, H, W) with values in
// [0, 1] (clamped) as 8-bit PPM or PNG, and PNG as a base64 data URI, the form OpenAI-style
// chat requests carry images in (`image_url` parts; probe/client.hpp).
// PNG: ref: the PNG specification (W3C / ISO 15948): signature, IHDR (8-bit truecolour, no
// interlace), one IDAT of zlib-compressed scanlines each led by filter byte 0, IEND; CRC-32 over
// each chunk's type and data. Base64: ref: RFC 4648 sec. 4 (with '=' padding).
// Not for: decoding images (nothing reads them yet), other pixel formats.
#pragma once

#include <string>
#include <string_view>

#include "core/tensor.hpp"

namespace lmlab::vlm {

std::string encode_ppm(const tensor& image);   // binary P6
std::string encode_png(const tensor& image);
std::string base64(std::string_view bytes);
std::string png_data_uri(const tensor& image);  // "data:image/png;base64,..."

}  // namespace lmlab::vlm
