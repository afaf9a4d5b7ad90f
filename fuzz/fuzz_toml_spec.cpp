// layers: lab train
// TOML text -> an experiment spec (parse_spec: grid expansion under the run cap, size overrides)
// and a training config (parse_train_config).
#include "common.hpp"
#include "lab/spec.hpp"
#include "train/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = lmlab::fuzz::text(data, size);
  lmlab::fuzz::run([&] {
    const auto spec = lmlab::lab::parse_spec(text, "spec.toml");
    (void)spec.runs.size();
  });
  lmlab::fuzz::run([&] { (void)lmlab::lab::size_overrides(text, "spec.toml", "quick"); });
  return lmlab::fuzz::run([&] { (void)lmlab::train::parse_train_config(text, "train.toml"); });
}
