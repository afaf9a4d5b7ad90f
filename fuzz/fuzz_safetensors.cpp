// layers: nn
// safetensors bytes -> safetensors_file::parse, then every tensor read back (ASan checks that
// each read stays inside the file's bytes).
#include "common.hpp"
#include "nn/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    const auto f = lmlab::nn::safetensors_file::parse({data, size}, "fuzz.safetensors");
    double sum = 0;
    for (const auto& name : f.names())
      for (double v : f.get(name).to_vector()) sum += v;
    (void)sum;
  });
}
