// The plain chat template: the probe client renders chat messages with it for completion
// endpoints, and `lmlab serve` uses it as its chat template, so both see one text for one
// conversation (docs/probe.md "lmlab serve"):
//   system: "<content>\n\n"   user: "User: <content>\n"   assistant: "Assistant: <content>\n"
// then "Assistant:" for the reply.
// Not for: model-specific templates (a GGUF's or tokenizer.json's own chat template).
#pragma once

#include <string>

namespace lmlab::data {

// Turns: a range of objects with `role` and `content` strings.
template <class Turns>
std::string render_plain_chat(const Turns& turns) {
  std::string out;
  for (const auto& t : turns) {
    if (t.role == "system") out += t.content + "\n\n";
    else if (t.role == "user") out += "User: " + t.content + "\n";
    else out += "Assistant: " + t.content + "\n";
  }
  out += "Assistant:";
  return out;
}

}  // namespace lmlab::data
