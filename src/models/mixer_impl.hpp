// Factories of the individual mixers, for the registry in mixer.cpp only (each mixer's class
// stays private to its .cpp; everything outside reaches mixers through models/mixer.hpp).
// Not for: use outside src/models.
#pragma once

#include <cstdint>
#include <memory>

#include "models/mixer.hpp"

namespace lmlab::models {

std::unique_ptr<mixer> make_attention(const lm_config& c, std::int64_t layer);         // mixer.cpp
std::unique_ptr<mixer> make_mlp(const lm_config& c, std::int64_t layer);               // mixer.cpp
std::unique_ptr<mixer> make_swiglu(const lm_config& c, std::int64_t layer);            // mixer.cpp
std::unique_ptr<mixer> make_moe(const lm_config& c, std::int64_t layer);               // mixer.cpp
std::unique_ptr<mixer> make_mamba(const lm_config& c, std::int64_t layer);             // mixers_recurrent.cpp
std::unique_ptr<mixer> make_griffin(const lm_config& c, std::int64_t layer);           // mixers_recurrent.cpp
std::unique_ptr<mixer> make_rwkv_time_mix(const lm_config& c, std::int64_t layer);     // mixers_recurrent.cpp
std::unique_ptr<mixer> make_rwkv_channel_mix(const lm_config& c, std::int64_t layer);  // mixers_recurrent.cpp
std::unique_ptr<mixer> make_retention(const lm_config& c, std::int64_t layer);         // mixers_recurrent.cpp

}  // namespace lmlab::models
