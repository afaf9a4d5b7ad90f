// JPEG decoding through libjpeg-turbo: see jpeg.hpp.
#include "vlm/jpeg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "vlm/image_io.hpp"

namespace lmlab::vlm {

namespace {

// libjpeg reports errors through error_exit, which must not return: we longjmp back to the
// decoder's setjmp point and throw from there (never across libjpeg's C frames).
struct jpeg_errors {
  jpeg_error_mgr mgr;
  std::jmp_buf back;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<jpeg_errors*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->back, 1);
}

// Warnings (level -1: corrupt data libjpeg would skip or fill in) are errors here.
void on_message(j_common_ptr c, int level) {
  if (level < 0) on_error(c);
}

struct decode_state {
  jpeg_decompress_struct cinfo;
  jpeg_errors err;
};

// Runs the libjpeg calls; returns false (message in s.err.message) on any libjpeg error.
// Only trivially destructible objects live in this frame, so the longjmp skips no destructor.
bool run_decode(decode_state& s, std::string_view jpeg, std::int64_t max_pixels, bool header_only, float* out, std::int64_t* wh, int* comps,
                bool* too_large) {
  s.cinfo.err = jpeg_std_error(&s.err.mgr);
  s.err.mgr.error_exit = on_error;
  s.err.mgr.emit_message = on_message;
  s.err.message[0] = '\0';
  if (setjmp(s.err.back)) return false;
  jpeg_create_decompress(&s.cinfo);
  jpeg_mem_src(&s.cinfo, reinterpret_cast<const unsigned char*>(jpeg.data()), static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&s.cinfo, TRUE);
  wh[0] = s.cinfo.image_width;
  wh[1] = s.cinfo.image_height;
  *comps = s.cinfo.num_components;
  if (header_only || wh[0] * wh[1] > max_pixels || (*comps != 1 && *comps != 3)) {
    *too_large = wh[0] * wh[1] > max_pixels;
    return true;
  }
  if (out == nullptr) return true;  // the caller allocates once it knows the size
  s.cinfo.out_color_space = *comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&s.cinfo);
  const auto W = static_cast<std::size_t>(s.cinfo.output_width), H = static_cast<std::size_t>(s.cinfo.output_height);
  const auto C = static_cast<std::size_t>(s.cinfo.output_components);
  JSAMPARRAY row = (*s.cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&s.cinfo), JPOOL_IMAGE, static_cast<JDIMENSION>(W * C), 1);
  while (s.cinfo.output_scanline < s.cinfo.output_height) {
    const std::size_t y = s.cinfo.output_scanline;
    jpeg_read_scanlines(&s.cinfo, row, 1);
    for (std::size_t x = 0; x < W; ++x)
      for (std::size_t c = 0; c < 3; ++c) out[(c * H + y) * W + x] = static_cast<float>(row[0][x * C + (C == 3 ? c : 0)]) / 255.0f;
  }
  jpeg_finish_decompress(&s.cinfo);
  return true;
}

struct decoded {
  jpeg_header h;
  bool too_large = false;
};

decoded decode_into(std::string_view jpeg, std::int64_t max_pixels, bool header_only, tensor* img) {
  if (!looks_like_jpeg(jpeg)) throw image_error("jpeg: not a JPEG file (no FF D8 FF start-of-image marker)");
  decode_state s{};
  std::int64_t wh[2] = {0, 0};
  decoded d;
  float* out = img && img->defined() ? img->data<float>() : nullptr;
  const bool ok = run_decode(s, jpeg, max_pixels, header_only, out, wh, &d.h.components, &d.too_large);
  jpeg_destroy_decompress(&s.cinfo);
  if (!ok) throw image_error(fmt::format("jpeg: {}", s.err.message));
  d.h.width = wh[0];
  d.h.height = wh[1];
  return d;
}

bool run_encode(jpeg_compress_struct& c, jpeg_errors& err, const std::vector<unsigned char>& px, int W, int H, int comps, int quality,
                bool progressive, unsigned char** buf, unsigned long* size) {
  c.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_error;
  if (setjmp(err.back)) return false;
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, buf, size);
  c.image_width = static_cast<JDIMENSION>(W);
  c.image_height = static_cast<JDIMENSION>(H);
  c.input_components = comps;
  c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  for (int i = 0; i < c.num_components; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;  // 4:4:4
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<unsigned char*>(px.data()) + static_cast<std::size_t>(c.next_scanline) * static_cast<std::size_t>(W * comps);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  return true;
}

}  // namespace

std::string encode_jpeg(const tensor& image, int quality, bool progressive) {
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3))
    throw image_error(fmt::format("jpeg: expected a (1 or 3, H, W) image, got {}", shape_str(image.shape())));
  if (quality < 1 || quality > 100) throw image_error(fmt::format("jpeg: quality {} is not in 1-100", quality));
  const auto C = static_cast<int>(image.size(0)), H = static_cast<int>(image.size(1)), W = static_cast<int>(image.size(2));
  const std::vector<double> v = image.to_vector();
  std::vector<unsigned char> px(v.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c)
        px[static_cast<std::size_t>((y * W + x) * C + c)] =
            static_cast<unsigned char>(std::lround(255 * std::clamp(v[static_cast<std::size_t>((c * H + y) * W + x)], 0.0, 1.0)));
  jpeg_compress_struct cinfo{};
  jpeg_errors err{};
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const bool ok = run_encode(cinfo, err, px, W, H, C, quality, progressive, &buf, &size);
  jpeg_destroy_compress(&cinfo);
  std::string out = ok ? std::string(reinterpret_cast<char*>(buf), size) : std::string();
  std::free(buf);
  if (!ok) throw image_error(fmt::format("jpeg: encoding failed: {}", err.message));
  return out;
}

bool looks_like_jpeg(std::string_view b) { return b.size() >= 3 && b.substr(0, 3) == std::string_view("\xFF\xD8\xFF", 3); }

jpeg_header read_jpeg_header(std::string_view jpeg) { return decode_into(jpeg, 0, true, nullptr).h; }

tensor decode_jpeg(std::string_view jpeg, std::int64_t max_pixels) {
  const jpeg_header h = read_jpeg_header(jpeg);
  if (h.width * h.height > max_pixels)
    throw image_error(fmt::format("jpeg: {}x{} is {} pixels, more than the {} allowed", h.width, h.height, h.width * h.height, max_pixels));
  if (h.components != 1 && h.components != 3)
    throw image_error(fmt::format("jpeg: {} colour components (CMYK?) are not supported (grey or colour only)", h.components));
  tensor img = tensor::empty({3, h.height, h.width});
  decode_into(jpeg, max_pixels, false, &img);
  return img;
}

}  // namespace lmlab::vlm
