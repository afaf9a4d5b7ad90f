// layers: probe
// A streamed (SSE) reply as the probe client reads it: assemble_stream for chat and for
// completions, then parse_response on what it reassembled.
#include "common.hpp"
#include "probe/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    const std::string sse = lmlab::fuzz::text(data, size);
    for (auto a : {lmlab::probe::api::chat, lmlab::probe::api::completions})
      if (auto j = lmlab::probe::assemble_stream(a, sse)) (void)lmlab::probe::parse_response(a, *j);
  });
}
