// The lab's shorthand for a whole-model architecture (`arch = "mamba"` in a spec) as the
// layer pattern of models/lm_config.hpp. Header-only so that readers of stored configs (the
// report) can classify runs without linking the models.
// Not for: building models (lm.hpp).
#pragma once

#include <string>
#include <string_view>

namespace lmlab::models {

// "gpt" -> "A", "mamba" -> "M", "rwkv" -> "W", "retnet" -> "T", "griffin" -> "RRA",
// "hawk" -> "R" (and a few synonyms); "" for a name it does not know.
inline std::string pattern_for_arch(std::string_view a) {
  if (a == "gpt" || a == "attention" || a == "transformer") return "A";
  if (a == "mamba") return "M";
  if (a == "rwkv") return "W";
  if (a == "retnet" || a == "retention") return "T";
  if (a == "griffin") return "RRA";
  if (a == "hawk" || a == "rg_lru") return "R";
  return "";
}

}  // namespace lmlab::models
