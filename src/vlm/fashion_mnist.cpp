// Fashion-MNIST and IDX: see fashion_mnist.hpp.
#include "vlm/fashion_mnist.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/corpus.hpp"
#include "data/readers.hpp"

namespace lmlab::vlm {

idx_array parse_idx(std::string_view bytes, const std::string& name) {
  LMLAB_CHECK(bytes.size() >= 4, "{}: IDX: {} bytes, too short for the 4-byte magic number (offset 0)", name, bytes.size());
  const auto u8 = [&](std::size_t at) { return static_cast<std::uint8_t>(bytes[at]); };
  LMLAB_CHECK(u8(0) == 0 && u8(1) == 0, "{}: IDX: the magic number must start with two zero bytes (offset 0)", name);
  LMLAB_CHECK(u8(2) == 0x08, "{}: IDX: element type 0x{:02x} at offset 2 is not supported (0x08, unsigned byte)", name, u8(2));
  const std::size_t nd = u8(3);
  LMLAB_CHECK(nd >= 1 && nd <= 4, "{}: IDX: {} dimensions at offset 3 (1-4 expected)", name, nd);
  LMLAB_CHECK(bytes.size() >= 4 + 4 * nd, "{}: IDX: truncated at offset {} inside the {} dimension sizes", name, bytes.size(), nd);
  idx_array a;
  std::uint64_t count = 1;
  for (std::size_t d = 0; d < nd; ++d) {
    const std::size_t at = 4 + 4 * d;
    const std::uint64_t v =
        (std::uint64_t{u8(at)} << 24) | (std::uint64_t{u8(at + 1)} << 16) | (std::uint64_t{u8(at + 2)} << 8) | u8(at + 3);
    LMLAB_CHECK(v >= 1 && v <= (1u << 24), "{}: IDX: dimension {} is {} (offset {}; 1 to 2^24 expected)", name, d, v, at);
    a.dims.push_back(static_cast<std::int64_t>(v));
    count *= v;
  }
  const std::size_t head = 4 + 4 * nd;
  LMLAB_CHECK(count <= (std::uint64_t{1} << 32), "{}: IDX: {} values are too many", name, count);
  LMLAB_CHECK(bytes.size() - head == count, "{}: IDX: the dimensions need {} data bytes from offset {}, the file has {}", name, count, head,
              bytes.size() - head);
  a.values.assign(reinterpret_cast<const std::uint8_t*>(bytes.data()) + head,
                  reinterpret_cast<const std::uint8_t*>(bytes.data()) + bytes.size());
  return a;
}

const std::vector<std::string>& fashion_class_names() {
  // ref: Xiao et al. 2017, Table 1 (labels 0-9).
  static const std::vector<std::string> n = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                             "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  return n;
}

labelled_images fashion_from_idx(const idx_array& images, const idx_array& labels, std::int64_t limit) {
  LMLAB_CHECK(images.dims.size() == 3 && images.dims[1] == 28 && images.dims[2] == 28,
              "fashion-mnist: images are not (n, 28, 28) (got {} dimensions)", images.dims.size());
  LMLAB_CHECK(labels.dims.size() == 1 && labels.dims[0] == images.dims[0], "fashion-mnist: {} labels for {} images",
              labels.dims.empty() ? 0 : labels.dims[0], images.dims[0]);
  const std::int64_t n = limit > 0 ? std::min(limit, images.dims[0]) : images.dims[0];
  labelled_images out;
  out.images = tensor::empty({n, 3, 28, 28});
  float* px = out.images.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t y = labels.values[static_cast<std::size_t>(i)];
    LMLAB_CHECK(y < 10, "fashion-mnist: label {} of item {} is past 9", static_cast<int>(y), i);
    out.labels.push_back(y);
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t k = 0; k < 28 * 28; ++k)
        px[(i * 3 + c) * 784 + k] = static_cast<float>(images.values[static_cast<std::size_t>(i * 784 + k)]) / 255.0f;
  }
  return out;
}

labelled_images load_fashion_mnist(const std::string& split, std::int64_t limit) {
  LMLAB_CHECK(split == "train" || split == "test", "fashion-mnist: split \"{}\" (train or test)", split);
  const std::string stem = split == "train" ? "train" : "t10k";
  const auto read = [&](const std::string& file) {
    const auto path = data::source_file("fashion-mnist", file);
    return parse_idx(data::gunzip_file(path), path.string());
  };
  return fashion_from_idx(read(stem + "-images-idx3-ubyte.gz"), read(stem + "-labels-idx1-ubyte.gz"), limit);
}

}  // namespace lmlab::vlm
