// Fashion-MNIST (Xiao et al. 2017) for the VLM lab: the IDX file format and the images and
// labels of Debian's `dataset-fashion-mnist` (source "fashion-mnist" of `lmlab data`, cached
// outside git and sha256-verified; shared/DESIGN.md "Data").
// IDX (ref: LeCun et al.'s MNIST page, "file formats"): two zero bytes, a type byte (0x08:
// unsigned byte, the only type these files use), a dimension count, each dimension as a
// big-endian u32, then the values in row-major order.
//   images: dims (n, 28, 28), 0 = background, 255 = ink;  labels: dims (n), values 0-9.
// Untrusted input: every size is checked against the bytes present; errors name the file and
// the byte offset.
// Not for: the model or training (real_clip.hpp), other IDX element types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::vlm {

struct idx_array {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> values;  // row-major, prod(dims) values
};
// Parses an unsigned-byte IDX array; `name` (a file name) leads every error message.
idx_array parse_idx(std::string_view bytes, const std::string& name);

// The ten class names, index = label: "t-shirt/top", "trouser", ..., "ankle boot".
const std::vector<std::string>& fashion_class_names();

struct labelled_images {
  tensor images;                     // f32 (n, 3, S, S) in [0, 1]: grey replicated to RGB, ink bright
  std::vector<std::int32_t> labels;  // n labels in [0, 10)
};
// Images and labels from two IDX arrays: the first `limit` items (all when limit <= 0);
// errors when the arrays disagree in count, hold a label past 9 or are not 28x28.
labelled_images fashion_from_idx(const idx_array& images, const idx_array& labels, std::int64_t limit);
// The cached package's split ("train": 60,000 items; "test": 10,000), first `limit` items. The
// error says how to fetch it when it is not cached.
labelled_images load_fashion_mnist(const std::string& split, std::int64_t limit);

}  // namespace lmlab::vlm
