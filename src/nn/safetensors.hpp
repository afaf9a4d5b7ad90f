// safetensors files (Hugging Face's format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw
// little-endian data), read and written with errors that name the file and the tensor.
// Used for checkpoints (train/), golden fixtures (tests/golden) and weight loading, Hugging
// Face checkpoints included: F16 and BF16 tensors are read and widened to f32 (never written).
// Not for: GGUF, pickled PyTorch files, memory-mapping very large models (files are read
// whole; lmlab's models are small).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace lmlab::nn {

// "F32", "F64", "I32" <-> dtype.
const char* safetensors_dtype_name(dtype t);

class safetensors_file {
 public:
  // Reads and validates a file: a short or oversized header, a bad JSON header, an unknown
  // dtype, or data offsets that do not match the shape or run past the end are errors naming
  // the file (and the tensor).
  static safetensors_file load(const std::filesystem::path& path);
  // `where` names the source in errors.
  static safetensors_file parse(std::span<const std::uint8_t> bytes, const std::string& where);

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor `name`; a missing one is an error naming the file and the tensor.
  const tensor& get(const std::string& name) const;
  // As get(), and checks the shape and dtype (errors name the file, tensor, found and expected).
  const tensor& get(const std::string& name, const shape_t& shape, dtype type) const;
  std::vector<std::string> names() const;  // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& where() const { return where_; }

 private:
  std::string where_;
  std::map<std::string, tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The bytes of a safetensors file holding `tensors` (any layout; written row-major).
std::vector<std::uint8_t> encode_safetensors(const named_tensors& tensors,
                                             const std::map<std::string, std::string>& metadata = {});
// Writes atomically (temp file + rename).
void save_safetensors(const std::filesystem::path& path, const named_tensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Copies `prefix + name` from the file into each named parameter of `m` (shape and dtype must
// match). strict: a tensor in the file under `prefix` that the module lacks is an error too.
void load_parameters(const module& m, const safetensors_file& f, const std::string& prefix = "", bool strict = true);

}  // namespace lmlab::nn
