// Token files: a corpus tokenized once, stored as a flat array of ids and read back by mmap,
// so training on it costs no parsing and no copy. Written atomically (temp file + rename).
// Layout (little-endian), 64-byte header then the ids:
//   0  magic "LMLABTOK"          8 bytes
//   8  version (1)               u32
//  12  dtype: 2 = uint16, 4 = uint32 (bytes per id)   u32
//  16  count (number of ids)     u64
//  24  vocab_size                u32 (every id < vocab_size)
//  28  reserved (0)              u32
//  32  payload FNV-1a 64         u64 (over the id bytes)
//  40  reserved (0)              u64 x2
//  56  header FNV-1a 64          u64 (over bytes 0..55)
// The reader checks magic, version, dtype, header checksum, that the file length equals
// 64 + count * dtype, and (unless told not to) the payload checksum: a truncated or corrupt
// file is an error that names the file and what is wrong.
// Not for: document boundaries or metadata (prepare writes those to meta.json beside it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace lmlab::data {

enum class token_dtype : std::uint32_t { u16 = 2, u32 = 4 };

// The smallest dtype that holds ids < vocab_size.
token_dtype dtype_for_vocab(std::int64_t vocab_size);

// Writes `ids` (each in [0, vocab_size)) to `path` atomically.
void write_token_file(const std::filesystem::path& path, std::span<const std::int32_t> ids, std::int64_t vocab_size);

// FNV-1a 64 (the checksum the header uses).
std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull);

// A read-only memory-mapped token file. Movable, not copyable.
class token_file {
 public:
  explicit token_file(const std::filesystem::path& path, bool verify_payload = true);
  ~token_file();
  token_file(token_file&& o) noexcept;
  token_file& operator=(token_file&& o) noexcept;
  token_file(const token_file&) = delete;
  token_file& operator=(const token_file&) = delete;

  std::size_t size() const { return count_; }
  std::int64_t vocab_size() const { return vocab_size_; }
  token_dtype dtype() const { return dtype_; }
  const std::filesystem::path& path() const { return path_; }
  const void* data() const { return data_; }  // the ids, `dtype` bytes each
  std::int32_t operator[](std::size_t i) const {
    return dtype_ == token_dtype::u16 ? static_cast<std::int32_t>(reinterpret_cast<const std::uint16_t*>(data_)[i])
                                      : static_cast<std::int32_t>(reinterpret_cast<const std::uint32_t*>(data_)[i]);
  }
  // Copies ids [begin, begin + n) into out (as int32).
  void copy(std::size_t begin, std::size_t n, std::int32_t* out) const;
  std::vector<std::int32_t> to_vector() const;

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  const unsigned char* data_ = nullptr;
  std::size_t count_ = 0;
  std::int64_t vocab_size_ = 0;
  token_dtype dtype_ = token_dtype::u16;
};

}  // namespace lmlab::data
