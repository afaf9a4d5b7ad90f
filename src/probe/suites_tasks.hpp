// Answer extraction for the suites built from the lab's tasks (suites_tasks.cpp): the rules
// that turn a free-form reply into a number, a base-b number or a SCAN action sequence.
// Exposed so that tests and other suites use exactly the rule docs/probe.md describes.
// Not for: the suites themselves (registered in all_suites(), suite.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::probe {

// The last decimal number in `text`: digits with optional thousands separators (",ddd"
// groups) and an optional fraction (".d+"); a '-' directly before the digits (and after no
// letter or digit) makes it negative. Not numbers: digits glued to letters ("3rd", "x2"), a
// number right after the word "base" ("base 10", "base-7") or after a subscript mark
// ("_10", "_{10}"). nullopt when the text has none.
std::optional<double> last_number(std::string_view text);

// The last base-b number in `text` (2 <= b <= 36), upper-case, leading zeros removed: a whole
// word (maximal run of ASCII letters and digits) whose every character is a base-b digit
// (0-9 then A-Z, either case). For b > 10 the word must also contain a decimal digit or be
// all upper case, so English words made of hex letters ("a", "be", "add") do not count. A
// word right after "base" is skipped. Subscripts are separate words and never digits of
// their own base, so "432₇", "432_7" and "432 (base 7)" all give "432". For b == 10 the
// rule is last_number's (thousands separators understood; a fraction gives nullopt).
std::optional<std::string> last_base_number(std::string_view text, int base);

// SCAN actions in a reply: every word I_WALK, I_LOOK, I_RUN, I_JUMP, I_TURN_LEFT,
// I_TURN_RIGHT (any case), in order; other words are ignored. The answer starts after
// "Actions:" when no action precedes that label, and ends at the next "Command" (the model
// continuing the few-shot pattern) or at a blank line after the first action.
std::vector<std::string> scan_actions(std::string_view text);

}  // namespace lmlab::probe
