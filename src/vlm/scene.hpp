// Synthetic scenes for the VLM lab: a few coloured shapes on a small RGB canvas, with their
// ground truth (class, colour, size, grid cell), relations between them, a caption and
// question-answer pairs made from that ground truth, over a fixed word vocabulary.
// Object statistics are controlled, as POPE's sampling needs them (Li et al. 2023 sec. 4.1):
// class frequency follows a Zipf law (so some objects are "popular"), and classes come in
// partner pairs (2k, 2k+1) that co-occur with a set probability (so "co-occurring" objects
// exist for the adversarial setting).
//
// Example (canvas 16, grid 2, seed 1, scene 3), as `lmlab vlm scene --seed 1 --index 3` prints it:
//   objects:  yellow cross (large) at cell (0, 0); green triangle (small) at cell (1, 0)
//   caption:  yellow cross , green triangle .
//   QA:       is there a vbar ? -> no     what colour is the cross ? -> yellow
//             is the cross left of the triangle ? -> yes
// Not for: the model (model.hpp), POPE's negative sampling and metrics (pope.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace lmlab::vlm {

inline constexpr std::int64_t k_max_classes = 8;  // square circle triangle cross ring diamond hbar vbar
inline constexpr std::int64_t k_max_colours = 6;  // red green blue yellow magenta cyan

struct scene_config {
  std::int64_t canvas = 16;        // pixels per side
  std::int64_t grid = 2;           // cells per side; each object sits in its own cell
  std::int64_t n_classes = 8;      // shape classes used (<= 8)
  std::int64_t n_colours = 4;      // colours used (<= 6)
  std::int64_t min_objects = 1, max_objects = 3;
  double popularity = 1.0;         // Zipf exponent s: p(class c) ∝ (c + 1)^-s (0: uniform)
  double cooccur = 0.7;            // P(the next object is the absent partner of one present)
  double noise = 0.05;             // std of Gaussian pixel noise
  // Throws lmlab::error naming the key (`where`.key) for impossible values.
  void validate(const std::string& where = "scene") const;
};

struct object {
  std::int32_t cls = 0, colour = 0;
  bool large = false;
  std::int32_t cx = 0, cy = 0;  // grid cell (column, row)
};

struct scene {
  std::vector<object> objects;   // distinct classes, in drawing order
  tensor image;                  // f32 (3, canvas, canvas) in [0, 1] plus noise
  bool has(std::int32_t cls) const;
  const object* find(std::int32_t cls) const;
};

// Scene `index` of the stream `seed`: a pure function of (cfg, seed, index).
scene make_scene(const scene_config& cfg, std::uint64_t seed, std::uint64_t index);
// The class draw alone (no rendering): the same objects make_scene would place.
std::vector<object> draw_objects(const scene_config& cfg, rng& g);
// Renders `objects` into a (3, canvas, canvas) image with noise from `g`.
tensor render(const scene_config& cfg, const std::vector<object>& objects, rng& g);
// The partner class that co-occurs with `cls` (cls ^ 1, or -1 when it is past n_classes).
std::int32_t partner_of(std::int32_t cls, std::int64_t n_classes);

// ---- words -------------------------------------------------------------------------------
// One fixed word vocabulary (ids stable across configs): specials, function words, answers,
// class and colour names.
const std::vector<std::string>& vocabulary();
std::int32_t word_id(const std::string& w);  // error for an unknown word
std::vector<std::int32_t> encode_words(const std::string& text);  // space-separated words
std::string decode_words(const std::vector<std::int32_t>& ids);
const std::string& class_name(std::int32_t cls);
const std::string& colour_name(std::int32_t colour);
inline constexpr std::int32_t k_pad = 0;  // "<pad>"

// ---- captions and questions ---------------------------------------------------------------
// "red circle , blue square ." with objects in reading order (row, then column).
std::string caption(const scene& s);

enum class qa_kind { exist, colour, relation };
const char* qa_kind_name(qa_kind k);
struct qa {
  qa_kind kind;
  std::string question;  // "is there a circle ?"
  std::string answer;    // one word: "yes", "no", a colour
};
// Existence question about `cls` ("is there a <cls> ?"), answered from the ground truth.
qa exist_question(const scene& s, std::int32_t cls);
// One question of kind `k` about scene `s`, drawn with `g`. Existence: positive or a uniformly
// random absent class with equal odds. Colour: about a present object. Relation: "is the A
// left of the B ?" (or "above", drawn with equal odds) for two objects in different columns
// (rows), the other direction when no pair differs in the drawn one, and an existence question
// when the scene has a single object.
qa make_question(const scene& s, qa_kind k, const scene_config& cfg, rng& g);

}  // namespace lmlab::vlm
