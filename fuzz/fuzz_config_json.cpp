// layers: models plan
// config.json text -> the lab's checkpoint config reader (lm_config_from_hf_json, then the model
// it describes is built under a 4 MiB tensor limit) and the planner's Hugging Face reader.
// Why 4 MiB: building is the same code at every size, but drawing the initial weights under
// the sanitizers cost ~80% of the time at 256 MiB (1.6k inputs/s); a larger model now meets the
// limit's error, which checks the same size arithmetic.
#include "common.hpp"
#include "models/lm.hpp"
#include "models/lm_config.hpp"
#include "plan/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = lmlab::fuzz::text(data, size);
  lmlab::fuzz::run([&] {
    const auto m = lmlab::plan::parse_hf_config(text, "config.json");
    (void)m.params_total();
  });
  return lmlab::fuzz::run([&] {
    const auto j = lmlab::fuzz::parse_json(text);
    const auto c = lmlab::models::lm_config_from_hf_json(j, "config.json");
    (void)lmlab::models::to_hf_json(c).dump();
    (void)lmlab::models::make_model(c, 1)->num_parameters();
  }, std::size_t{4} << 20);
}
