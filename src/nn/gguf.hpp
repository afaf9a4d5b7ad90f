// GGUF files (llama.cpp's model container, versions 2 and 3, little-endian): a header
// (magic "GGUF", version, tensor count, metadata count), typed key/value metadata (every
// scalar type, strings, and arrays of them), tensor infos (name, dims ne0.., ggml type,
// offset), padding to `general.alignment` (default 32), then the tensor data, which is
// memory-mapped. Every read is bounded by the file size and every size is computed with
// overflow checks, so a truncated or corrupt file is an error naming the file, the field and
// its byte offset, never a read past the end. The writer (gguf_builder) lays files out the
// way llama.cpp does (data in tensor order, zero padding), so read -> write reproduces a
// llama.cpp-written file byte for byte.
// Shapes: ggml lists dims fastest first (ne0 = the input/row axis); lmlab is row-major, so a
// GGUF tensor [ne0, ne1] is the lmlab tensor (ne1, ne0). tensor_f32() reverses the dims.
// Not for: big-endian GGUF, version 1, nested arrays (errors say so), model name mapping
// (models/import.hpp), tokenizers (data/gguf_tokenizer.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::nn {

// GGUF metadata value types (the spec's gguf_metadata_value_type).
enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12
};
const char* gguf_type_name(gguf_type t);

// One metadata value. Scalars: integers in `i` (u64 values above INT64_MAX keep their bits),
// floats in `f`, booleans in `i` (0/1), strings in `s`. Arrays: `elem` is the element type and
// the elements are in `ints` (integer and bool types), `floats` (f32/f64) or `strs`.
struct gguf_value {
  gguf_type type = gguf_type::u32;
  gguf_type elem = gguf_type::u32;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strs;

  static gguf_value u32(std::uint32_t v) { gguf_value x; x.type = gguf_type::u32; x.i = v; return x; }
  static gguf_value f32(float v) { gguf_value x; x.type = gguf_type::f32; x.f = v; return x; }
  static gguf_value str(std::string v) { gguf_value x; x.type = gguf_type::string; x.s = std::move(v); return x; }
  static gguf_value str_array(std::vector<std::string> v);
  static gguf_value int_array(gguf_type elem, std::vector<std::int64_t> v);
  static gguf_value float_array(std::vector<double> v);  // f32 elements
  std::size_t array_size() const;
};

// ggml tensor types lmlab knows the block layout of (ids from ggml.h).
enum class ggml_type : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30
};
// Name ("F32", "Q8_0", ...), or nullptr for an id lmlab does not know.
const char* ggml_type_name(std::uint32_t id);
// Elements per block and bytes per block (1 and the element size for plain types).
std::int64_t ggml_block_size(ggml_type t);
std::int64_t ggml_type_size(ggml_type t);
// Whether tensor_f32() can dequantise this type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K).
bool ggml_type_loadable(ggml_type t);

struct gguf_tensor_info {
  std::string name;
  std::vector<std::int64_t> ne;  // ggml order: ne[0] is the fastest axis
  ggml_type type = ggml_type::f32;
  std::uint64_t offset = 0;      // from the start of the data section
  std::uint64_t nbytes = 0;
  std::int64_t numel() const;
  shape_t shape() const;         // row-major (reversed ne)
};

class gguf_file {
 public:
  // Memory-maps and parses `path` (the mapping lives as long as this object and its copies).
  static gguf_file load(const std::filesystem::path& path);
  // Parses bytes held by the caller (they must outlive the result); `where` names the source.
  static gguf_file parse(std::span<const std::uint8_t> bytes, const std::string& where);

  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const std::string& where() const { return where_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, gguf_value>>& metadata() const { return kv_; }
  const gguf_value* find(const std::string& key) const;
  // Typed getters: a missing key or another type is an error naming the file and the key.
  std::int64_t get_int(const std::string& key) const;  // any integer type
  std::int64_t get_int(const std::string& key, std::int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;  // f32/f64
  const std::string& get_string(const std::string& key) const;
  const gguf_value& get_array(const std::string& key, gguf_type elem) const;

  const std::vector<gguf_tensor_info>& tensors() const { return tensors_; }
  const gguf_tensor_info* find_tensor(const std::string& name) const;
  // The raw bytes of a tensor (inside the mapping).
  std::span<const std::uint8_t> tensor_bytes(const gguf_tensor_info& t) const;
  // The tensor as f32, row-major shape (reversed ne); quantised types are dequantised.
  // An unsupported type is an error naming the tensor and the type.
  tensor tensor_f32(const std::string& name) const;

 private:
  std::string where_;
  std::shared_ptr<void> hold_;  // keeps a mapping alive
  std::span<const std::uint8_t> bytes_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, gguf_value>> kv_;
  std::map<std::string, std::size_t> kv_index_;
  std::vector<gguf_tensor_info> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

// Builds a GGUF v3 file: metadata in the order added, tensors in the order added, each
// padded to `general.alignment` (or 32) with zero bytes.
class gguf_builder {
 public:
  void set(const std::string& key, gguf_value v);
  // `data` holds the tensor in `type`'s layout (ggml_type_size * ne0/block * ne1...).
  void add_tensor(const std::string& name, std::vector<std::int64_t> ne, ggml_type type,
                  std::vector<std::uint8_t> data);
  std::vector<std::uint8_t> encode() const;
  void save(const std::filesystem::path& path) const;  // atomically

 private:
  std::vector<std::pair<std::string, gguf_value>> kv_;
  struct entry {
    std::string name;
    std::vector<std::int64_t> ne;
    ggml_type type;
    std::vector<std::uint8_t> data;
  };
  std::vector<entry> tensors_;
};

// Metadata as JSON and back, exactly (types kept): [{"key", "type", "value"}, ...], arrays with
// "elem" and a JSON array value. For carrying a GGUF's metadata through an lmlab checkpoint.
nlohmann::json gguf_metadata_to_json(const std::vector<std::pair<std::string, gguf_value>>& kv);
std::vector<std::pair<std::string, gguf_value>> gguf_metadata_from_json(const nlohmann::json& j, const std::string& where);

// Encodes an f32 tensor (ne = reversed shape) as F32, F16, BF16, Q8_0 or Q4_0 bytes.
std::vector<std::uint8_t> ggml_encode(std::span<const float> x, ggml_type type);

}  // namespace lmlab::nn
