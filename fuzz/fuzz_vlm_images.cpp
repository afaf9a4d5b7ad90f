// layers: vlm
// The VLM lab's image readers on hostile bytes. The first byte picks the reader, the rest is its
// input: 0 PNG (decode_png_rgba), 1 JPEG (decode_jpeg, libjpeg-turbo), 2 IDX (parse_idx), 3 an
// OpenType colour bitmap font with a fixed emoji-test.txt (emoji_images), 4 emoji-test.txt
// (parse_emoji_test). Each must return or throw lmlab::error; ASan checks every read stays in
// the bytes.
#include <string_view>

#include "common.hpp"
#include "vlm/emoji.hpp"
#include "vlm/fashion_mnist.hpp"
#include "vlm/image_io.hpp"
#include "vlm/jpeg.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  return lmlab::fuzz::run([&] {
    switch (data[0] % 5) {
      case 0: (void)lmlab::vlm::decode_png_rgba(in, 1 << 16); break;
      case 1: (void)lmlab::vlm::decode_jpeg(in, 1 << 16); break;
      case 2: (void)lmlab::vlm::parse_idx(in, "fuzz.idx"); break;
      case 3:
        (void)lmlab::vlm::emoji_images(in, "1F600 ; fully-qualified # x E1.0 grinning face\n2764 FE0F ; fully-qualified # x E0.6 red heart\n", 4);
        break;
      default: (void)lmlab::vlm::parse_emoji_test(in); break;
    }
  });
}
