// Options that several verbs declare the same way, so that their name, help and default
// display stay one. Not for: a verb's own options (they stay beside its callback).
#pragma once

#include <CLI/CLI.hpp>

#include <initializer_list>
#include <string>

namespace lmlab::cli {

// A verb whose sub-verbs do the work (`lmlab data`, `lmlab plan` ...): one of them must be
// named; `footer` (often examples(...)) closes its --help.
inline CLI::App* add_verb_group(CLI::App& app, const char* name, const char* description, const std::string& footer = "") {
  CLI::App* g = app.add_subcommand(name, description);
  if (!footer.empty()) g->footer(footer);
  g->require_subcommand(1);
  return g;
}

// "Example:\n  CMD" or "Examples:\n  CMD1\n  CMD2 ...": the command lines of a --help footer.
inline std::string examples(std::initializer_list<const char*> commands) {
  std::string s = commands.size() == 1 ? "Example:" : "Examples:";
  for (const char* c : commands) s += std::string("\n  ") + c;
  return s;
}

// The positional CHECKPOINT of the verbs that load a model (train/import.hpp reads all three forms).
inline CLI::Option* add_checkpoint(CLI::App& s, std::string& ckpt,
                                   const char* help = "checkpoint folder, .gguf file or Hugging Face folder") {
  return s.add_option("checkpoint", ckpt, help)->required();
}

// -o,--output: the table format a verb prints (text, md, csv, json, jsonl), its current
// value shown as the default in --help.
inline CLI::Option* add_table_format(CLI::App& s, std::string& format, const char* help = "text|md|csv|json|jsonl") {
  return s.add_option("-o,--output", format, help)->capture_default_str();
}

}  // namespace lmlab::cli
