// layers: probe
// Generated text and headers the probe reads: the answer letter (first byte: 2..26 choices),
// verbal confidence, abstention, exact-match normalisation, and a Retry-After value.
#include "common.hpp"
#include "probe/client.hpp"
#include "probe/scoring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    if (size == 0) return;
    const int n_choices = 2 + data[0] % 25;
    const std::string t = lmlab::fuzz::text(data + 1, size - 1);
    const int k = lmlab::probe::extract_letter(t, n_choices);
    if (k < -1 || k >= n_choices) std::abort();
    if (auto c = lmlab::probe::parse_verbal_confidence(t); c && !(*c >= 0 && *c <= 1)) std::abort();
    (void)lmlab::probe::is_abstention(t);
    (void)lmlab::probe::normalize_answer(t);
    (void)lmlab::probe::parse_retry_after(t, 0);
  });
}
