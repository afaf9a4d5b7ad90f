// `prepare`: a corpus becomes a tokenizer plus train/validation token files that training
// memory-maps. Output folder:
//   tokenizer.json   the tokenizer (tokenizer::save)
//   train.bin        token file (token_file.hpp)
//   val.bin          token file
//   meta.json        corpus, tokenizer, split rule, document/character/token counts
// Split rule (deterministic): document i (in the corpus's order) is validation iff
// i % val_every == val_every - 1, so every 10th document by default and every Brown genre on
// both sides. A corpus with fewer than val_every documents is split by its token stream
// instead: the last floor(n / val_every) ids are validation.
// Documents are encoded one by one, each followed by the tokenizer's <|endoftext|> id when it
// has one, else by the encoding of "\n\n".
// Tokenizers: "char" (vocabulary from all documents, so validation never meets an unknown
// character), "gpt2" (GPT-2's vocabulary, fetched), "bpe:N" (byte-level BPE with vocab N
// trained on the training documents only), or a path to a tokenizer.json.
// Not for: batching (batch.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/readers.hpp"
#include "data/tokenizer.hpp"

namespace lmlab::data {

struct prepare_options {
  std::string tokenizer = "char";
  std::int64_t val_every = 10;
};

struct prepare_result {
  std::int64_t documents = 0, train_documents = 0, val_documents = 0;
  std::int64_t chars = 0, bytes = 0;
  std::int64_t train_tokens = 0, val_tokens = 0;
  std::int64_t vocab_size = 0;
  double encode_seconds = 0;
};

// The tokenizer a spec names (see header comment); `train_docs` feed char/bpe training.
std::unique_ptr<tokenizer> make_tokenizer(const std::string& spec, const std::vector<document>& all_docs,
                                          const std::vector<document>& train_docs);
// Loads GPT-2's tokenizer from the cache (run `lmlab data fetch gpt2` first).
std::unique_ptr<tokenizer> gpt2_tokenizer();

bool is_validation_document(std::int64_t index, std::int64_t val_every);

prepare_result prepare(const std::vector<document>& docs, const std::string& corpus_name, const prepare_options& opt,
                       const std::filesystem::path& out_dir, const std::function<void(const std::string&)>& log = {});

}  // namespace lmlab::data
