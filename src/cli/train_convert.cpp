// `lmlab convert`: a model from any path lmlab reads (lmlab checkpoint folder, GGUF file,
// Hugging Face folder) to an lmlab checkpoint folder or a GGUF file (F32/F16/BF16/Q8_0/Q4_0).
//   lmlab convert ../shared/models/stories260K.gguf runs/stories260K       (checkpoint)
//   lmlab convert runs/stories260K stories-q8.gguf --type q8_0              (GGUF)
// Named after the train layer (checkpoints) so LMLAB_LAYERS_ONLY builds keep it with it.
// Not for: the formats themselves (nn/gguf.hpp, models/import.hpp, train/import.hpp).
#include <cstdio>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "train/import.hpp"

namespace {
namespace tr = lmlab::train;

void add_convert(CLI::App& app) {
  auto* s = app.add_subcommand("convert", "Convert a model between GGUF, Hugging Face and lmlab checkpoint formats");
  struct opts {
    std::string in, out, type = "f32";
  };
  auto o = std::make_shared<opts>();
  s->add_option("input", o->in, "checkpoint folder, .gguf file or Hugging Face folder")->required();
  s->add_option("output", o->out, "a path ending in .gguf writes GGUF; anything else an lmlab checkpoint folder")->required();
  s->add_option("--type", o->type, "GGUF weight type of the matrices: f32, f16, bf16, q8_0, q4_0 (norms stay f32)")
      ->capture_default_str();
  s->footer("Examples:\n  lmlab convert ../shared/models/stories260K.gguf runs/stories260K\n"
            "  lmlab convert runs/stories260K stories-q8.gguf --type q8_0\n"
            "GGUF -> checkpoint -> GGUF at --type f32 reproduces a llama.cpp-written F32 file byte for byte.");
  s->callback([o] {
    const auto type = tr::parse_weight_type(o->type);
    auto ck = tr::load_model_any(o->in);
    if (o->out.size() >= 5 && o->out.substr(o->out.size() - 5) == ".gguf") {
      tr::gguf_of(ck, type).save(o->out);
    } else {
      if (o->type != "f32") throw lmlab::usage_error("--type applies to GGUF output only (checkpoints hold f32)");
      tr::save_as_checkpoint(ck, o->out);
    }
    std::printf("%s -> %s (%lld parameters)\n", o->in.c_str(), o->out.c_str(), static_cast<long long>(ck.model->num_parameters()));
  });
}

LMLAB_COMMAND("convert", 13, add_convert);

}  // namespace
