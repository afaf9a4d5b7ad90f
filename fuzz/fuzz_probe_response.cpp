// layers: probe
// A served model's reply body as the probe client reads it: parse_json_reply (depth-checked),
// then, for each API shape, response_problem and parse_response. An lmlab::error is a clean
// rejection; a crash, a sanitizer report or another exception is a finding.
#include "common.hpp"
#include "probe/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    const auto j = lmlab::probe::parse_json_reply(lmlab::fuzz::text(data, size));
    if (j.is_discarded() || !j.is_object()) return;
    for (auto a : {lmlab::probe::api::chat, lmlab::probe::api::completions, lmlab::probe::api::llama})
      if (lmlab::probe::response_problem(a, j).empty()) (void)lmlab::probe::parse_response(a, j);
  });
}
