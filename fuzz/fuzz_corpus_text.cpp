// layers: data
// Corpus readers on arbitrary bytes; the first byte picks the reader (the rest is its input):
// 0 Brown word/TAG text, 1 R serialization (janeaustenr's lazy-load objects), 2 zlib/gzip with
// the expected length in the next two bytes, 3 OSIS markup (SWORD verses), 4 HTML (LibreOffice
// help pages), 5 corpus.jsonl (through a file in /dev/shm).
#include <unistd.h>

#include <cstdio>
#include <span>
#include <string>

#include "common.hpp"
#include "data/corpus.hpp"
#include "data/html_text.hpp"
#include "data/rdata.hpp"
#include "data/readers.hpp"
#include "data/sword.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t which = data[0] % 6;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const std::string text(rest.begin(), rest.end());
  return lmlab::fuzz::run([&] {
    switch (which) {
      case 0: (void)lmlab::data::brown_to_text(text); break;
      case 1: (void)lmlab::data::r_unserialize(rest, "fuzz.rdb"); break;
      case 2:
        if (rest.size() >= 2)
          (void)lmlab::data::inflate_bytes(rest.subspan(2), rest[0] | (rest[1] << 8), "fuzz.gz");
        break;
      case 3: (void)lmlab::data::osis_to_text(text); break;
      case 4: (void)lmlab::data::html_to_text(text); break;
      case 5: {
        static const std::string path = "/dev/shm/lmlab_fuzz_corpus_" + std::to_string(::getpid()) + ".jsonl";
        if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
          std::fwrite(text.data(), 1, text.size(), f);
          std::fclose(f);
        }
        for (const auto& d : lmlab::data::read_corpus_jsonl(path)) (void)d.text.size();
        break;
      }
    }
  });
}
