// layers: nn data
// GGUF bytes -> gguf_file::parse, then every metadata value and tensor read back as f32
// (quantised types dequantised) and, when the metadata names one, the tokenizer built from it.
// ASan checks that every read stays inside the file's bytes.
#include "common.hpp"
#include "data/gguf_tokenizer.hpp"
#include "nn/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    const auto f = lmlab::nn::gguf_file::parse({data, size}, "fuzz.gguf");
    double sum = 0;
    for (const auto& t : f.tensors()) {
      const auto x = f.tensor_f32(t.name);
      for (double v : x.to_vector()) sum += v;
    }
    if (f.find("tokenizer.ggml.model")) {
      const auto tok = lmlab::data::tokenizer_from_gguf(f);
      sum += static_cast<double>(tok->encode("Hello world, 123 한국어").size());
    }
    (void)sum;
  });
}
