// Loading any model path and writing GGUF: see import.hpp.
#include "train/import.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "data/gguf_tokenizer.hpp"
#include "data/spm_bpe.hpp"
#include "models/import.hpp"

namespace lmlab::train {

namespace fs = std::filesystem;
using nn::gguf_value;

loaded_checkpoint load_model_any(const fs::path& path) {
  LMLAB_CHECK_HINT(fs::exists(path), "pass a checkpoint folder, a .gguf file or a Hugging Face model folder",
                   "{}: no such file or folder", path.string());
  if (fs::is_regular_file(path)) {
    LMLAB_CHECK_HINT(models::is_gguf_file(path), "lmlab reads GGUF files, lmlab checkpoint folders and Hugging Face folders",
                     "{}: not a GGUF file and not a folder", path.string());
    auto f = nn::gguf_file::load(path);
    loaded_checkpoint ck;
    ck.dir = path;
    ck.model = models::lm_from_gguf(f);
    ck.config = ck.model->config();
    ck.trainer_state = {{"source", path.string()}, {"gguf_metadata", nn::gguf_metadata_to_json(f.metadata())}};
    if (f.find("tokenizer.ggml.model")) ck.tokenizer = data::tokenizer_from_gguf(f)->to_json();
    return ck;
  }
  if (models::is_hf_folder(path)) {
    loaded_checkpoint ck;
    ck.dir = path;
    ck.model = models::lm_from_hf_folder(path);
    ck.config = ck.model->config();
    ck.trainer_state = {{"source", path.string()}};
    if (fs::is_regular_file(path / "tokenizer.json")) {
      const fs::path tp = path / "tokenizer.json";
      ck.tokenizer = data::tokenizer_from_hf_json(models::read_json_file(tp), tp.string())->to_json();
    }
    return ck;
  }
  return load_checkpoint(path);
}

void save_as_checkpoint(const loaded_checkpoint& ck, const fs::path& dir) {
  checkpoint_contents c;
  c.model = ck.model.get();
  c.trainer_state = ck.trainer_state;
  c.tokenizer = ck.tokenizer;
  save_checkpoint(dir, c);
}

nn::ggml_type parse_weight_type(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n == "f32") return nn::ggml_type::f32;
  if (n == "f16") return nn::ggml_type::f16;
  if (n == "bf16") return nn::ggml_type::bf16;
  if (n == "q8_0") return nn::ggml_type::q8_0;
  if (n == "q4_0") return nn::ggml_type::q4_0;
  throw usage_error(fmt::format("--type {}: expected f32, f16, bf16, q8_0 or q4_0", name));
}

nn::gguf_builder gguf_of(const loaded_checkpoint& ck, nn::ggml_type weight_type) {
  std::vector<std::pair<std::string, gguf_value>> base;
  if (ck.trainer_state.contains("gguf_metadata")) {
    base = nn::gguf_metadata_from_json(ck.trainer_state["gguf_metadata"], (ck.dir / "trainer_state.json").string());
  } else {
    base.emplace_back("general.architecture", gguf_value::str(ck.config.bias ? "qwen2" : "llama"));
    base.emplace_back("general.name", gguf_value::str(ck.dir.filename().string()));
    if (ck.tokenizer) {
      auto tok = data::tokenizer_from_json(*ck.tokenizer, (ck.dir / "tokenizer.json").string());
      const auto* spm = dynamic_cast<const data::spm_bpe*>(tok.get());
      LMLAB_CHECK_HINT(spm != nullptr, "GGUF export writes SentencePiece-BPE vocabularies (spm_bpe) only",
                       "{}: the checkpoint's {} tokenizer cannot be written to GGUF", ck.dir.string(), tok->kind());
      const auto& v = spm->vocab();
      base.emplace_back("tokenizer.ggml.model", gguf_value::str("llama"));
      base.emplace_back("tokenizer.ggml.tokens", gguf_value::str_array(v.tokens));
      base.emplace_back("tokenizer.ggml.scores", gguf_value::float_array({v.scores.begin(), v.scores.end()}));
      base.emplace_back("tokenizer.ggml.token_type", gguf_value::int_array(nn::gguf_type::i32, {v.types.begin(), v.types.end()}));
      base.emplace_back("tokenizer.ggml.bos_token_id", gguf_value::u32(static_cast<std::uint32_t>(v.bos_id)));
      base.emplace_back("tokenizer.ggml.eos_token_id", gguf_value::u32(static_cast<std::uint32_t>(v.eos_id)));
      base.emplace_back("tokenizer.ggml.unknown_token_id", gguf_value::u32(static_cast<std::uint32_t>(v.unk_id)));
    }
  }
  return models::gguf_from_lm(*ck.model, weight_type, base);
}

}  // namespace lmlab::train
