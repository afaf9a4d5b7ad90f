// layers: probe tasks
// Numbers read from generated text by the perturbation suite: last_number (thousands
// separators, decimals, signs) and last_base_number (the first byte picks the base 2..36).
#include "common.hpp"
#include "probe/suites_tasks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    if (size == 0) return;
    const std::string t = lmlab::fuzz::text(data + 1, size - 1);
    (void)lmlab::probe::last_number(t);
    (void)lmlab::probe::last_base_number(t, 2 + data[0] % 35);
  });
}
