// An enum's names as data: one table of {value, "name"} rows serves both directions (the name
// of a value for messages and files, the value of a name read from a config), instead of a
// switch and an if-chain written beside each other for every enum.
// Not for: enums whose names are computed, or names with aliases (write those out).
#pragma once

#include <optional>
#include <string_view>

namespace lmlab {

template <class E>
struct enum_name {
  E value;
  const char* name;
};

// The name of `e` in `table`, "?" for a value the table lacks.
template <class E, std::size_t N>
const char* name_of(const enum_name<E> (&table)[N], E e) {
  for (const auto& row : table)
    if (row.value == e) return row.name;
  return "?";
}

// The value named `s` in `table`; nullopt for an unknown name (the caller's error names it).
template <class E, std::size_t N>
std::optional<E> value_named(const enum_name<E> (&table)[N], std::string_view s) {
  for (const auto& row : table)
    if (s == row.name) return row.value;
  return std::nullopt;
}

}  // namespace lmlab
