// Options that several verbs declare the same way, so that their name, help and default
// display stay one. Not for: a verb's own options (they stay beside its callback).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace lmlab::cli {

// -o,--output: the table format a verb prints (text, md, csv, json, jsonl), its current
// value shown as the default in --help.
inline CLI::Option* add_table_format(CLI::App& s, std::string& format, const char* help = "text|md|csv|json|jsonl") {
  return s.add_option("-o,--output", format, help)->capture_default_str();
}

}  // namespace lmlab::cli
