// SCAN (Lake & Baroni 2018, "Generalization without systematicity", ICML; grammar and
// interpretation in their Fig. 6 / appendix), generated from its grammar instead of read
// from files:
//   C -> S | S and S | S after S        S -> V | V twice | V thrice
//   V -> U | U D | U opposite D | U around D | turn D | turn opposite D | turn around D
//   U -> walk | look | run | jump       D -> left | right
// with [[x and y]] = [[x]] [[y]], [[x after y]] = [[y]] [[x]], twice/thrice repeat,
// [[u left]] = I_TURN_LEFT [[u]], [[u opposite left]] = I_TURN_LEFT I_TURN_LEFT [[u]],
// [[u around left]] = (I_TURN_LEFT [[u]]) x4, [[turn opposite left]] = I_TURN_LEFT x2,
// [[turn around left]] = I_TURN_LEFT x4 (and the same with right). That yields exactly the
// 20,910 distinct commands of the published tasks.txt. Splits (published sizes):
//   simple            random 80/20 by seed                              16,728 / 4,182
//   length            train: action sequences of <= 22 actions          16,990 / 3,920
//   addprim_jump      train: commands without "jump", plus "jump" alone
//                     repeated to 10% of train (1,467 copies)           14,670 / 7,706
//   addprim_turn_left same with "turn left" (2,189 copies)              21,890 / 1,208
//   all               every command in train and test                   20,910 / 20,910
// Slices: the length split by action count ("actions=24"); the others by structure
// ("single", "and", "after"); difficulty is always the action count.
//
// scan_config{.split = "length"}, seed 0, the command "jump twice after turn left":
//   Inputs: <bos> jump twice after turn left <sep> I_TURN_LEFT I_JUMP I_JUMP
//   Labels: -100 -100 -100 -100 -100 -100 I_TURN_LEFT I_JUMP I_JUMP <eos>
//
// Not for: the template/filler/few-shot splits of the SCAN repository (not yet needed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct scan_config {
  std::string split = "simple";  // simple | length | addprim_jump | addprim_turn_left | all
  double train_fraction = 0.8;   // simple split
  std::int64_t max_train_actions = 22;  // length split
  bool oversample_primitive = true;     // addprim: primitive alone is 10% of train, as published
};

struct scan_command {
  std::string command;               // "jump twice after turn left"
  std::vector<std::string> actions;  // I_TURN_LEFT I_JUMP I_JUMP
  std::string structure;             // single | and | after
};

// All 20,910 commands in grammar order (deterministic, seed-free).
const std::vector<scan_command>& scan_all_commands();

const param_table<scan_config>& scan_params();
dataset build(const scan_config& c, std::uint64_t seed);

}  // namespace lmlab::tasks
