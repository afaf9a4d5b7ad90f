// layers: data
// Token-file bytes -> token_file (mmap), with and without the payload check, and every id read.
// The bytes go through a file in /dev/shm (the reader takes a path).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "common.hpp"
#include "data/token_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/dev/shm/lmlab_fuzz_tokens_" + std::to_string(::getpid()) + ".bin";
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  for (bool verify : {true, false})
    lmlab::fuzz::run([&] {
      const lmlab::data::token_file t(path, verify);
      std::int64_t sum = 0;
      for (std::int32_t id : t.to_vector()) sum += id;
      (void)sum;
    });
  return 0;
}
