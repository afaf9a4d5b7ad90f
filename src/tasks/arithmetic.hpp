// Base-b integer arithmetic (addition, multiplication) for the notes' question "is 243₇ + 156₇
// reasoning or pattern matching?" (shared/seed/open-problems.ko.md §4). Numbers are written
// in base b with digits 0-9A-Z, most significant first; every prompt names its base in
// decimal ("base 7 :") so that an unseen base is still expressible. Splits:
//   test "id/d=K"        same digit lengths and bases as train; the item (op, base, a, b)
//                        belongs to a seeded hash partition held out of train (`holdout`),
//                        so no test item occurs in train
//   test "ood_len/d=K"   both operands have exactly K digits, K > max_digits
//   test "ood_base/b=B"  a base not in `bases`, train digit lengths
// Difficulty is the longer operand's digit count. With reverse_answer the answer tokens
// are least significant digit first (easier for a left-to-right model; the text form is not
// reversed).
//
// arithmetic_config{.bases = {7}, .min_digits = 3, .max_digits = 3}, the item 243₇ + 156₇
// (= 432₇, i.e. 129 + 90 = 219):
//   Inputs: <bos> base 7 : 2 4 3 + 1 5 6 = 4 3 2
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 4 3 2 <eos>
//
// Not for: word problems (word_problems.hpp) or floating-point arithmetic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct arithmetic_config {
  std::string op = "add";  // add | mul
  std::vector<std::int64_t> bases = {10};
  std::int64_t min_digits = 1;
  std::int64_t max_digits = 3;
  std::vector<std::int64_t> ood_digits;  // test digit lengths beyond max_digits
  std::vector<std::int64_t> ood_bases;   // test bases not trained on
  double holdout = 0.1;                  // share of the in-distribution item space kept for test
  bool reverse_answer = false;
  std::int64_t num_train = 1000;
  std::int64_t num_test = 200;  // per test slice group (id, each ood length, each ood base)
};

const param_table<arithmetic_config>& arithmetic_params();
void check(const arithmetic_config& c);
dataset build(const arithmetic_config& c, std::uint64_t seed);

// One item rendered with the vocabulary of a built arithmetic dataset `d`, operands given as
// base-`base` strings ("243", "156"); error names a bad digit. Slice "item".
example arithmetic_item(const dataset& d, const arithmetic_config& c, int base, std::string_view a,
                        std::string_view b);

// Little-endian digit vectors (the generator's arithmetic; unbounded length).
using digits = std::vector<std::uint8_t>;
digits add_digits(const digits& a, const digits& b, int base);
digits mul_digits(const digits& a, const digits& b, int base);
std::string digits_to_string(const digits& d);  // most significant first, "0" for zero

}  // namespace lmlab::tasks
